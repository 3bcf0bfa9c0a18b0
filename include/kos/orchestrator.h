// Agent orchestration: signed tasks and DAG plans executed by registered agent
// handlers on a bounded worker pool, with retries, timeouts, cancellation,
// human review, durable state that survives crashes, per-task logs, trace
// spans and the seed's Prometheus metrics.
//
// Every task arrives as a signed envelope (kos/signed_task.h) whose audience
// is the agent that runs it; unsigned, tampered, expired or replayed tasks are
// refused and raise a security event. The envelope payload is the task spec:
//
//   {"input": {...},                 // handed to the handler (default {})
//    "priority": 0,                   // higher runs first
//    "timeout_ms": 30000,             // per attempt; default: agent limit or
//                                     //   agents.defaultTimeout
//    "retry": {"max_attempts": 3, "initial_backoff_ms": 1000, "multiplier": 2,
//              "max_backoff_ms": 60000, "jitter": 0.2,
//              "non_retryable": ["INVALID_ARGUMENT", ...]},
//    "idempotency_key": "...",        // a second task with the same key is
//                                     //   not created; its id is returned
//    "depends_on": ["<task id>", ...],// outputs feed this task's context
//    "review": false,                 // pause for Approve/Reject after success
//    "requires": ["memory:ns/alice/*:read", ...]}  // checked against the
//                                     //   agent's permissions before queueing
//
// Durability: Submit/SubmitPlan return only after the new tasks are stored.
// Later transitions (running, succeeded, ...) are written by one writer
// thread that commits everything pending in one Store batch (group commit,
// see persist_interval) outside the scheduler lock; batches commit in order. Wait() returns only
// once the state it reports is stored. After a crash Open() finds
// interrupted tasks and re-queues (or fails) them; a task whose success was
// stored never runs again, one that finished but whose state was not yet
// stored runs again (at-least-once). With requeue_interrupted = false a
// handler starts only after its "running" state is stored.
#ifndef KOS_ORCHESTRATOR_H_
#define KOS_ORCHESTRATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/agent_config.h"
#include "kos/clock.h"
#include "kos/export.h"
#include "kos/json.h"
#include "kos/logger.h"
#include "kos/rbac.h"
#include "kos/signed_task.h"
#include "kos/store.h"
#include "kos/telemetry.h"

namespace kos {

enum class TaskState {
  kWaiting,  // dependencies not finished
  kQueued,   // ready, waiting for a worker
  kRunning,
  kRetrying,        // failed an attempt; queued again after a backoff
  kAwaitingReview,  // handler succeeded; waiting for Approve/Reject
  kSucceeded,
  kFailed,
  kCancelled,
  kTimedOut,
};
KOS_EXPORT const char* TaskStateName(TaskState s);  // "queued", "running", ...
KOS_EXPORT absl::StatusOr<TaskState> ParseTaskState(absl::string_view name);
KOS_EXPORT bool IsTerminal(TaskState s);

// The audience of an envelope carrying a whole plan (SubmitSignedPlan). No
// agent can have this name ('.' is not allowed in agent names).
inline constexpr char kPlanAudience[] = "kos.plan";

struct RetryPolicy {
  int max_attempts = 1;
  absl::Duration initial_backoff = absl::Seconds(1);
  double multiplier = 2.0;
  absl::Duration max_backoff = absl::Minutes(1);
  double jitter = 0.2;  // +/- this fraction of each backoff, uniformly
  std::vector<absl::StatusCode> non_retryable = {
      absl::StatusCode::kInvalidArgument, absl::StatusCode::kPermissionDenied,
      absl::StatusCode::kUnauthenticated, absl::StatusCode::kFailedPrecondition,
      absl::StatusCode::kNotFound,        absl::StatusCode::kCancelled};
};

struct KOS_EXPORT TaskInfo {
  std::string id;
  std::string plan_id;  // "" for a lone task
  std::string agent;
  std::string issuer;
  std::string parent_id;
  TaskState state = TaskState::kQueued;
  int attempt = 0;  // attempts started so far
  int priority = 0;
  Json input = Json::object();
  Json output;             // handler result once succeeded
  std::string error;       // last error message
  std::string error_code;  // "DEADLINE_EXCEEDED", ...
  std::vector<std::string> depends_on;
  std::string idempotency_key;
  bool review = false;
  std::string reviewer;  // who approved or rejected
  absl::Time created, updated;
  absl::Time started = absl::InfinitePast();  // latest attempt
  absl::Time finished = absl::InfinitePast();
  // When the task last became ready to run (queued for a worker); kept in
  // memory only (InfinitePast in records read back from the store).
  absl::Time queued_at = absl::InfinitePast();
  // W3C trace context: 32 hex trace id shared by a plan, 16 hex span ids.
  std::string trace_id, span_id, parent_span_id;
  std::string traceparent() const;  // "00-<trace>-<span>-01"
};

struct TaskLogLine {
  std::string task_id;
  uint64_t seq = 0;  // 1, 2, ... per task
  absl::Time time;
  LogLevel level = LogLevel::kInfo;
  std::string message;
  Json fields = Json::object();
};

class Orchestrator;

// What a handler sees of its task. Valid only during the handler call; the
// cancellation methods are thread-safe (the handler may hand the context to
// its own threads for the duration of the call).
class KOS_EXPORT TaskContext {
 public:
  const std::string& task_id() const;
  const std::string& agent() const;
  const Json& input() const;
  int attempt() const;
  const TaskInfo& info() const;
  // Outputs of the tasks this one depends on, by task id.
  const std::map<std::string, Json>& dependency_outputs() const;
  // True once the task was cancelled, timed out or the orchestrator is
  // shutting down. Handlers should check it and return promptly.
  bool cancelled() const;
  // Blocks up to `timeout` (real time) or until cancelled; true if cancelled.
  bool WaitForCancel(absl::Duration timeout) const;
  // The attempt's deadline on the orchestrator's clock.
  absl::Time deadline() const;
  // Appends a line to the task's log (durable, streamed to subscribers).
  void Log(LogLevel level, absl::string_view message, Json fields = Json::object());
  // OK if this agent's permissions allow `action` on `resource`.
  absl::Status Authorize(absl::string_view resource, absl::string_view action) const;
  // Creates a child task for `agent` signed with the orchestrator's subtask
  // signer (kPlanner-style run-time planning). Returns its id.
  // FAILED_PRECONDITION if no subtask signer is configured.
  absl::StatusOr<std::string> AddSubtask(absl::string_view agent, Json payload);

 private:
  friend class Orchestrator;
  struct Impl;
  explicit TaskContext(Impl* impl) : impl_(impl) {}
  Impl* impl_;
};

// A handler returns the task's output (any JSON) or an error; the error code
// decides whether the attempt is retried (RetryPolicy::non_retryable).
using AgentHandler = std::function<absl::StatusOr<Json>(TaskContext&)>;

struct OrchestratorOptions {
  // Durable task state, logs and idempotency keys. Required; not owned.
  Store* store = nullptr;
  // Trusted signing keys for task envelopes. Required; not owned.
  KeyRegistry* keys = nullptr;
  // Where accepted nonces are recorded; default: `store`. Not owned.
  Store* nonce_store = nullptr;
  // Signs tasks created by handlers with AddSubtask; optional. Not owned.
  TaskSigner* subtask_signer = nullptr;
  // Agent permissions; optional (no checks without it). Not owned.
  const AccessController* access = nullptr;
  // Metrics (agent_tasks_total, agent_task_duration_seconds, active_agents,
  // kos_task_queue_depth) and the agents/security log streams; optional.
  Telemetry* telemetry = nullptr;
  // Called for every refused or suspicious task (bad signature, replay,
  // permission denial), e.g. to feed an IntrusionDetector. Optional.
  std::function<void(absl::string_view event, const Json& fields)> on_security_event;
  // The configured agents; tasks for other agents are refused.
  std::vector<AgentProfile> agents;
  // agents.maxConcurrent: worker threads, hence the most handlers running at once.
  int max_concurrent = 10;
  // agents.defaultTimeout: per attempt, unless the task or agent says otherwise.
  absl::Duration default_timeout = absl::Minutes(5);
  // Tolerated skew when verifying envelopes.
  absl::Duration allowed_skew = absl::Seconds(30);
  // What recovery does with a task that was running when the process died:
  // run it again (the interrupted attempt does not count against
  // max_attempts) or fail it.
  bool requeue_interrupted = true;
  // How often the timer checks deadlines and backoffs (real time). Timeouts
  // and retries therefore also work with a FakeClock that a test advances.
  absl::Duration poll_interval = absl::Milliseconds(1);
  // Group commit window: transitions nobody waits for (running, succeeded,
  // ...) are stored together at most this long after they happen, or sooner
  // when 1024 are pending, a Wait() needs one, or a task is submitted. A crash
  // loses at most this window (those tasks run again after recovery).
  absl::Duration persist_interval = absl::Milliseconds(2);
  // Log lines kept per task; further lines are counted, not stored.
  size_t max_log_lines_per_task = 10000;
  // Threads that verify the envelopes of a plan of 64 or more tasks in
  // parallel (signature checks dominate SubmitPlan). 1: the caller's thread
  // only. on_security_event may then be called from these threads at once.
  int verify_threads = 2;
  // Largest payload (canonical JSON bytes) of a SubmitSignedPlan envelope.
  // Single-task envelopes keep the TaskVerifier default (64 KiB).
  size_t max_signed_plan_bytes = 16 << 20;
  Clock* clock = Clock::Real();
};

struct TaskFilter {
  std::string agent;    // "" any
  std::string plan_id;  // "" any
  std::optional<TaskState> state;
  size_t limit = 100;
};

// Thread-safe.
class KOS_EXPORT Orchestrator {
 public:
  // Loads durable state (recovering interrupted tasks) and starts the workers.
  static absl::StatusOr<std::unique_ptr<Orchestrator>> Open(const OrchestratorOptions& options);
  // Shuts down (cancelling running handlers) if Shutdown() was not called.
  ~Orchestrator();

  // Registers (or replaces) the handler of a configured agent. Tasks of an
  // agent without a handler stay queued until one is registered.
  absl::Status RegisterHandler(absl::string_view agent, AgentHandler handler);

  // Verifies and accepts one signed task; returns its id (for a repeated
  // idempotency key, the id of the first task). UNAUTHENTICATED for a bad,
  // expired or replayed envelope; INVALID_ARGUMENT for a bad spec;
  // PERMISSION_DENIED if the issuer may not execute the agent or the agent
  // lacks a required permission; NOT_FOUND for an unknown dependency.
  absl::StatusOr<std::string> Submit(absl::string_view envelope);
  // Accepts a DAG of signed tasks atomically (all or none); dependencies may
  // name tasks of the plan or existing tasks; cycles are INVALID_ARGUMENT.
  // Returns the plan id.
  absl::StatusOr<std::string> SubmitPlan(const std::vector<std::string>& envelopes);
  // Accepts a DAG carried by ONE signed envelope: one signature check and
  // one nonce for the whole plan, so a plan's tasks are admitted at the cost
  // of parsing their specs (SubmitPlan verifies one envelope per task). The
  // envelope's audience is kPlanAudience and its payload is
  //   {"tasks": [{"agent": "kExecutor", "id": "<ULID>", ...task spec...}, ...]}
  // with 1..100000 entries, each at most 64 KiB like a lone task: a task spec
  // plus the agent that runs it and an optional id (default: a new ULID) that
  // depends_on of the same plan may name. The envelope's task id is the plan
  // id and its parent (if any) the tasks' parent. The issuer must be allowed
  // to execute every agent named. A replayed envelope is UNAUTHENTICATED;
  // otherwise the errors of SubmitPlan, prefixed with "plan task <i>: ".
  absl::StatusOr<std::string> SubmitSignedPlan(absl::string_view envelope);

  absl::StatusOr<TaskInfo> Get(absl::string_view task_id);
  // Blocks (real time) until the task is terminal or awaiting review.
  // DEADLINE_EXCEEDED if `timeout` passes first.
  absl::StatusOr<TaskInfo> Wait(absl::string_view task_id, absl::Duration timeout);
  absl::StatusOr<std::vector<TaskInfo>> List(const TaskFilter& filter);
  absl::StatusOr<std::vector<TaskInfo>> PlanTasks(absl::string_view plan_id);

  // Cancels a task (and, transitively, its dependants). A running handler
  // sees TaskContext::cancelled() at once. FAILED_PRECONDITION if terminal.
  absl::Status Cancel(absl::string_view task_id);
  absl::Status CancelPlan(absl::string_view plan_id);
  // Human-in-the-loop: resolve a task in kAwaitingReview.
  absl::Status Approve(absl::string_view task_id, absl::string_view reviewer);
  absl::Status Reject(absl::string_view task_id, absl::string_view reviewer,
                      absl::string_view reason);

  // Log lines with seq > after_seq, oldest first.
  absl::StatusOr<std::vector<TaskLogLine>> Logs(absl::string_view task_id, uint64_t after_seq = 0,
                                                size_t limit = 1000);
  // Calls `fn` for every new log line of `task_id` ("" for all tasks) until
  // Unsubscribe. `fn` runs on the writing thread and must be quick.
  uint64_t Subscribe(absl::string_view task_id, std::function<void(const TaskLogLine&)> fn);
  void Unsubscribe(uint64_t subscription);

  // Stops taking work, cancels running handlers, waits up to `grace` for
  // them to return, and stops the workers. Queued tasks stay queued in the
  // Store for the next Open().
  absl::Status Shutdown(absl::Duration grace = absl::Seconds(10));

  struct Stats {
    int running = 0;
    int queued = 0;
    int max_running_seen = 0;
    uint64_t started = 0;
    uint64_t recovered = 0;
  };
  Stats stats() const;

 private:
  friend class TaskContext;
  class Impl;
  explicit Orchestrator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kos

#endif  // KOS_ORCHESTRATOR_H_
