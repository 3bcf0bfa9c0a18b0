#include "grpc/task_convert.h"

#include "absl/strings/str_cat.h"
#include "kos/json.h"

namespace kos::server::grpc_impl {

int64_t UnixMillisOrZero(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return 0;
  return absl::ToUnixMillis(t);
}

void FillTask(const TaskInfo& t, ::kos::v1::Task* out) {
  out->set_id(t.id);
  out->set_plan_id(t.plan_id);
  out->set_agent(t.agent);
  out->set_issuer(t.issuer);
  out->set_state(TaskStateName(t.state));
  out->set_attempt(t.attempt);
  out->set_priority(t.priority);
  out->set_input_json(DumpJson(t.input));
  if (!t.output.is_null()) out->set_output_json(DumpJson(t.output));
  out->set_error(t.error);
  out->set_error_code(t.error_code);
  for (const auto& d : t.depends_on) out->add_depends_on(d);
  out->set_created_ms(UnixMillisOrZero(t.created));
  out->set_updated_ms(UnixMillisOrZero(t.updated));
  out->set_finished_ms(UnixMillisOrZero(t.finished));
  // TaskInfo::traceparent() is not exported from libkos; same format.
  if (!t.trace_id.empty() && !t.span_id.empty()) {
    out->set_traceparent(absl::StrCat("00-", t.trace_id, "-", t.span_id, "-01"));
  }
}

void FillLogLine(const TaskLogLine& l, ::kos::v1::LogLine* out) {
  out->set_task_id(l.task_id);
  out->set_seq(l.seq);
  out->set_time_ms(UnixMillisOrZero(l.time));
  out->set_level(LogLevelName(l.level));
  out->set_message(l.message);
  out->set_fields_json(DumpJson(l.fields));
}

}  // namespace kos::server::grpc_impl
