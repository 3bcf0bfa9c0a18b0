#include "orchestrator/task_codec.h"

#include <algorithm>
#include <set>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
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

namespace {

// Appends `s` as a JSON string. Valid UTF-8 (the common case) is escaped by
// hand; anything else goes through the JSON library, which replaces bad bytes.
void AppendJsonString(std::string* out, absl::string_view s) {
  if (!IsValidUtf8(s)) {
    out->append(DumpJson(Json(std::string(s))));
    return;
  }
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20) {
      absl::StrAppendFormat(out, "\\u%04x", c);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

// Appends `"key":` (keys are fixed ASCII without escapes).
void Key(std::string* out, const char* key) {
  out->push_back(',');
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

void Str(std::string* out, const char* key, absl::string_view v) {
  Key(out, key);
  AppendJsonString(out, v);
}

int64_t MsOrZero(absl::Time t) { return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t); }

}  // namespace

// Written by hand rather than through a Json tree: this runs for every
// persisted transition and the tree costs several allocations per field.
// The keys and types are the ones DecodeTaskRecord reads.
std::string EncodeFixedTaskFields(const TaskRecord& r) {
  const TaskInfo& t = r.info;
  std::string out;
  out.reserve(384);
  out.append("{\"id\":");
  AppendJsonString(&out, t.id);
  Str(&out, "plan", t.plan_id);
  Str(&out, "agent", t.agent);
  Str(&out, "iss", t.issuer);
  Str(&out, "parent", t.parent_id);
  absl::StrAppend(&out, ",\"priority\":", t.priority);
  Key(&out, "input");
  out.append(DumpJson(t.input));
  Key(&out, "deps");
  out.push_back('[');
  for (size_t i = 0; i < t.depends_on.size(); ++i) {
    if (i) out.push_back(',');
    AppendJsonString(&out, t.depends_on[i]);
  }
  out.push_back(']');
  Str(&out, "idem", t.idempotency_key);
  absl::StrAppend(&out, ",\"review\":", t.review ? "true" : "false",
                  ",\"created_ms\":", absl::ToUnixMillis(t.created));
  Str(&out, "trace", t.trace_id);
  Str(&out, "span", t.span_id);
  Str(&out, "pspan", t.parent_span_id);
  // %.17g round-trips a double exactly (policy values are finite by validation).
  absl::StrAppendFormat(&out,
                        ",\"retry\":{\"max\":%d,\"init_ms\":%d,\"mult\":%.17g,\"max_ms\":%d,"
                        "\"jitter\":%.17g,\"codes\":[",
                        r.retry.max_attempts, Ms(r.retry.initial_backoff), r.retry.multiplier,
                        Ms(r.retry.max_backoff), r.retry.jitter);
  for (size_t i = 0; i < r.retry.non_retryable.size(); ++i) {
    if (i) out.push_back(',');
    absl::StrAppend(&out, static_cast<int>(r.retry.non_retryable[i]));
  }
  absl::StrAppend(&out, "]},\"timeout_ms\":", Ms(r.timeout));
  return out;
}

std::string EncodeTaskRecord(const TaskRecord& r, absl::string_view fixed) {
  const TaskInfo& t = r.info;
  std::string out;
  out.reserve(fixed.size() + 256);
  out.append(fixed.data(), fixed.size());
  Str(&out, "state", TaskStateName(t.state));
  absl::StrAppend(&out, ",\"attempt\":", t.attempt);
  Key(&out, "output");
  if (t.output.is_null()) {
    out.append("null");
  } else {
    out.append(DumpJson(t.output));
  }
  Str(&out, "error", t.error);
  Str(&out, "error_code", t.error_code);
  Str(&out, "reviewer", t.reviewer);
  absl::StrAppend(&out, ",\"updated_ms\":", absl::ToUnixMillis(t.updated),
                  ",\"started_ms\":", MsOrZero(t.started),
                  ",\"finished_ms\":", MsOrZero(t.finished), ",\"ready_ms\":", MsOrZero(r.ready_at),
                  ",\"log_seq\":", r.log_seq, "}");
  return out;
}

std::string EncodeTaskRecord(const TaskRecord& r) {
  return EncodeTaskRecord(r, EncodeFixedTaskFields(r));
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

std::string EncodeTransition(const TaskRecord& r) {
  const TaskInfo& t = r.info;
  // The error goes last and unescaped: it is the only free text.
  return absl::StrCat("t1|", TaskStateName(t.state), "|", t.attempt, "|",
                      absl::ToUnixMillis(t.updated), "|", MsOrZero(t.started), "|",
                      MsOrZero(r.ready_at), "|", r.log_seq, "|", t.error_code, "|", t.error);
}

absl::Status ApplyTransition(absl::string_view row, TaskRecord* r) {
  std::vector<absl::string_view> f = absl::StrSplit(row, absl::MaxSplits('|', 8));
  auto bad = [] { return absl::DataLossError("task transition row is malformed"); };
  if (f.size() != 9 || f[0] != "t1") return bad();
  auto state = ParseTaskState(f[1]);
  int attempt;
  int64_t updated, started, ready;
  uint64_t log_seq;
  if (!state.ok() || IsTerminal(*state) || !absl::SimpleAtoi(f[2], &attempt) ||
      !absl::SimpleAtoi(f[3], &updated) || !absl::SimpleAtoi(f[4], &started) ||
      !absl::SimpleAtoi(f[5], &ready) || !absl::SimpleAtoi(f[6], &log_seq)) {
    return bad();
  }
  TaskInfo& t = r->info;
  t.state = *state;
  t.attempt = attempt;
  t.updated = absl::FromUnixMillis(updated);
  t.started = started ? absl::FromUnixMillis(started) : absl::InfinitePast();
  r->ready_at = ready ? absl::FromUnixMillis(ready) : absl::InfinitePast();
  r->log_seq = std::max(r->log_seq, log_seq);
  t.error_code = std::string(f[7]);
  t.error = std::string(f[8]);
  return absl::OkStatus();
}

std::string LogKey(uint64_t batch) { return absl::StrFormat("%020d", batch); }

bool ParseLogKey(absl::string_view key, uint64_t* batch) {
  return key.size() == 20 && absl::c_all_of(key, absl::ascii_isdigit) &&
         absl::SimpleAtoi(key, batch);
}

// An entry is "<task id><row length>:<row>": the row's error text may hold
// any byte, so it is delimited by its length.
void AppendLogEntry(std::string* record, absl::string_view task_id, absl::string_view row) {
  absl::StrAppend(record, task_id, row.size(), ":", row);
}

absl::Status ForEachLogEntry(absl::string_view record,
                             const std::function<void(absl::string_view, absl::string_view)>& fn) {
  constexpr size_t kIdLen = 26;
  while (!record.empty()) {
    size_t colon = record.find(':', kIdLen);
    size_t len;
    if (record.size() < kIdLen + 2 || colon == absl::string_view::npos || colon - kIdLen > 10 ||
        !absl::SimpleAtoi(record.substr(kIdLen, colon - kIdLen), &len) ||
        !absl::ascii_isdigit(static_cast<unsigned char>(record[kIdLen])) ||
        len > record.size() - colon - 1) {
      return absl::DataLossError("task transition log record is malformed");
    }
    fn(record.substr(0, kIdLen), record.substr(colon + 1, len));
    record.remove_prefix(colon + 1 + len);
  }
  return absl::OkStatus();
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
