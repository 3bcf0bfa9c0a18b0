// Private: the durable form of tasks and the parsing of signed task payloads.
#ifndef KOS_SRC_ORCHESTRATOR_TASK_CODEC_H_
#define KOS_SRC_ORCHESTRATOR_TASK_CODEC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kos/orchestrator.h"

namespace kos::orchestrator_internal {

inline constexpr char kTasks[] = "tasks";
inline constexpr char kTaskLogs[] = "task_logs";
inline constexpr char kIdempotency[] = "task_idempotency";
inline constexpr char kPlans[] = "plans";
// The transition log: one record per writer batch (key: LogKey(batch))
// holding the compact rows of every queued, running or retrying transition
// of that batch, written instead of whole records. The record in kTasks is
// rewritten at submission, on review and at the final state; a log record is
// deleted once every row in it is superseded.
inline constexpr char kTransitionLog[] = "task_transition_log";
// Log records recovery could not read, moved here (same key and bytes) for
// inspection instead of being deleted.
inline constexpr char kTransitionLogDamaged[] = "task_transition_log_damaged";

// The task spec carried in a signed envelope's payload.
struct TaskSpec {
  Json input = Json::object();
  int priority = 0;
  absl::Duration timeout = absl::ZeroDuration();  // zero: agent/default
  RetryPolicy retry;
  std::string idempotency_key;
  std::vector<std::string> depends_on;
  bool review = false;
  std::vector<std::string> requires_permissions;
};

absl::StatusOr<TaskSpec> ParseTaskSpec(const Json& payload);

// Everything the orchestrator persists for one task.
struct TaskRecord {
  TaskInfo info;
  RetryPolicy retry;
  absl::Duration timeout = absl::ZeroDuration();
  absl::Time ready_at = absl::InfinitePast();  // kRetrying: when to run again
  uint64_t log_seq = 0;                        // last log line written
};

std::string EncodeTaskRecord(const TaskRecord& r);
// The same record in two parts: the fields fixed at submission (an open JSON
// object, encoded once per task and kept) and then, per write, the fields
// that change. EncodeTaskRecord(r, EncodeFixedTaskFields(r)) equals
// EncodeTaskRecord(r).
std::string EncodeFixedTaskFields(const TaskRecord& r);
std::string EncodeTaskRecord(const TaskRecord& r, absl::string_view fixed);
absl::StatusOr<TaskRecord> DecodeTaskRecord(absl::string_view text);

// The fields a queued, running or retrying transition changes, as one short
// line ("t1|state|attempt|updated|started|ready|log_seq|error_code|error").
std::string EncodeTransition(const TaskRecord& r);
// Applies a row written by EncodeTransition to `r`. DATA_LOSS if malformed
// (then `r` is unchanged).
absl::Status ApplyTransition(absl::string_view row, TaskRecord* r);

// Log record keys: the batch number, zero-padded so keys sort in batch order.
std::string LogKey(uint64_t batch);
// The batch number of a log key; false if `key` is not one.
bool ParseLogKey(absl::string_view key, uint64_t* batch);
// Appends one entry (a task id and its EncodeTransition row) to a log record.
void AppendLogEntry(std::string* record, absl::string_view task_id, absl::string_view row);
// Calls `fn(task_id, row)` for each entry of a log record, in order.
// DATA_LOSS if the record is malformed (entries before the damage were
// already passed to `fn`).
absl::Status ForEachLogEntry(absl::string_view record,
                             const std::function<void(absl::string_view, absl::string_view)>& fn);

Json TaskLogLineToJson(const TaskLogLine& l);
absl::StatusOr<TaskLogLine> TaskLogLineFromJson(absl::string_view text);
std::string TaskLogKey(absl::string_view task_id, uint64_t seq);

}  // namespace kos::orchestrator_internal

#endif  // KOS_SRC_ORCHESTRATOR_TASK_CODEC_H_
