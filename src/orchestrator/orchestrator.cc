#include "kos/orchestrator.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kos/crypto.h"
#include "kos/id.h"
#include "kos/status.h"
#include "orchestrator/task_codec.h"

namespace kos {

using orchestrator_internal::DecodeTaskRecord;
using orchestrator_internal::EncodeTaskRecord;
using orchestrator_internal::kIdempotency;
using orchestrator_internal::kPlans;
using orchestrator_internal::kTaskLogs;
using orchestrator_internal::kTasks;
using orchestrator_internal::ParseTaskSpec;
using orchestrator_internal::TaskLogKey;
using orchestrator_internal::TaskLogLineFromJson;
using orchestrator_internal::TaskLogLineToJson;
using orchestrator_internal::TaskRecord;
using orchestrator_internal::TaskSpec;

namespace {

std::string HexId(size_t bytes) { return absl::BytesToHexString(RandomBytes(bytes)); }

std::string CodeName(absl::StatusCode c) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(c));
}

// Why a running handler was asked to stop.
enum class StopReason { kNone, kCancel, kTimeout, kShutdown };

struct CancelState {
  std::atomic<bool> flag{false};
  absl::Mutex mu;
  absl::CondVar cv;
  StopReason reason ABSL_GUARDED_BY(mu) = StopReason::kNone;

  void Request(StopReason r) {
    absl::MutexLock l(&mu);
    if (reason != StopReason::kNone) return;
    reason = r;
    flag.store(true, std::memory_order_release);
    cv.SignalAll();
  }
  StopReason Reason() {
    absl::MutexLock l(&mu);
    return reason;
  }
};

struct Runtime {
  TaskRecord rec;
  uint64_t version = 0;  // Store version of the task record
  int pending = 0;       // unfinished dependencies
  std::shared_ptr<CancelState> cancel = std::make_shared<CancelState>();
  absl::Time deadline = absl::InfiniteFuture();
  uint64_t seq = 0;  // FIFO order among equal priorities
};

using ReadyKey = std::tuple<int, uint64_t, std::string>;  // (-priority, seq, id)

}  // namespace

struct TaskContext::Impl {
  class Orchestrator::Impl* orch;
  TaskInfo info;
  std::map<std::string, Json> deps;
  std::shared_ptr<CancelState> cancel;
  absl::Time deadline;
};

class Orchestrator::Impl {
 public:
  explicit Impl(const OrchestratorOptions& o) : o_(o) {
    if (o_.nonce_store == nullptr) o_.nonce_store = o_.store;
  }

  ~Impl() { (void)Shutdown(absl::Seconds(10)); }

  absl::Status Init() {
    if (o_.store == nullptr || o_.keys == nullptr) {
      return absl::InvalidArgumentError("OrchestratorOptions needs a store and a key registry");
    }
    if (o_.max_concurrent < 1 || o_.max_concurrent > 10000) {
      return absl::InvalidArgumentError("max_concurrent must be 1..10000");
    }
    if (o_.default_timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("default_timeout must be positive");
    }
    for (const AgentProfile& a : o_.agents) {
      KOS_RETURN_IF_ERROR(ValidateAgentName(a.name));
      if (agents_.count(a.name))
        return absl::InvalidArgumentError(absl::StrCat("agent '", a.name, "' configured twice"));
      TaskVerifierOptions vo;
      vo.keys = o_.keys;
      vo.nonce_store = o_.nonce_store;
      vo.clock = o_.clock;
      vo.allowed_skew = o_.allowed_skew;
      vo.audience = a.name;
      KOS_ASSIGN_OR_RETURN(auto v, TaskVerifier::Open(vo));
      verifiers_[a.name] = std::move(v);
      agents_[a.name] = a;
    }
    if (o_.telemetry != nullptr) {
      queue_depth_ = o_.telemetry->metrics()
                         ->GetGauge("kos_task_queue_depth", "Tasks queued or waiting for a retry.")
                         .value();
    }
    KOS_RETURN_IF_ERROR(Recover());
    for (int i = 0; i < o_.max_concurrent; ++i) workers_.emplace_back([this] { WorkerLoop(); });
    timer_ = std::thread([this] { TimerLoop(); });
    return absl::OkStatus();
  }

  // ---- submission -------------------------------------------------------

  // Verifies one envelope and builds its record (not yet stored).
  absl::StatusOr<TaskRecord> Accept(absl::string_view envelope) {
    auto peek = ParseJson(envelope);
    if (!peek.ok() || !peek->is_object() || !(*peek).contains("aud") ||
        !(*peek)["aud"].is_string()) {
      SecurityEvent("task.rejected", {{"reason", "malformed envelope"}});
      return absl::InvalidArgumentError(
          "task envelope is not a JSON object with an \"aud\" string");
    }
    std::string agent = (*peek)["aud"].get<std::string>();
    auto vit = verifiers_.find(agent);
    if (vit == verifiers_.end()) {
      SecurityEvent("task.rejected", {{"reason", "unknown agent"}, {"agent", agent.substr(0, 64)}});
      return absl::NotFoundError(
          absl::StrCat("agent '", agent.substr(0, 64), "' is not configured"));
    }
    if (!agents_[agent].enabled) {
      return absl::FailedPreconditionError(absl::StrCat("agent '", agent, "' is disabled"));
    }
    auto verified = vit->second->Verify(envelope);
    if (!verified.ok()) {
      SecurityEvent("task.rejected",
                    {{"reason", std::string(verified.status().message())}, {"agent", agent}});
      return verified.status();
    }
    auto spec = ParseTaskSpec(verified->payload);
    if (!spec.ok()) return spec.status();
    if (o_.access != nullptr) {
      std::string subject = verified->issuer.find(':') == std::string::npos
                                ? absl::StrCat("agent:", verified->issuer)
                                : verified->issuer;
      absl::Status s = o_.access->Check(subject, absl::StrCat("agents:", agent), "execute");
      if (!s.ok()) {
        SecurityEvent("task.denied", {{"issuer", verified->issuer}, {"agent", agent}});
        return absl::PermissionDeniedError(
            absl::StrCat("'", subject, "' may not execute agent '", agent, "'"));
      }
      for (const std::string& req : spec->requires_permissions) {
        size_t colon = req.rfind(':');
        s = o_.access->Check(absl::StrCat("agent:", agent), req.substr(0, colon),
                             req.substr(colon + 1));
        if (!s.ok()) {
          SecurityEvent("task.denied", {{"agent", agent}, {"requires", req}});
          return absl::PermissionDeniedError(
              absl::StrCat("agent '", agent, "' lacks permission '", req, "'"));
        }
      }
    }
    TaskRecord r;
    TaskInfo& t = r.info;
    t.id = verified->task_id;
    t.agent = agent;
    t.issuer = verified->issuer;
    t.parent_id = verified->parent_task_id.value_or("");
    t.state = TaskState::kQueued;
    t.priority = spec->priority;
    t.input = spec->input;
    t.depends_on = spec->depends_on;
    t.idempotency_key = spec->idempotency_key;
    t.review = spec->review;
    t.created = t.updated = o_.clock->Now();
    t.span_id = HexId(8);
    r.retry = spec->retry;
    r.timeout = spec->timeout;
    return r;
  }

  absl::StatusOr<std::string> Submit(absl::string_view envelope) {
    KOS_ASSIGN_OR_RETURN(TaskRecord r, Accept(envelope));
    KOS_ASSIGN_OR_RETURN(std::vector<std::string> ids, Insert({std::move(r)}, ""));
    return ids.front();
  }

  absl::StatusOr<std::string> SubmitPlan(const std::vector<std::string>& envelopes) {
    if (envelopes.empty() || envelopes.size() > 100000) {
      return absl::InvalidArgumentError("a plan holds 1..100000 tasks");
    }
    std::vector<TaskRecord> recs;
    recs.reserve(envelopes.size());
    for (size_t i = 0; i < envelopes.size(); ++i) {
      auto r = Accept(envelopes[i]);
      if (!r.ok()) {
        return absl::Status(r.status().code(),
                            absl::StrCat("plan task ", i, ": ", r.status().message()));
      }
      recs.push_back(*std::move(r));
    }
    std::string plan_id = NewId();
    KOS_RETURN_IF_ERROR(Insert(std::move(recs), plan_id).status());
    return plan_id;
  }

  // Stores and schedules new tasks atomically.
  absl::StatusOr<std::vector<std::string>> Insert(std::vector<TaskRecord> recs,
                                                  const std::string& plan_id) {
    absl::MutexLock l(&mu_);
    if (stopping_) return absl::UnavailableError("orchestrator is shutting down");
    absl::flat_hash_map<std::string, size_t> in_plan;
    for (size_t i = 0; i < recs.size(); ++i) {
      if (!in_plan.emplace(recs[i].info.id, i).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("task id ", recs[i].info.id, " appears twice"));
      }
    }
    // Resolve dependencies: inside the plan, live, or stored.
    std::vector<std::vector<size_t>> plan_deps(recs.size());
    std::string trace = HexId(16);
    for (size_t i = 0; i < recs.size(); ++i) {
      TaskInfo& t = recs[i].info;
      t.plan_id = plan_id;
      t.trace_id = trace;
      if (!t.parent_id.empty()) {
        auto parent = GetLocked(t.parent_id);
        if (parent.ok()) {
          t.trace_id = parent->trace_id;
          t.parent_span_id = parent->span_id;
        }
      }
      for (const std::string& d : t.depends_on) {
        if (d == t.id)
          return absl::InvalidArgumentError(absl::StrCat("task ", t.id, " depends on itself"));
        if (auto it = in_plan.find(d); it != in_plan.end()) {
          plan_deps[i].push_back(it->second);
          continue;
        }
        auto dep = GetLocked(d);
        if (!dep.ok()) {
          return absl::NotFoundError(absl::StrCat("task ", t.id, " depends on unknown task ", d));
        }
      }
    }
    KOS_RETURN_IF_ERROR(CheckAcyclic(recs, plan_deps));

    std::vector<WriteOp> ops;
    for (TaskRecord& r : recs) {
      if (!r.info.idempotency_key.empty()) {
        ops.push_back(WriteOp::Put(kIdempotency, r.info.idempotency_key, r.info.id, 0));
      }
      r.info.state = r.info.depends_on.empty() ? TaskState::kQueued : TaskState::kWaiting;
      ops.push_back(WriteOp::Put(kTasks, r.info.id, EncodeTaskRecord(r), 0));
    }
    if (!plan_id.empty()) {
      Json ids = Json::array();
      for (const TaskRecord& r : recs) ids.push_back(r.info.id);
      ops.push_back(WriteOp::Put(kPlans, plan_id, DumpJson({{"tasks", ids}}), 0));
    }
    auto committed = o_.store->Commit(ops);
    if (absl::IsFailedPrecondition(committed.status())) {
      // A repeated idempotency key (or task id): hand back the first task.
      for (const TaskRecord& r : recs) {
        if (r.info.idempotency_key.empty()) continue;
        auto existing = o_.store->Get(kIdempotency, r.info.idempotency_key);
        if (existing.ok() && recs.size() == 1) return std::vector<std::string>{existing->value};
        if (existing.ok()) {
          return absl::AlreadyExistsError(absl::StrCat("idempotency key '", r.info.idempotency_key,
                                                       "' already used by task ", existing->value));
        }
      }
      return absl::AlreadyExistsError("a task with one of these ids already exists");
    }
    KOS_RETURN_IF_ERROR(committed.status());

    std::vector<std::string> ids;
    size_t op = 0;
    for (TaskRecord& r : recs) {
      if (!r.info.idempotency_key.empty()) ++op;
      auto rt = std::make_unique<Runtime>();
      rt->version = (*committed)[op++].version;
      rt->rec = std::move(r);
      ids.push_back(rt->rec.info.id);
      live_[rt->rec.info.id] = std::move(rt);
    }
    // Count unfinished dependencies now that every task of the batch is live.
    for (const std::string& id : ids) {
      Runtime* rt = live_[id].get();
      TraceLog(rt->rec.info, "task.accepted", {{"plan", plan_id}, {"issuer", rt->rec.info.issuer}});
      ResolveDependenciesLocked(rt);
    }
    UpdateGaugesLocked();
    work_cv_.SignalAll();
    return ids;
  }

  static absl::Status CheckAcyclic(const std::vector<TaskRecord>& recs,
                                   const std::vector<std::vector<size_t>>& deps) {
    std::vector<int> mark(recs.size(), 0);  // 0 new, 1 on stack, 2 done
    for (size_t s = 0; s < recs.size(); ++s) {
      if (mark[s]) continue;
      std::vector<std::pair<size_t, size_t>> stack{{s, 0}};
      mark[s] = 1;
      while (!stack.empty()) {
        auto& [n, i] = stack.back();
        if (i < deps[n].size()) {
          size_t m = deps[n][i++];
          if (mark[m] == 1) {
            return absl::InvalidArgumentError(
                absl::StrCat("plan has a dependency cycle through task ", recs[m].info.id));
          }
          if (mark[m] == 0) {
            mark[m] = 1;
            stack.push_back({m, 0});
          }
        } else {
          mark[n] = 2;
          stack.pop_back();
        }
      }
    }
    return absl::OkStatus();
  }

  // ---- state transitions (all under mu_) --------------------------------

  void PersistLocked(Runtime* rt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rt->rec.info.updated = o_.clock->Now();
    auto w = o_.store->Put(kTasks, rt->rec.info.id, EncodeTaskRecord(rt->rec), rt->version);
    if (w.ok()) {
      rt->version = w->version;
      return;
    }
    // The in-memory state stays authoritative for this process; the next
    // transition retries the write with a fresh version.
    auto cur = o_.store->Get(kTasks, rt->rec.info.id);
    if (cur.ok()) rt->version = cur->version;
    auto again = o_.store->Put(kTasks, rt->rec.info.id, EncodeTaskRecord(rt->rec), rt->version);
    if (again.ok()) rt->version = again->version;
    SystemLog(LogLevel::kError, "task.persist_failed",
              {{"task", rt->rec.info.id}, {"error", std::string(w.status().message())}});
  }

  void SetStateLocked(Runtime* rt, TaskState s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rt->rec.info.state = s;
    PersistLocked(rt);
    state_cv_.SignalAll();
  }

  // Registers `rt` as a dependant of each unfinished dependency. A dependency
  // that ended without success (or no longer exists) fails `rt` at once; with
  // none unfinished, `rt` is queued. Used at submission and at recovery.
  void ResolveDependenciesLocked(Runtime* rt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string failed;
    for (const std::string& d : rt->rec.info.depends_on) {
      auto dep = GetLocked(d);
      if (dep.ok() && dep->state == TaskState::kSucceeded) continue;
      if (!dep.ok() || IsTerminal(dep->state)) {
        failed = d;
        continue;
      }
      ++rt->pending;
      dependants_[d].push_back(rt->rec.info.id);
    }
    if (!failed.empty()) {
      FailFromDependencyLocked(rt, failed, TaskState::kFailed);
    } else if (rt->pending == 0) {
      if (rt->rec.info.state != TaskState::kQueued) SetStateLocked(rt, TaskState::kQueued);
      MakeReadyLocked(rt);
    }
  }

  void MakeReadyLocked(Runtime* rt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rt->seq = ++seq_;
    ready_.insert({-rt->rec.info.priority, rt->seq, rt->rec.info.id});
  }

  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (o_.telemetry == nullptr) return;
    o_.telemetry->ActiveAgents()->Set(running_);
    queue_depth_->Set(static_cast<double>(ready_.size() + delayed_.size()));
  }

  void FinishLocked(Runtime* rt, TaskState final_state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    TaskInfo& t = rt->rec.info;
    t.state = final_state;
    t.finished = o_.clock->Now();
    PersistLocked(rt);
    state_cv_.SignalAll();
    if (o_.telemetry != nullptr)
      o_.telemetry->AgentTasks(t.agent, TaskStateName(final_state))->Increment();
    TraceLog(t, "task.finished", {{"state", TaskStateName(final_state)}, {"error", t.error}});
    std::string id = t.id;
    bool ok = final_state == TaskState::kSucceeded;
    std::vector<std::string> deps;
    if (auto it = dependants_.find(id); it != dependants_.end()) {
      deps = std::move(it->second);
      dependants_.erase(it);
    }
    std::unique_ptr<Runtime> keep = std::move(live_[id]);
    live_.erase(id);
    for (const std::string& d : deps) {
      auto it = live_.find(d);
      if (it == live_.end()) continue;
      Runtime* child = it->second.get();
      if (child->rec.info.state != TaskState::kWaiting) continue;
      if (ok) {
        if (--child->pending == 0) {
          SetStateLocked(child, TaskState::kQueued);
          MakeReadyLocked(child);
        }
      } else {
        FailFromDependencyLocked(
            child, id,
            final_state == TaskState::kCancelled ? TaskState::kCancelled : TaskState::kFailed);
      }
    }
    work_cv_.SignalAll();
  }

  void FailFromDependencyLocked(Runtime* rt, const std::string& dep, TaskState s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rt->rec.info.error = absl::StrCat("dependency ", dep, " did not succeed");
    rt->rec.info.error_code =
        CodeName(s == TaskState::kCancelled ? absl::StatusCode::kCancelled
                                            : absl::StatusCode::kFailedPrecondition);
    FinishLocked(rt, s);
  }

  absl::Duration BackoffLocked(const TaskRecord& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    double base = absl::ToDoubleSeconds(r.retry.initial_backoff) *
                  std::pow(r.retry.multiplier, std::max(0, r.info.attempt - 1));
    base = std::min(base, absl::ToDoubleSeconds(r.retry.max_backoff));
    double j = r.retry.jitter;
    if (j > 0) {
      double u = static_cast<double>(RandomUniform(1u << 30)) / static_cast<double>(1u << 30);
      base *= 1.0 + j * (2.0 * u - 1.0);
    }
    return absl::Seconds(std::max(0.0, base));
  }

  void CompleteAttemptLocked(Runtime* rt, const absl::StatusOr<Json>& result, StopReason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    TaskInfo& t = rt->rec.info;
    running_ids_.erase(t.id);
    --running_;
    --agent_running_[t.agent];
    if (o_.telemetry != nullptr) {
      o_.telemetry->AgentTaskDuration(t.agent)->Observe(
          absl::ToDoubleSeconds(o_.clock->Now() - t.started));
    }
    if (reason == StopReason::kShutdown) {
      // Not the task's fault: it runs again, with this attempt not counted.
      --t.attempt;
      SetStateLocked(rt, TaskState::kQueued);
      return;
    }
    if (reason == StopReason::kCancel) {
      t.error = "cancelled";
      t.error_code = CodeName(absl::StatusCode::kCancelled);
      FinishLocked(rt, TaskState::kCancelled);
      return;
    }
    absl::Status err = result.status();
    if (reason == StopReason::kTimeout) {
      err = absl::DeadlineExceededError(absl::StrCat("attempt ", t.attempt, " timed out"));
    }
    if (err.ok()) {
      t.output = *result;
      t.error.clear();
      t.error_code.clear();
      if (t.review) {
        SetStateLocked(rt, TaskState::kAwaitingReview);
      } else {
        FinishLocked(rt, TaskState::kSucceeded);
      }
      return;
    }
    t.error = std::string(err.message());
    t.error_code = CodeName(err.code());
    const auto& nr = rt->rec.retry.non_retryable;
    bool retryable = std::find(nr.begin(), nr.end(), err.code()) == nr.end();
    if (retryable && t.attempt < rt->rec.retry.max_attempts) {
      rt->rec.ready_at = o_.clock->Now() + BackoffLocked(rt->rec);
      SetStateLocked(rt, TaskState::kRetrying);
      delayed_.insert({rt->rec.ready_at, t.id});
      TraceLog(t, "task.retrying", {{"attempt", t.attempt}, {"error", t.error}});
      return;
    }
    FinishLocked(rt, reason == StopReason::kTimeout ? TaskState::kTimedOut : TaskState::kFailed);
  }

  // ---- workers ----------------------------------------------------------

  Runtime* PickLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = ready_.begin(); it != ready_.end(); ++it) {
      auto rit = live_.find(std::get<2>(*it));
      if (rit == live_.end()) continue;
      Runtime* rt = rit->second.get();
      const std::string& agent = rt->rec.info.agent;
      if (!handlers_.count(agent)) continue;
      int limit = agents_[agent].limits.max_concurrency;
      if (limit > 0 && agent_running_[agent] >= limit) continue;
      ready_.erase(it);
      return rt;
    }
    return nullptr;
  }

  void WorkerLoop() {
    for (;;) {
      Runtime* rt = nullptr;
      AgentHandler handler;
      auto ctx = std::make_unique<TaskContext::Impl>();
      {
        absl::MutexLock l(&mu_);
        while (!stopping_ && (rt = PickLocked()) == nullptr) work_cv_.Wait(&mu_);
        if (stopping_) return;
        TaskInfo& t = rt->rec.info;
        ++t.attempt;
        t.started = o_.clock->Now();
        absl::Duration timeout = rt->rec.timeout;
        if (timeout <= absl::ZeroDuration()) timeout = agents_[t.agent].limits.timeout;
        if (timeout <= absl::ZeroDuration()) timeout = o_.default_timeout;
        rt->deadline = t.started + timeout;
        rt->cancel = std::make_shared<CancelState>();
        SetStateLocked(rt, TaskState::kRunning);
        ++running_;
        ++started_;
        max_running_ = std::max(max_running_, running_);
        ++agent_running_[t.agent];
        running_ids_.insert(t.id);
        UpdateGaugesLocked();
        handler = handlers_[t.agent];
        ctx->orch = this;
        ctx->info = t;
        ctx->cancel = rt->cancel;
        ctx->deadline = rt->deadline;
        for (const std::string& d : t.depends_on) {
          auto dep = GetLocked(d);
          if (dep.ok()) ctx->deps[d] = dep->output;
        }
      }
      TraceLog(ctx->info, "task.started", {{"attempt", ctx->info.attempt}});
      absl::StatusOr<Json> result = absl::InternalError("handler did not return");
      try {
        TaskContext tc(ctx.get());
        result = handler(tc);
      } catch (const std::exception& e) {
        result = absl::InternalError(absl::StrCat("handler threw: ", e.what()));
      } catch (...) {
        result = absl::InternalError("handler threw a non-standard exception");
      }
      StopReason reason = ctx->cancel->Reason();
      absl::MutexLock l(&mu_);
      auto it = live_.find(ctx->info.id);
      if (it != live_.end()) CompleteAttemptLocked(it->second.get(), result, reason);
      UpdateGaugesLocked();
      work_cv_.SignalAll();
    }
  }

  void TimerLoop() {
    absl::MutexLock l(&mu_);
    while (!stopping_) {
      work_cv_.WaitWithTimeout(&mu_, o_.poll_interval);
      if (stopping_) break;
      absl::Time now = o_.clock->Now();
      bool moved = false;
      while (!delayed_.empty() && delayed_.begin()->first <= now) {
        std::string id = delayed_.begin()->second;
        delayed_.erase(delayed_.begin());
        auto it = live_.find(id);
        if (it == live_.end() || it->second->rec.info.state != TaskState::kRetrying) continue;
        SetStateLocked(it->second.get(), TaskState::kQueued);
        MakeReadyLocked(it->second.get());
        moved = true;
      }
      for (const std::string& id : running_ids_) {
        auto it = live_.find(id);
        if (it != live_.end() && now >= it->second->deadline)
          it->second->cancel->Request(StopReason::kTimeout);
      }
      if (moved) {
        UpdateGaugesLocked();
        work_cv_.SignalAll();
      }
    }
  }

  // ---- queries ----------------------------------------------------------

  absl::StatusOr<TaskInfo> GetLocked(absl::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (auto it = live_.find(std::string(id)); it != live_.end()) return it->second->rec.info;
    return GetStored(id);
  }

  absl::StatusOr<TaskInfo> GetStored(absl::string_view id) {
    if (!IsValidId(id)) return absl::InvalidArgumentError("task id must be a 26-character ULID");
    auto r = o_.store->Get(kTasks, id);
    if (absl::IsNotFound(r.status())) return absl::NotFoundError(absl::StrCat("no task ", id));
    KOS_RETURN_IF_ERROR(r.status());
    KOS_ASSIGN_OR_RETURN(TaskRecord rec, DecodeTaskRecord(r->value));
    return rec.info;
  }

  absl::StatusOr<TaskInfo> Get(absl::string_view id) {
    absl::MutexLock l(&mu_);
    return GetLocked(id);
  }

  absl::StatusOr<TaskInfo> Wait(absl::string_view id, absl::Duration timeout) {
    absl::Time until = absl::Now() + timeout;
    absl::MutexLock l(&mu_);
    for (;;) {
      KOS_ASSIGN_OR_RETURN(TaskInfo t, GetLocked(id));
      if (IsTerminal(t.state) || t.state == TaskState::kAwaitingReview) return t;
      if (absl::Now() >= until) {
        return absl::DeadlineExceededError(
            absl::StrCat("task ", id, " is still ", TaskStateName(t.state)));
      }
      state_cv_.WaitWithDeadline(&mu_, until);
    }
  }

  absl::StatusOr<std::vector<TaskInfo>> List(const TaskFilter& f) {
    std::vector<TaskInfo> out;
    ScanOptions so;
    so.limit = 1000;
    for (;;) {
      KOS_ASSIGN_OR_RETURN(ScanPage p, o_.store->Scan(kTasks, so));
      for (const Record& r : p.records) {
        auto rec = DecodeTaskRecord(r.value);
        if (!rec.ok()) continue;
        const TaskInfo& t = rec->info;
        if (!f.agent.empty() && t.agent != f.agent) continue;
        if (!f.plan_id.empty() && t.plan_id != f.plan_id) continue;
        if (f.state && t.state != *f.state) continue;
        out.push_back(t);
        if (out.size() >= f.limit) return out;
      }
      if (p.next_page_token.empty()) return out;
      so.page_token = p.next_page_token;
    }
  }

  absl::StatusOr<std::vector<TaskInfo>> PlanTasks(absl::string_view plan_id) {
    if (!IsValidId(plan_id))
      return absl::InvalidArgumentError("plan id must be a 26-character ULID");
    auto r = o_.store->Get(kPlans, plan_id);
    if (absl::IsNotFound(r.status())) return absl::NotFoundError(absl::StrCat("no plan ", plan_id));
    KOS_RETURN_IF_ERROR(r.status());
    KOS_ASSIGN_OR_RETURN(Json j, ParseJson(r->value));
    std::vector<TaskInfo> out;
    for (const Json& id : j.value("tasks", Json::array())) {
      KOS_ASSIGN_OR_RETURN(TaskInfo t, Get(id.get<std::string>()));
      out.push_back(std::move(t));
    }
    return out;
  }

  // ---- control ----------------------------------------------------------

  absl::Status Cancel(absl::string_view id) {
    absl::MutexLock l(&mu_);
    return CancelLocked(std::string(id));
  }

  absl::Status CancelLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = live_.find(id);
    if (it == live_.end()) {
      KOS_ASSIGN_OR_RETURN(TaskInfo t, GetStored(id));
      return absl::FailedPreconditionError(
          absl::StrCat("task ", id, " is already ", TaskStateName(t.state)));
    }
    Runtime* rt = it->second.get();
    if (rt->rec.info.state == TaskState::kRunning) {
      rt->cancel->Request(StopReason::kCancel);
      return absl::OkStatus();
    }
    for (auto r = ready_.begin(); r != ready_.end(); ++r) {
      if (std::get<2>(*r) == id) {
        ready_.erase(r);
        break;
      }
    }
    rt->rec.info.error = "cancelled";
    rt->rec.info.error_code = CodeName(absl::StatusCode::kCancelled);
    FinishLocked(rt, TaskState::kCancelled);
    UpdateGaugesLocked();
    return absl::OkStatus();
  }

  absl::Status CancelPlan(absl::string_view plan_id) {
    KOS_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, PlanTasks(plan_id));
    absl::MutexLock l(&mu_);
    for (const TaskInfo& t : tasks) {
      if (live_.count(t.id)) (void)CancelLocked(t.id);
    }
    return absl::OkStatus();
  }

  absl::Status Review(absl::string_view id, absl::string_view reviewer, bool approve,
                      absl::string_view reason) {
    if (reviewer.empty()) return absl::InvalidArgumentError("reviewer must be named");
    absl::MutexLock l(&mu_);
    auto it = live_.find(std::string(id));
    if (it == live_.end() || it->second->rec.info.state != TaskState::kAwaitingReview) {
      KOS_RETURN_IF_ERROR(GetLocked(id).status());
      return absl::FailedPreconditionError(absl::StrCat("task ", id, " is not awaiting review"));
    }
    Runtime* rt = it->second.get();
    rt->rec.info.reviewer = std::string(reviewer);
    if (approve) {
      FinishLocked(rt, TaskState::kSucceeded);
    } else {
      rt->rec.info.error = absl::StrCat("rejected by ", reviewer, ": ", reason);
      rt->rec.info.error_code = CodeName(absl::StatusCode::kAborted);
      FinishLocked(rt, TaskState::kFailed);
    }
    return absl::OkStatus();
  }

  absl::Status RegisterHandler(absl::string_view agent, AgentHandler h) {
    if (!h) return absl::InvalidArgumentError("handler must not be empty");
    absl::MutexLock l(&mu_);
    if (!agents_.count(std::string(agent))) {
      return absl::NotFoundError(absl::StrCat("agent '", agent, "' is not configured"));
    }
    handlers_[std::string(agent)] = std::move(h);
    work_cv_.SignalAll();
    return absl::OkStatus();
  }

  // ---- logs -------------------------------------------------------------

  void AppendLog(const std::string& task_id, LogLevel level, absl::string_view message,
                 Json fields) {
    TaskLogLine line;
    {
      absl::MutexLock l(&mu_);
      auto it = live_.find(task_id);
      if (it == live_.end()) return;
      Runtime* rt = it->second.get();
      if (rt->rec.log_seq >= o_.max_log_lines_per_task) return;
      line.seq = ++rt->rec.log_seq;
    }
    line.task_id = task_id;
    line.time = o_.clock->Now();
    line.level = level;
    line.message = std::string(message.substr(0, 64 * 1024));
    line.fields = fields.is_object() ? std::move(fields) : Json::object();
    (void)o_.store->Put(kTaskLogs, TaskLogKey(task_id, line.seq),
                        DumpJson(TaskLogLineToJson(line)));
    std::vector<std::function<void(const TaskLogLine&)>> fns;
    {
      absl::MutexLock l(&subs_mu_);
      for (const auto& [id, sub] : subs_) {
        if (sub.first.empty() || sub.first == task_id) fns.push_back(sub.second);
      }
    }
    for (auto& fn : fns) fn(line);
  }

  absl::StatusOr<std::vector<TaskLogLine>> Logs(absl::string_view task_id, uint64_t after,
                                                size_t limit) {
    KOS_RETURN_IF_ERROR(Get(task_id).status());
    ScanOptions so;
    so.prefix = absl::StrCat(task_id, "/");
    so.limit = std::min<size_t>(std::max<size_t>(limit, 1), 10000);
    if (after > 0) so.page_token = absl::BytesToHexString(TaskLogKey(task_id, after));
    KOS_ASSIGN_OR_RETURN(ScanPage p, o_.store->Scan(kTaskLogs, so));
    std::vector<TaskLogLine> out;
    for (const Record& r : p.records) {
      KOS_ASSIGN_OR_RETURN(TaskLogLine l, TaskLogLineFromJson(r.value));
      out.push_back(std::move(l));
    }
    return out;
  }

  uint64_t Subscribe(absl::string_view task_id, std::function<void(const TaskLogLine&)> fn) {
    absl::MutexLock l(&subs_mu_);
    uint64_t id = ++next_sub_;
    subs_[id] = {std::string(task_id), std::move(fn)};
    return id;
  }

  void Unsubscribe(uint64_t id) {
    absl::MutexLock l(&subs_mu_);
    subs_.erase(id);
  }

  // ---- recovery and shutdown ---------------------------------------------

  absl::Status Recover() {
    absl::MutexLock l(&mu_);
    ScanOptions so;
    so.limit = 10000;
    std::vector<std::string> waiting;
    for (;;) {
      KOS_ASSIGN_OR_RETURN(ScanPage p, o_.store->Scan(kTasks, so));
      for (const Record& r : p.records) {
        auto rec = DecodeTaskRecord(r.value);
        if (!rec.ok()) {
          SystemLog(LogLevel::kError, "task.recover_failed",
                    {{"task", r.key}, {"error", std::string(rec.status().message())}});
          continue;
        }
        if (IsTerminal(rec->info.state)) continue;
        auto rt = std::make_unique<Runtime>();
        rt->rec = *std::move(rec);
        rt->version = r.version;
        // Only a running task writes log lines after its last persisted
        // transition; find where its log really ends.
        if (rt->rec.info.state == TaskState::kRunning) {
          while (o_.store->Get(kTaskLogs, TaskLogKey(rt->rec.info.id, rt->rec.log_seq + 1)).ok()) {
            ++rt->rec.log_seq;
          }
        }
        std::string id = rt->rec.info.id;
        live_[id] = std::move(rt);
        ++recovered_;
      }
      if (p.next_page_token.empty()) break;
      so.page_token = p.next_page_token;
    }
    std::vector<std::string> ids;
    for (const auto& [id, rt] : live_) ids.push_back(id);
    for (const std::string& id : ids) {
      auto it = live_.find(id);
      if (it == live_.end()) continue;
      Runtime* rt = it->second.get();
      TaskInfo& t = rt->rec.info;
      switch (t.state) {
        case TaskState::kRunning:
          if (o_.requeue_interrupted) {
            // The process died, not the task: the interrupted attempt does not
            // count against max_attempts (at-least-once execution).
            t.attempt = std::max(0, t.attempt - 1);
            t.error = "attempt interrupted by a restart; re-queued";
            SetStateLocked(rt, TaskState::kQueued);
            MakeReadyLocked(rt);
          } else {
            t.error = "interrupted by a restart";
            t.error_code = CodeName(absl::StatusCode::kAborted);
            FinishLocked(rt, TaskState::kFailed);
          }
          break;
        case TaskState::kQueued:
          MakeReadyLocked(rt);
          break;
        case TaskState::kRetrying:
          delayed_.insert({rt->rec.ready_at, id});
          break;
        case TaskState::kWaiting:
          waiting.push_back(id);
          break;
        default:
          break;
      }
    }
    for (const std::string& id : waiting) {
      auto it = live_.find(id);
      if (it == live_.end()) continue;
      ResolveDependenciesLocked(it->second.get());
    }
    if (recovered_ > 0)
      SystemLog(LogLevel::kInfo, "orchestrator.recovered", {{"tasks", recovered_}});
    return absl::OkStatus();
  }

  absl::Status Shutdown(absl::Duration grace) {
    {
      absl::MutexLock l(&mu_);
      if (shut_down_) return absl::OkStatus();
      shut_down_ = true;
      for (const std::string& id : running_ids_) {
        auto it = live_.find(id);
        if (it != live_.end()) it->second->cancel->Request(StopReason::kShutdown);
      }
      absl::Time until = absl::Now() + grace;
      while (running_ > 0 && absl::Now() < until) work_cv_.WaitWithDeadline(&mu_, until);
      stopping_ = true;
      work_cv_.SignalAll();
    }
    for (auto& w : workers_) w.join();
    if (timer_.joinable()) timer_.join();
    absl::MutexLock l(&mu_);
    return running_ == 0
               ? absl::OkStatus()
               : absl::DeadlineExceededError("handlers still running after the grace period");
  }

  Stats GetStats() const {
    absl::MutexLock l(&mu_);
    Stats s;
    s.running = running_;
    s.queued = static_cast<int>(ready_.size() + delayed_.size());
    s.max_running_seen = max_running_;
    s.started = started_;
    s.recovered = recovered_;
    return s;
  }

  // ---- events -----------------------------------------------------------

  void SecurityEvent(absl::string_view event, Json fields) {
    if (o_.on_security_event) o_.on_security_event(event, fields);
    if (o_.telemetry != nullptr) {
      o_.telemetry->logger(LogStream::kSecurity, "orchestrator").Warning(event, fields);
      auto c = o_.telemetry->metrics()->GetCounter(
          "kos_security_events_total", "Security events by type.", {{"event", std::string(event)}});
      if (c.ok()) (*c)->Increment();
    }
  }

  void TraceLog(const TaskInfo& t, absl::string_view event, Json fields) {
    if (o_.telemetry == nullptr) return;
    fields["task"] = t.id;
    fields["agent"] = t.agent;
    fields["span_id"] = t.span_id;
    if (!t.parent_span_id.empty()) fields["parent_span_id"] = t.parent_span_id;
    o_.telemetry->logger(LogStream::kAgents, "orchestrator")
        .Log(LogLevel::kInfo, event, fields, t.trace_id);
  }

  void SystemLog(LogLevel level, absl::string_view event, Json fields) {
    if (o_.telemetry != nullptr)
      o_.telemetry->logger(LogStream::kSystem, "orchestrator").Log(level, event, fields);
  }

  OrchestratorOptions o_;
  std::map<std::string, AgentProfile> agents_;
  std::map<std::string, std::unique_ptr<TaskVerifier>> verifiers_;
  Gauge* queue_depth_ = nullptr;

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;   // work became available, a handler finished, or stopping
  absl::CondVar state_cv_;  // some task changed state (for Wait)
  std::map<std::string, std::unique_ptr<Runtime>> live_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::string>> dependants_ ABSL_GUARDED_BY(mu_);
  std::set<ReadyKey> ready_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::string> delayed_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> running_ids_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, AgentHandler> handlers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> agent_running_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int max_running_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t recovered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex subs_mu_;
  std::map<uint64_t, std::pair<std::string, std::function<void(const TaskLogLine&)>>> subs_
      ABSL_GUARDED_BY(subs_mu_);
  uint64_t next_sub_ ABSL_GUARDED_BY(subs_mu_) = 0;

  std::vector<std::thread> workers_;
  std::thread timer_;
};

// ---- TaskContext ----------------------------------------------------------

const std::string& TaskContext::task_id() const { return impl_->info.id; }
const std::string& TaskContext::agent() const { return impl_->info.agent; }
const Json& TaskContext::input() const { return impl_->info.input; }
int TaskContext::attempt() const { return impl_->info.attempt; }
const TaskInfo& TaskContext::info() const { return impl_->info; }
const std::map<std::string, Json>& TaskContext::dependency_outputs() const { return impl_->deps; }
bool TaskContext::cancelled() const { return impl_->cancel->flag.load(std::memory_order_acquire); }
absl::Time TaskContext::deadline() const { return impl_->deadline; }

bool TaskContext::WaitForCancel(absl::Duration timeout) const {
  CancelState* c = impl_->cancel.get();
  absl::MutexLock l(&c->mu);
  absl::Time until = absl::Now() + timeout;
  while (c->reason == StopReason::kNone) {
    if (c->cv.WaitWithDeadline(&c->mu, until)) break;
  }
  return c->reason != StopReason::kNone;
}

void TaskContext::Log(LogLevel level, absl::string_view message, Json fields) {
  impl_->orch->AppendLog(impl_->info.id, level, message, std::move(fields));
}

absl::Status TaskContext::Authorize(absl::string_view resource, absl::string_view action) const {
  const AccessController* ac = impl_->orch->o_.access;
  if (ac == nullptr) return absl::OkStatus();
  absl::Status s = ac->Check(absl::StrCat("agent:", impl_->info.agent), resource, action);
  if (!s.ok()) {
    impl_->orch->SecurityEvent("agent.permission_denied", {{"agent", impl_->info.agent},
                                                           {"resource", std::string(resource)},
                                                           {"action", std::string(action)},
                                                           {"task", impl_->info.id}});
  }
  return s;
}

absl::StatusOr<std::string> TaskContext::AddSubtask(absl::string_view agent, Json payload) {
  TaskSigner* signer = impl_->orch->o_.subtask_signer;
  if (signer == nullptr) {
    return absl::FailedPreconditionError(
        "no subtask signer configured (OrchestratorOptions.subtask_signer)");
  }
  TaskRequest req;
  req.audience = std::string(agent);
  req.payload = std::move(payload);
  req.parent_task_id = impl_->info.id;
  KOS_ASSIGN_OR_RETURN(SignedEnvelope env, signer->Sign(req));
  return impl_->orch->Submit(env.text);
}

// ---- Orchestrator -----------------------------------------------------------

Orchestrator::Orchestrator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Orchestrator::~Orchestrator() = default;

absl::StatusOr<std::unique_ptr<Orchestrator>> Orchestrator::Open(
    const OrchestratorOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  KOS_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Orchestrator>(new Orchestrator(std::move(impl)));
}

absl::Status Orchestrator::RegisterHandler(absl::string_view agent, AgentHandler handler) {
  return impl_->RegisterHandler(agent, std::move(handler));
}
absl::StatusOr<std::string> Orchestrator::Submit(absl::string_view envelope) {
  return impl_->Submit(envelope);
}
absl::StatusOr<std::string> Orchestrator::SubmitPlan(const std::vector<std::string>& envelopes) {
  return impl_->SubmitPlan(envelopes);
}
absl::StatusOr<TaskInfo> Orchestrator::Get(absl::string_view id) { return impl_->Get(id); }
absl::StatusOr<TaskInfo> Orchestrator::Wait(absl::string_view id, absl::Duration timeout) {
  return impl_->Wait(id, timeout);
}
absl::StatusOr<std::vector<TaskInfo>> Orchestrator::List(const TaskFilter& f) {
  return impl_->List(f);
}
absl::StatusOr<std::vector<TaskInfo>> Orchestrator::PlanTasks(absl::string_view plan_id) {
  return impl_->PlanTasks(plan_id);
}
absl::Status Orchestrator::Cancel(absl::string_view id) { return impl_->Cancel(id); }
absl::Status Orchestrator::CancelPlan(absl::string_view plan_id) {
  return impl_->CancelPlan(plan_id);
}
absl::Status Orchestrator::Approve(absl::string_view id, absl::string_view reviewer) {
  return impl_->Review(id, reviewer, true, "");
}
absl::Status Orchestrator::Reject(absl::string_view id, absl::string_view reviewer,
                                  absl::string_view reason) {
  return impl_->Review(id, reviewer, false, reason);
}
absl::StatusOr<std::vector<TaskLogLine>> Orchestrator::Logs(absl::string_view id, uint64_t after,
                                                            size_t limit) {
  return impl_->Logs(id, after, limit);
}
uint64_t Orchestrator::Subscribe(absl::string_view id, std::function<void(const TaskLogLine&)> fn) {
  return impl_->Subscribe(id, std::move(fn));
}
void Orchestrator::Unsubscribe(uint64_t s) { impl_->Unsubscribe(s); }
absl::Status Orchestrator::Shutdown(absl::Duration grace) { return impl_->Shutdown(grace); }
Orchestrator::Stats Orchestrator::stats() const { return impl_->GetStats(); }

}  // namespace kos
