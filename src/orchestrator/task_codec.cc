#include "orchestrator/task_codec.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kos/status.h"

namespace kos {

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kWaiting:
      return "waiting";
    case TaskState::kQueued:
      return "queued";
    case TaskState::kRunning:
      return "running";
    case TaskState::kRetrying:
      return "retrying";
    case TaskState::kAwaitingReview:
      return "awaiting_review";
    case TaskState::kSucceeded:
      return "succeeded";
    case TaskState::kFailed:
      return "failed";
    case TaskState::kCancelled:
      return "cancelled";
    case TaskState::kTimedOut:
      return "timed_out";
  }
  return "failed";
}

absl::StatusOr<TaskState> ParseTaskState(absl::string_view name) {
  for (int i = 0; i <= static_cast<int>(TaskState::kTimedOut); ++i) {
    if (name == TaskStateName(static_cast<TaskState>(i))) return static_cast<TaskState>(i);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown task state '", name.substr(0, 32), "'"));
}

bool IsTerminal(TaskState s) {
  return s == TaskState::kSucceeded || s == TaskState::kFailed || s == TaskState::kCancelled ||
         s == TaskState::kTimedOut;
}

std::string TaskInfo::traceparent() const {
  return absl::StrCat("00-", trace_id, "-", span_id, "-01");
}

namespace orchestrator_internal {
namespace {

absl::StatusOr<absl::StatusCode> ParseCode(const std::string& name) {
  for (int c = 0; c <= 16; ++c) {
    auto code = static_cast<absl::StatusCode>(c);
    if (absl::AsciiStrToUpper(absl::StatusCodeToString(code)) == name) return code;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("retry.non_retryable: unknown status code '", name.substr(0, 32), "'"));
}

absl::Status Bad(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("task payload: ", key, ": ", what));
}

int64_t Ms(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

}  // namespace

absl::StatusOr<TaskSpec> ParseTaskSpec(const Json& p) {
  static const std::set<std::string> kKeys = {"input",  "priority",        "timeout_ms",
                                              "retry",  "idempotency_key", "depends_on",
                                              "review", "requires"};
  if (!p.is_object()) return Bad("(root)", "expected object");
  for (auto it = p.begin(); it != p.end(); ++it) {
    if (!kKeys.count(it.key())) return Bad(it.key(), "unknown key");
  }
  TaskSpec s;
  if (p.contains("input")) s.input = p["input"];
  auto int_field = [&](const Json& obj, const char* key, int64_t lo, int64_t hi,
                       int64_t* out) -> absl::Status {
    const Json& v = obj[key];
    if (!v.is_number_integer() && !v.is_number_unsigned()) return Bad(key, "expected integer");
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) return Bad(key, absl::StrCat("must be ", lo, "..", hi));
    *out = x;
    return absl::OkStatus();
  };
  int64_t v;
  if (p.contains("priority")) {
    KOS_RETURN_IF_ERROR(int_field(p, "priority", -1000000, 1000000, &v));
    s.priority = static_cast<int>(v);
  }
  if (p.contains("timeout_ms")) {
    KOS_RETURN_IF_ERROR(int_field(p, "timeout_ms", 1, 7LL * 24 * 3600 * 1000, &v));
    s.timeout = absl::Milliseconds(v);
  }
  if (p.contains("retry")) {
    const Json& r = p["retry"];
    if (!r.is_object()) return Bad("retry", "expected object");
    static const std::set<std::string> kRetryKeys = {"max_attempts", "initial_backoff_ms",
                                                     "multiplier",   "max_backoff_ms",
                                                     "jitter",       "non_retryable"};
    for (auto it = r.begin(); it != r.end(); ++it) {
      if (!kRetryKeys.count(it.key())) return Bad(absl::StrCat("retry.", it.key()), "unknown key");
    }
    if (r.contains("max_attempts")) {
      KOS_RETURN_IF_ERROR(int_field(r, "max_attempts", 1, 100, &v));
      s.retry.max_attempts = static_cast<int>(v);
    }
    if (r.contains("initial_backoff_ms")) {
      KOS_RETURN_IF_ERROR(int_field(r, "initial_backoff_ms", 0, 3600000, &v));
      s.retry.initial_backoff = absl::Milliseconds(v);
    }
    if (r.contains("max_backoff_ms")) {
      KOS_RETURN_IF_ERROR(int_field(r, "max_backoff_ms", 0, 24 * 3600000LL, &v));
      s.retry.max_backoff = absl::Milliseconds(v);
    }
    if (r.contains("multiplier")) {
      if (!r["multiplier"].is_number() || r["multiplier"].get<double>() < 1 ||
          r["multiplier"].get<double>() > 10) {
        return Bad("retry.multiplier", "expected a number 1..10");
      }
      s.retry.multiplier = r["multiplier"].get<double>();
    }
    if (r.contains("jitter")) {
      if (!r["jitter"].is_number() || r["jitter"].get<double>() < 0 ||
          r["jitter"].get<double>() > 1) {
        return Bad("retry.jitter", "expected a number 0..1");
      }
      s.retry.jitter = r["jitter"].get<double>();
    }
    if (r.contains("non_retryable")) {
      if (!r["non_retryable"].is_array())
        return Bad("retry.non_retryable", "expected array of status code names");
      s.retry.non_retryable.clear();
      for (const Json& c : r["non_retryable"]) {
        if (!c.is_string())
          return Bad("retry.non_retryable", "expected array of status code names");
        KOS_ASSIGN_OR_RETURN(auto code, ParseCode(c.get<std::string>()));
        s.retry.non_retryable.push_back(code);
      }
    }
  }
  if (p.contains("idempotency_key")) {
    if (!p["idempotency_key"].is_string()) return Bad("idempotency_key", "expected string");
    s.idempotency_key = p["idempotency_key"].get<std::string>();
    if (s.idempotency_key.empty() || s.idempotency_key.size() > 256) {
      return Bad("idempotency_key", "must be 1..256 bytes");
    }
  }
  if (p.contains("depends_on")) {
    const Json& d = p["depends_on"];
    if (!d.is_array() || d.size() > 1000)
      return Bad("depends_on", "expected an array of at most 1000 task ids");
    for (const Json& id : d) {
      if (!id.is_string() || !IsValidId(id.get<std::string>()))
        return Bad("depends_on", "expected task ids (ULIDs)");
      s.depends_on.push_back(id.get<std::string>());
    }
  }
  if (p.contains("review")) {
    if (!p["review"].is_boolean()) return Bad("review", "expected true or false");
    s.review = p["review"].get<bool>();
  }
  if (p.contains("requires")) {
    const Json& r = p["requires"];
    if (!r.is_array() || r.size() > 100)
      return Bad("requires", "expected an array of at most 100 'resource:action' strings");
    for (const Json& perm : r) {
      if (!perm.is_string()) return Bad("requires", "expected 'resource:action' strings");
      std::string x = perm.get<std::string>();
      size_t colon = x.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == x.size()) {
        return Bad("requires", absl::StrCat("'", x.substr(0, 64), "' is not 'resource:action'"));
      }
      s.requires_permissions.push_back(std::move(x));
    }
  }
  return s;
}

std::string EncodeTaskRecord(const TaskRecord& r) {
  const TaskInfo& t = r.info;
  Json codes = Json::array();
  for (auto c : r.retry.non_retryable) codes.push_back(static_cast<int>(c));
  Json j = {
      {"id", t.id},
      {"plan", t.plan_id},
      {"agent", t.agent},
      {"iss", t.issuer},
      {"parent", t.parent_id},
      {"state", TaskStateName(t.state)},
      {"attempt", t.attempt},
      {"priority", t.priority},
      {"input", t.input},
      {"output", t.output},
      {"error", t.error},
      {"error_code", t.error_code},
      {"deps", t.depends_on},
      {"idem", t.idempotency_key},
      {"review", t.review},
      {"reviewer", t.reviewer},
      {"created_ms", absl::ToUnixMillis(t.created)},
      {"updated_ms", absl::ToUnixMillis(t.updated)},
      {"started_ms", t.started == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t.started)},
      {"finished_ms", t.finished == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t.finished)},
      {"trace", t.trace_id},
      {"span", t.span_id},
      {"pspan", t.parent_span_id},
      {"retry",
       {{"max", r.retry.max_attempts},
        {"init_ms", Ms(r.retry.initial_backoff)},
        {"mult", r.retry.multiplier},
        {"max_ms", Ms(r.retry.max_backoff)},
        {"jitter", r.retry.jitter},
        {"codes", codes}}},
      {"timeout_ms", Ms(r.timeout)},
      {"ready_ms", r.ready_at == absl::InfinitePast() ? 0 : absl::ToUnixMillis(r.ready_at)},
      {"log_seq", r.log_seq}};
  return DumpJson(j);
}

absl::StatusOr<TaskRecord> DecodeTaskRecord(absl::string_view text) {
  KOS_ASSIGN_OR_RETURN(Json j, ParseJson(text));
  TaskRecord r;
  TaskInfo& t = r.info;
  try {
    t.id = j.at("id").get<std::string>();
    t.plan_id = j.at("plan").get<std::string>();
    t.agent = j.at("agent").get<std::string>();
    t.issuer = j.at("iss").get<std::string>();
    t.parent_id = j.at("parent").get<std::string>();
    KOS_ASSIGN_OR_RETURN(t.state, ParseTaskState(j.at("state").get<std::string>()));
    t.attempt = j.at("attempt").get<int>();
    t.priority = j.at("priority").get<int>();
    t.input = j.at("input");
    t.output = j.at("output");
    t.error = j.at("error").get<std::string>();
    t.error_code = j.at("error_code").get<std::string>();
    t.depends_on = j.at("deps").get<std::vector<std::string>>();
    t.idempotency_key = j.at("idem").get<std::string>();
    t.review = j.at("review").get<bool>();
    t.reviewer = j.at("reviewer").get<std::string>();
    t.created = absl::FromUnixMillis(j.at("created_ms").get<int64_t>());
    t.updated = absl::FromUnixMillis(j.at("updated_ms").get<int64_t>());
    int64_t s = j.at("started_ms").get<int64_t>(), f = j.at("finished_ms").get<int64_t>();
    t.started = s ? absl::FromUnixMillis(s) : absl::InfinitePast();
    t.finished = f ? absl::FromUnixMillis(f) : absl::InfinitePast();
    t.trace_id = j.at("trace").get<std::string>();
    t.span_id = j.at("span").get<std::string>();
    t.parent_span_id = j.at("pspan").get<std::string>();
    const Json& rp = j.at("retry");
    r.retry.max_attempts = rp.at("max").get<int>();
    r.retry.initial_backoff = absl::Milliseconds(rp.at("init_ms").get<int64_t>());
    r.retry.multiplier = rp.at("mult").get<double>();
    r.retry.max_backoff = absl::Milliseconds(rp.at("max_ms").get<int64_t>());
    r.retry.jitter = rp.at("jitter").get<double>();
    r.retry.non_retryable.clear();
    for (const Json& c : rp.at("codes"))
      r.retry.non_retryable.push_back(static_cast<absl::StatusCode>(c.get<int>()));
    r.timeout = absl::Milliseconds(j.at("timeout_ms").get<int64_t>());
    int64_t ready = j.at("ready_ms").get<int64_t>();
    r.ready_at = ready ? absl::FromUnixMillis(ready) : absl::InfinitePast();
    r.log_seq = j.at("log_seq").get<uint64_t>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("task record is malformed: ", e.what()));
  }
  return r;
}

Json TaskLogLineToJson(const TaskLogLine& l) {
  return {{"task", l.task_id},
          {"seq", l.seq},
          {"ts_ms", absl::ToUnixMillis(l.time)},
          {"level", LogLevelName(l.level)},
          {"msg", l.message},
          {"fields", l.fields}};
}

absl::StatusOr<TaskLogLine> TaskLogLineFromJson(absl::string_view text) {
  KOS_ASSIGN_OR_RETURN(Json j, ParseJson(text));
  TaskLogLine l;
  try {
    l.task_id = j.at("task").get<std::string>();
    l.seq = j.at("seq").get<uint64_t>();
    l.time = absl::FromUnixMillis(j.at("ts_ms").get<int64_t>());
    KOS_ASSIGN_OR_RETURN(l.level, ParseLogLevel(j.at("level").get<std::string>()));
    l.message = j.at("msg").get<std::string>();
    l.fields = j.at("fields");
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("task log line is malformed: ", e.what()));
  }
  return l;
}

std::string TaskLogKey(absl::string_view task_id, uint64_t seq) {
  return absl::StrFormat("%s/%010d", task_id, seq);
}

}  // namespace orchestrator_internal
}  // namespace kos
