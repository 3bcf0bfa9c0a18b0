// Agents, tasks, task logs (JSON and Server-Sent Events), plans and the
// telemetry log query.
#include <condition_variable>
#include <deque>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http/api.h"
#include "kos/id.h"
#include "kos/status.h"

namespace kos::server {

namespace {

Json TaskJson(const TaskInfo& t) {
  Json j = {{"id", t.id},
            {"plan_id", t.plan_id},
            {"agent", t.agent},
            {"issuer", t.issuer},
            {"state", TaskStateName(t.state)},
            {"attempt", t.attempt},
            {"priority", t.priority},
            {"input", t.input},
            {"output", t.output},
            {"depends_on", t.depends_on},
            {"review", t.review},
            {"created", TimeString(t.created)},
            {"updated", TimeString(t.updated)},
            {"started", TimeString(t.started)},
            {"finished", TimeString(t.finished)},
            {"traceparent",
             t.trace_id.empty() ? "" : absl::StrCat("00-", t.trace_id, "-", t.span_id, "-01")}};
  if (!t.error.empty()) {
    j["error"] = t.error;
    j["error_code"] = t.error_code;
  }
  if (!t.reviewer.empty()) j["reviewer"] = t.reviewer;
  return j;
}

Json LogJson(const TaskLogLine& l) {
  return {{"task_id", l.task_id},           {"seq", l.seq},         {"time", TimeString(l.time)},
          {"level", LogLevelName(l.level)}, {"message", l.message}, {"fields", l.fields}};
}

Json AgentJson(const AgentProfile& p) {
  return {{"name", p.name},       {"profile", p.profile},         {"type", p.type},
          {"version", p.version}, {"description", p.description}, {"handler", p.handler},
          {"enabled", p.enabled}, {"permissions", p.permissions}};
}

const Json& TaskSchema() {
  static const Json* s = new Json(
      Schema("id:string, plan_id:string, agent:string, state:string, attempt:integer, "
             "input:any, output:any, depends_on:[string], created:string, traceparent:string"));
  return *s;
}

// The task spec fields a caller may set when the kernel signs for it.
absl::StatusOr<Json> TaskPayload(const Json& body) {
  Json payload = Json::object();
  payload["input"] =
      body.contains("input") && !body["input"].is_null() ? body["input"] : Json::object();
  if (!payload["input"].is_object()) return absl::InvalidArgumentError("'input' must be an object");
  for (const char* key :
       {"priority", "timeout_ms", "retry", "idempotency_key", "review", "requires"}) {
    if (body.contains(key) && !body[key].is_null()) payload[key] = body[key];
  }
  return payload;
}

// Log lines of one task for an SSE stream: filled by the orchestrator's
// subscription (on its writer thread), drained by the response writer.
struct LogQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<TaskLogLine> lines;
};

std::string SseEvent(const char* event, const Json& data, uint64_t id = 0) {
  std::string out;
  if (id > 0) absl::StrAppend(&out, "id: ", id, "\n");
  absl::StrAppend(&out, "event: ", event, "\ndata: ", DumpJson(data), "\n\n");
  return out;
}

}  // namespace

void AddTaskRoutes(Api* api, std::vector<Route>* routes) {
  Kernel* k = api->kernel;
  Route r;
  auto task_owner = [api](Call& call) { return api->OwnerOf("task", call.Param("id")); };

  r.tag = "agents";
  r.method = "GET";
  r.path = "/api/v1/agents";
  r.summary = "The configured agents";
  r.access = "any authenticated caller";
  r.response_schema = Schema("agents:[object]");
  r.handler = [k](Call& call) {
    Json list = Json::array();
    for (const AgentProfile& p : k->agents()) list.push_back(AgentJson(p));
    call.Reply({{"agents", list}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/agents/{name}";
  r.summary = "One agent's profile";
  r.response_schema = Schema("name:string, handler:string, enabled:boolean, permissions:[string]");
  r.handler = [k](Call& call) -> absl::Status {
    for (const AgentProfile& p : k->agents()) {
      if (p.name == call.Param("name")) {
        call.Reply(AgentJson(p));
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError(absl::StrCat("no agent '", call.Param("name"), "'"));
  };
  routes->push_back(r);
  r.access.clear();

  r.method = "POST";
  r.path = "/api/v1/agents/{name}/execute";
  r.resource = "agents:{name}";
  r.action = "execute";
  r.success_status = 202;
  r.summary =
      "Run an agent: the kernel signs the task for the caller (service:kernel) and "
      "submits it; returns the task id";
  r.request_schema = Schema(
      "input?:object, priority?:integer, timeout_ms?:integer, retry?:object, "
      "idempotency_key?:string, review?:boolean, requires?:[string]");
  r.response_schema = Schema("task_id:string, agent:string, state:string");
  r.handler = [api, k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(Json payload, TaskPayload(call.body));
    TaskRequest tr;
    tr.audience = call.Param("name");
    tr.payload = std::move(payload);
    KOS_ASSIGN_OR_RETURN(SignedEnvelope env, k->task_signer()->Sign(tr));
    KOS_ASSIGN_OR_RETURN(std::string id, k->orchestrator()->Submit(env.text));
    KOS_RETURN_IF_ERROR(api->RecordOwner("task", id, call.Subject()));
    call.res.set_header("Location", absl::StrCat("/api/v1/tasks/", id));
    call.Reply({{"task_id", id}, {"agent", tr.audience}, {"state", "queued"}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.tag = "tasks";
  r.path = "/api/v1/tasks";
  r.resource = "tasks:envelopes";
  r.action = "submit";
  r.summary =
      "Submit a task envelope signed by its issuer (docs/signed-tasks.md); the "
      "orchestrator verifies signature, audience, expiry, replay and the issuer's "
      "permission";
  r.request_schema = Schema(
      "v:integer, iss:string, aud:string, kid:string, tid:string, "
      "nonce:string, iat:integer, exp:integer, payload:object, sig:string");
  r.handler = [api, k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(std::string id, k->orchestrator()->Submit(call.req.body));
    KOS_RETURN_IF_ERROR(api->RecordOwner("task", id, call.Subject()));
    call.Reply({{"task_id", id}, {"agent", call.body["aud"]}, {"state", "queued"}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.success_status = 200;

  r.method = "GET";
  r.resource.clear();
  r.access = "tasks:all read lists every task; otherwise only the caller's own";
  r.summary = "List tasks; filters ?agent=&plan_id=&state=&limit=";
  r.request_schema = nullptr;
  r.response_schema = Schema("tasks:[object]");
  r.handler = [api, k](Call& call) -> absl::Status {
    TaskFilter f;
    f.agent = call.Query("agent");
    f.plan_id = call.Query("plan_id");
    if (call.req.has_param("state")) {
      KOS_ASSIGN_OR_RETURN(f.state, ParseTaskState(call.Query("state")));
    }
    KOS_ASSIGN_OR_RETURN(int64_t limit, call.QueryInt("limit", 100, 1, 1000));
    bool all = api->Authorize(call, "tasks:all", "read").ok();
    f.limit = all ? limit : 1000;
    KOS_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, k->orchestrator()->List(f));
    Json list = Json::array();
    for (const TaskInfo& t : tasks) {
      if (static_cast<int64_t>(list.size()) >= limit) break;
      if (all || api->OwnerOf("task", t.id) == call.Subject()) list.push_back(TaskJson(t));
    }
    call.Reply({{"tasks", list}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.access.clear();

  r.path = "/api/v1/tasks/{id}";
  r.resource = "tasks:{id}";
  r.action = "read";
  r.owner = task_owner;
  r.summary = "One task: state, output, error, trace";
  r.response_schema = TaskSchema();
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(TaskInfo t, k->orchestrator()->Get(call.Param("id")));
    call.Reply(TaskJson(t));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "POST";
  r.path = "/api/v1/tasks/{id}/cancel";
  r.action = "cancel";
  r.summary = "Cancel a task and its dependants";
  r.response_schema = TaskSchema();
  r.handler = [k](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(k->orchestrator()->Cancel(call.Param("id")));
    KOS_ASSIGN_OR_RETURN(TaskInfo t, k->orchestrator()->Get(call.Param("id")));
    call.Reply(TaskJson(t));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/tasks/{id}/approve";
  r.action = "review";
  r.summary = "Approve a task awaiting review";
  r.request_schema = nullptr;
  r.handler = [k](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(k->orchestrator()->Approve(call.Param("id"), call.Subject()));
    KOS_ASSIGN_OR_RETURN(TaskInfo t, k->orchestrator()->Get(call.Param("id")));
    call.Reply(TaskJson(t));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/tasks/{id}/reject";
  r.summary = "Reject a task awaiting review (body: optional reason)";
  r.request_schema = Schema("reason?:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(std::string reason, BodyString(call, "reason", false));
    KOS_RETURN_IF_ERROR(k->orchestrator()->Reject(call.Param("id"), call.Subject(), reason));
    KOS_ASSIGN_OR_RETURN(TaskInfo t, k->orchestrator()->Get(call.Param("id")));
    call.Reply(TaskJson(t));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.tag = "logs";
  r.method = "GET";
  r.path = "/api/v1/tasks/{id}/logs";
  r.action = "read";
  r.request_schema = nullptr;
  r.summary =
      "A task's log lines (?after=seq&limit=); with Accept: text/event-stream a "
      "Server-Sent Events stream (events 'log' and a final 'end') that ends when the "
      "task finishes";
  r.response_schema = Schema("task_id:string, lines:[object]");
  r.handler = [api, k](Call& call) -> absl::Status {
    const std::string id = call.Param("id");
    KOS_ASSIGN_OR_RETURN(TaskInfo info, k->orchestrator()->Get(id));
    KOS_ASSIGN_OR_RETURN(int64_t after, call.QueryInt("after", 0, 0, INT64_MAX));
    if (!absl::StrContains(call.req.get_header_value("Accept"), "text/event-stream")) {
      KOS_ASSIGN_OR_RETURN(int64_t limit, call.QueryInt("limit", 1000, 1, 10000));
      KOS_ASSIGN_OR_RETURN(std::vector<TaskLogLine> lines,
                           k->orchestrator()->Logs(id, after, limit));
      Json list = Json::array();
      for (const auto& l : lines) list.push_back(LogJson(l));
      call.Reply({{"task_id", id}, {"state", TaskStateName(info.state)}, {"lines", list}});
      return absl::OkStatus();
    }
    // Subscribe before reading what is stored, so no line falls between
    // the two; lines seen twice are skipped by sequence number.
    auto queue = std::make_shared<LogQueue>();
    uint64_t sub = k->orchestrator()->Subscribe(id, [queue](const TaskLogLine& l) {
      std::lock_guard<std::mutex> lock(queue->mu);
      queue->lines.push_back(l);
      queue->cv.notify_all();
    });
    auto last = std::make_shared<uint64_t>(static_cast<uint64_t>(after));
    call.res.status = 200;
    call.res.set_header("Cache-Control", "no-cache");
    call.res.set_header("X-Accel-Buffering", "no");
    call.res.set_chunked_content_provider(
        "text/event-stream",
        [api, k, id, queue, last](size_t, httplib::DataSink& sink) -> bool {
          auto send = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
          auto send_lines = [&](const std::vector<TaskLogLine>& lines) {
            for (const auto& l : lines) {
              if (l.seq <= *last) continue;
              *last = l.seq;
              if (!send(SseEvent("log", LogJson(l), l.seq))) return false;
            }
            return true;
          };
          // Stored lines first (also catches up after a reconnect with ?after=).
          auto stored = k->orchestrator()->Logs(id, *last, 10000);
          if (stored.ok() && !send_lines(*stored)) return false;
          while (!api->stopping) {
            std::vector<TaskLogLine> batch;
            {
              std::unique_lock<std::mutex> lock(queue->mu);
              queue->cv.wait_for(lock, std::chrono::milliseconds(200),
                                 [&] { return !queue->lines.empty(); });
              batch.assign(queue->lines.begin(), queue->lines.end());
              queue->lines.clear();
            }
            if (!send_lines(batch)) return false;
            if (batch.empty()) {
              auto t = k->orchestrator()->Get(id);
              if (!t.ok()) break;
              if (IsTerminal(t->state) || t->state == TaskState::kAwaitingReview) {
                auto rest = k->orchestrator()->Logs(id, *last, 10000);
                if (rest.ok() && !send_lines(*rest)) return false;
                send(SseEvent("end", {{"task_id", id},
                                      {"state", TaskStateName(t->state)},
                                      {"output", t->output},
                                      {"error", t->error}}));
                break;
              }
              // A comment keeps proxies from timing the stream out and
              // notices a client that went away.
              if (!send(": keep-alive\n\n")) return false;
            }
          }
          sink.done();
          return true;
        },
        [k, sub](bool) { k->orchestrator()->Unsubscribe(sub); });
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.owner = nullptr;

  r.path = "/api/v1/logs";
  r.resource.clear();
  r.access = "RBAC: logs:<stream> read";
  r.summary =
      "Recent telemetry log records: ?stream=system|agents|security (default system)"
      "&level=&component=&event=&trace_id=&limit=";
  r.response_schema = Schema("records:[object]");
  r.handler = [api, k](Call& call) -> absl::Status {
    LogQuery q;
    KOS_ASSIGN_OR_RETURN(q.stream, ParseLogStream(call.Query("stream", "system")));
    KOS_RETURN_IF_ERROR(
        api->Authorize(call, absl::StrCat("logs:", LogStreamName(*q.stream)), "read"));
    if (call.req.has_param("level")) {
      KOS_ASSIGN_OR_RETURN(q.min_level, ParseLogLevel(call.Query("level")));
    }
    q.component = call.Query("component");
    q.event = call.Query("event");
    q.trace_id = call.Query("trace_id");
    KOS_ASSIGN_OR_RETURN(int64_t limit, call.QueryInt("limit", 100, 1, 10000));
    q.limit = limit;
    Json list = Json::array();
    for (const LogRecord& rec : k->telemetry()->QueryLogs(q)) {
      auto parsed = ParseJson(FormatLogRecordJson(rec));
      if (parsed.ok()) list.push_back(*parsed);
    }
    call.Reply({{"records", list}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.tag = "planning";
  r.method = "POST";
  r.path = "/api/v1/planning";
  r.resource.clear();
  r.access = "agents:<agent>:execute for every step's agent";
  r.success_status = 202;
  r.summary =
      "Submit a plan: steps {id, agent, input, depends_on:[step ids]} signed by the "
      "kernel and accepted atomically (all or none)";
  r.request_schema = Schema("steps:[object]");
  r.response_schema = Schema("plan_id:string, tasks:object");
  r.handler = [api, k](Call& call) -> absl::Status {
    const Json& steps = call.body["steps"];
    if (steps.empty() || steps.size() > 1000)
      return absl::InvalidArgumentError("a plan needs 1..1000 steps");
    std::map<std::string, std::string> ids;  // step id -> task id
    for (size_t i = 0; i < steps.size(); ++i) {
      const Json& s = steps[i];
      std::string where = absl::StrCat("steps[", i, "]");
      if (!s.is_object() || !s.contains("agent") || !s["agent"].is_string())
        return absl::InvalidArgumentError(absl::StrCat(where, ": needs a string 'agent'"));
      std::string sid =
          s.contains("id") && s["id"].is_string() ? s["id"].get<std::string>() : std::to_string(i);
      if (ids.count(sid)) return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate id"));
      ids[sid] = NewId();
      KOS_RETURN_IF_ERROR(
          api->Authorize(call, absl::StrCat("agents:", s["agent"].get<std::string>()), "execute"));
    }
    // One envelope for the whole plan: one signature and one check instead
    // of one per step (SubmitSignedPlan).
    Json tasks = Json::array();
    for (size_t i = 0; i < steps.size(); ++i) {
      const Json& s = steps[i];
      std::string sid =
          s.contains("id") && s["id"].is_string() ? s["id"].get<std::string>() : std::to_string(i);
      KOS_ASSIGN_OR_RETURN(Json payload, TaskPayload(s));
      if (s.contains("depends_on")) {
        if (!s["depends_on"].is_array())
          return absl::InvalidArgumentError(
              absl::StrCat("steps[", i, "].depends_on: not an array"));
        Json deps = Json::array();
        for (const auto& d : s["depends_on"]) {
          if (!d.is_string() || !ids.count(d.get<std::string>()))
            return absl::InvalidArgumentError(
                absl::StrCat("steps[", i, "].depends_on: unknown step ", DumpJson(d)));
          deps.push_back(ids[d.get<std::string>()]);
        }
        payload["depends_on"] = deps;
      }
      payload["agent"] = s["agent"];
      payload["id"] = ids[sid];
      tasks.push_back(std::move(payload));
    }
    TaskRequest tr;
    tr.audience = kPlanAudience;
    tr.payload = {{"tasks", std::move(tasks)}};
    tr.task_id = NewId();
    KOS_ASSIGN_OR_RETURN(SignedEnvelope env, k->task_signer()->Sign(tr));
    KOS_ASSIGN_OR_RETURN(std::string plan, k->orchestrator()->SubmitSignedPlan(env.text));
    KOS_RETURN_IF_ERROR(api->RecordOwner("plan", plan, call.Subject()));
    for (const auto& [sid, tid] : ids)
      KOS_RETURN_IF_ERROR(api->RecordOwner("task", tid, call.Subject()));
    call.Reply({{"plan_id", plan}, {"tasks", ids}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.success_status = 200;
  r.access.clear();

  r.method = "GET";
  r.path = "/api/v1/planning/{id}";
  r.resource = "plans:{id}";
  r.action = "read";
  r.owner = [api](Call& call) { return api->OwnerOf("plan", call.Param("id")); };
  r.request_schema = nullptr;
  r.summary = "A plan's tasks and their states";
  r.response_schema = Schema("plan_id:string, state:string, tasks:[object]");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks,
                         k->orchestrator()->PlanTasks(call.Param("id")));
    if (tasks.empty()) return absl::NotFoundError(absl::StrCat("no plan ", call.Param("id")));
    Json list = Json::array();
    bool done = true, ok = true;
    for (const TaskInfo& t : tasks) {
      list.push_back(TaskJson(t));
      done = done && IsTerminal(t.state);
      ok = ok && t.state == TaskState::kSucceeded;
    }
    call.Reply({{"plan_id", call.Param("id")},
                {"state", !done ? "running"
                          : ok  ? "succeeded"
                                : "failed"},
                {"tasks", list}});
    return absl::OkStatus();
  };
  routes->push_back(r);
}

}  // namespace kos::server
