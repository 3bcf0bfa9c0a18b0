#include "kos/orchestrator.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kos/crypto.h"
#include "kos/id.h"
#include "kos/status.h"
#include "orchestrator/task_codec.h"

namespace kos {

using orchestrator_internal::AppendLogEntry;
using orchestrator_internal::ApplyTransition;
using orchestrator_internal::DecodeTaskRecord;
using orchestrator_internal::EncodeFixedTaskFields;
using orchestrator_internal::EncodeTaskRecord;
using orchestrator_internal::EncodeTransition;
using orchestrator_internal::ForEachLogEntry;
using orchestrator_internal::kIdempotency;
using orchestrator_internal::kPlans;
using orchestrator_internal::kTaskLogs;
using orchestrator_internal::kTasks;
using orchestrator_internal::kTransitionLog;
using orchestrator_internal::kTransitionLogDamaged;
using orchestrator_internal::LogKey;
using orchestrator_internal::ParseLogKey;
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

  // Made ready for the next attempt; only between attempts.
  void Reset() {
    absl::MutexLock l(&mu);
    reason = StopReason::kNone;
    flag.store(false, std::memory_order_release);
  }
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

// One configured agent. The profile and verifier are fixed after Init; the
// handler and the running count are guarded by Orchestrator::Impl::mu_.
struct AgentSlot {
  AgentProfile profile;
  std::unique_ptr<TaskVerifier> verifier;
  // Shared so a worker takes it with one reference count, not a copy.
  std::shared_ptr<const AgentHandler> handler;
  int running = 0;
};

struct Runtime {
  TaskRecord rec;
  // EncodeFixedTaskFields(rec), kept so a transition encodes only what changed.
  std::string fixed;
  AgentSlot* slot = nullptr;
  int pending = 0;  // unfinished dependencies
  // The running worker's cancellation state; null unless running.
  CancelState* cancel = nullptr;
  absl::Time deadline = absl::InfiniteFuture();
  uint64_t seq = 0;  // FIFO order among equal priorities
  // Group commit: the batch that carries this task's latest state, and
  // whether that state still waits in the dirty list.
  uint64_t persist_batch = 0;
  bool dirty = false;
  // The transition-log record holding this task's latest stored row (0:
  // none). Only the writer thread (and recovery, before it starts) uses it.
  uint64_t log_batch = 0;
};

using ReadyKey = std::tuple<int, uint64_t, Runtime*>;  // (-priority, seq, task)

// A durable insert handed to the writer thread; the submitter waits for it.
struct InsertRequest {
  std::vector<WriteOp> ops;
  absl::StatusOr<std::vector<WriteResult>> result = absl::UnknownError("not committed");
  bool done = false;
};

}  // namespace

struct TaskContext::Impl {
  class Orchestrator::Impl* orch = nullptr;
  // The running task's record: nothing writes it while its handler runs.
  const TaskInfo* info = nullptr;
  std::map<std::string, Json> deps;
  CancelState* cancel = nullptr;
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
      AgentSlot& slot = agents_[a.name];
      slot.profile = a;
      slot.verifier = std::move(v);
    }
    {
      TaskVerifierOptions vo;
      vo.keys = o_.keys;
      vo.nonce_store = o_.nonce_store;
      vo.clock = o_.clock;
      vo.allowed_skew = o_.allowed_skew;
      vo.audience = kPlanAudience;
      vo.max_payload_bytes = o_.max_signed_plan_bytes;
      KOS_ASSIGN_OR_RETURN(plan_verifier_, TaskVerifier::Open(vo));
    }
    if (o_.telemetry != nullptr) {
      queue_depth_ = o_.telemetry->metrics()
                         ->GetGauge("kos_task_queue_depth", "Tasks queued or waiting for a retry.")
                         .value();
    }
    KOS_RETURN_IF_ERROR(Recover());
    writer_ = std::thread([this] { WriterLoop(); });
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
    auto ait = agents_.find(agent);
    if (ait == agents_.end()) {
      SecurityEvent("task.rejected", {{"reason", "unknown agent"}, {"agent", agent.substr(0, 64)}});
      return absl::NotFoundError(
          absl::StrCat("agent '", agent.substr(0, 64), "' is not configured"));
    }
    if (!ait->second.profile.enabled) {
      return absl::FailedPreconditionError(absl::StrCat("agent '", agent, "' is disabled"));
    }
    auto verified = ait->second.verifier->Verify(envelope);
    if (!verified.ok()) {
      SecurityEvent("task.rejected",
                    {{"reason", std::string(verified.status().message())}, {"agent", agent}});
      return verified.status();
    }
    auto spec = ParseTaskSpec(verified->payload);
    if (!spec.ok()) return spec.status();
    return BuildRecord(agent, verified->issuer, std::move(verified->task_id),
                       verified->parent_task_id.value_or(""), *std::move(spec));
  }

  // The record of a verified task, after the permission checks.
  absl::StatusOr<TaskRecord> BuildRecord(const std::string& agent, const std::string& issuer,
                                         std::string task_id, std::string parent_id,
                                         TaskSpec spec) {
    if (o_.access != nullptr) {
      std::string subject =
          issuer.find(':') == std::string::npos ? absl::StrCat("agent:", issuer) : issuer;
      absl::Status s = o_.access->Check(subject, absl::StrCat("agents:", agent), "execute");
      if (!s.ok()) {
        SecurityEvent("task.denied", {{"issuer", issuer}, {"agent", agent}});
        return absl::PermissionDeniedError(
            absl::StrCat("'", subject, "' may not execute agent '", agent, "'"));
      }
      for (const std::string& req : spec.requires_permissions) {
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
    t.id = std::move(task_id);
    t.agent = agent;
    t.issuer = issuer;
    t.parent_id = std::move(parent_id);
    t.state = TaskState::kQueued;
    t.priority = spec.priority;
    t.input = std::move(spec.input);
    t.depends_on = std::move(spec.depends_on);
    t.idempotency_key = std::move(spec.idempotency_key);
    t.review = spec.review;
    t.created = t.updated = o_.clock->Now();
    r.retry = std::move(spec.retry);
    r.timeout = spec.timeout;
    return r;
  }

  // One signed envelope carrying a whole plan: one signature check and one
  // nonce for all of its tasks.
  absl::StatusOr<std::string> SubmitSignedPlan(absl::string_view envelope) {
    auto verified = plan_verifier_->Verify(envelope);
    if (!verified.ok()) {
      SecurityEvent("task.rejected", {{"reason", std::string(verified.status().message())},
                                      {"agent", kPlanAudience}});
      return verified.status();
    }
    const Json& p = verified->payload;
    if (!p.is_object() || p.size() != 1 || !p.contains("tasks") || !p["tasks"].is_array() ||
        p["tasks"].empty() || p["tasks"].size() > 100000) {
      return absl::InvalidArgumentError(
          "plan payload must be {\"tasks\": [...]} with 1..100000 task specs");
    }
    if (!IsValidId(verified->task_id)) {
      return absl::InvalidArgumentError("a signed plan's task id (its plan id) must be a ULID");
    }
    std::string parent = verified->parent_task_id.value_or("");
    std::vector<TaskRecord> recs;
    recs.reserve(p["tasks"].size());
    // A plan task may carry no more than a task signed on its own; an
    // envelope within that size cannot hold a larger one, so small plans
    // skip the per-task measure.
    const size_t single_limit = TaskVerifierOptions().max_payload_bytes;
    const bool measure = envelope.size() > single_limit;
    size_t i = 0;
    for (const Json& entry : p["tasks"]) {
      if (measure) {
        const size_t n = DumpJson(entry).size();
        if (n > single_limit) {
          return absl::InvalidArgumentError(absl::StrCat("plan task ", i, ": ", n,
                                                         " bytes, more than the ", single_limit,
                                                         " a task signed on its own may carry"));
        }
      }
      auto rec = AcceptPlanEntry(entry, verified->issuer, parent);
      if (!rec.ok()) {
        return absl::Status(rec.status().code(),
                            absl::StrCat("plan task ", i, ": ", rec.status().message()));
      }
      recs.push_back(*std::move(rec));
      ++i;
    }
    KOS_RETURN_IF_ERROR(Insert(std::move(recs), verified->task_id).status());
    return verified->task_id;
  }

  absl::StatusOr<TaskRecord> AcceptPlanEntry(const Json& entry, const std::string& issuer,
                                             const std::string& parent) {
    if (!entry.is_object() || !entry.contains("agent") || !entry["agent"].is_string()) {
      return absl::InvalidArgumentError("expected an object with an \"agent\" string");
    }
    std::string agent = entry["agent"].get<std::string>();
    auto ait = agents_.find(agent);
    if (ait == agents_.end()) {
      return absl::NotFoundError(
          absl::StrCat("agent '", agent.substr(0, 64), "' is not configured"));
    }
    if (!ait->second.profile.enabled) {
      return absl::FailedPreconditionError(absl::StrCat("agent '", agent, "' is disabled"));
    }
    std::string id;
    if (entry.contains("id")) {
      if (!entry["id"].is_string() || !IsValidId(entry["id"].get<std::string>())) {
        return absl::InvalidArgumentError("id: expected a task id (ULID)");
      }
      id = entry["id"].get<std::string>();
    } else {
      id = ids_.Next();  // ordered, so the plan's tasks keep their FIFO order in the store
    }
    Json spec_json = entry;
    spec_json.erase("agent");
    spec_json.erase("id");
    KOS_ASSIGN_OR_RETURN(TaskSpec spec, ParseTaskSpec(spec_json));
    return BuildRecord(agent, issuer, std::move(id), parent, std::move(spec));
  }

  absl::StatusOr<std::string> Submit(absl::string_view envelope) {
    KOS_ASSIGN_OR_RETURN(TaskRecord r, Accept(envelope));
    std::vector<TaskRecord> recs;
    recs.push_back(std::move(r));
    KOS_ASSIGN_OR_RETURN(std::vector<std::string> ids, Insert(std::move(recs), ""));
    return ids.front();
  }

  absl::StatusOr<std::string> SubmitPlan(const std::vector<std::string>& envelopes) {
    if (envelopes.empty() || envelopes.size() > 100000) {
      return absl::InvalidArgumentError("a plan holds 1..100000 tasks");
    }
    std::vector<std::optional<absl::StatusOr<TaskRecord>>> accepted(envelopes.size());
    // Verification (an Ed25519 check each) dominates accepting a plan and
    // needs no lock, so large plans verify on a few threads.
    size_t threads = envelopes.size() >= 64 ? std::min<size_t>(o_.verify_threads, 64) : 1;
    std::atomic<size_t> next{0};
    auto verify = [&] {
      for (size_t i = next++; i < envelopes.size(); i = next++) accepted[i] = Accept(envelopes[i]);
    };
    std::vector<std::thread> helpers;
    for (size_t i = 1; i < threads; ++i) helpers.emplace_back(verify);
    verify();
    for (auto& h : helpers) h.join();
    std::vector<TaskRecord> recs;
    recs.reserve(envelopes.size());
    for (size_t i = 0; i < envelopes.size(); ++i) {
      absl::StatusOr<TaskRecord>& r = *accepted[i];
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

  // Stores new tasks atomically (durable before this returns) and then
  // schedules them. The scheduler lock is not held while the store works.
  absl::StatusOr<std::vector<std::string>> Insert(std::vector<TaskRecord> recs,
                                                  const std::string& plan_id) {
    absl::flat_hash_map<std::string, size_t> in_plan;
    for (size_t i = 0; i < recs.size(); ++i) {
      if (!in_plan.emplace(recs[i].info.id, i).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("task id ", recs[i].info.id, " appears twice"));
      }
    }
    // Each dependency outside the plan is looked up once, here; the states
    // found are handed to ResolveDependenciesLocked, which trusts those that
    // were already final.
    absl::flat_hash_map<std::string, TaskState> outside;
    std::vector<std::vector<size_t>> plan_deps(recs.size());
    std::string trace = HexId(16);
    // One draw of random bytes for every span id of the batch (a system
    // call per task showed up in the accept profile).
    std::string span_bytes = RandomBytes(8 * recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      TaskInfo& t = recs[i].info;
      t.plan_id = plan_id;
      t.trace_id = trace;
      t.span_id = absl::BytesToHexString(absl::string_view(span_bytes).substr(8 * i, 8));
      if (!t.parent_id.empty()) {
        auto parent = Get(t.parent_id);
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
        if (outside.count(d)) continue;
        auto dep = Get(d);
        if (!dep.ok()) {
          return absl::NotFoundError(absl::StrCat("task ", t.id, " depends on unknown task ", d));
        }
        outside[d] = dep->state;
      }
    }
    KOS_RETURN_IF_ERROR(CheckAcyclic(recs, plan_deps));
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return absl::UnavailableError("orchestrator is shutting down");
    }

    std::vector<WriteOp> ops;
    std::vector<std::string> fixed(recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      TaskRecord& r = recs[i];
      if (!r.info.idempotency_key.empty()) {
        ops.push_back(WriteOp::Put(kIdempotency, r.info.idempotency_key, r.info.id, 0));
      }
      r.info.state = r.info.depends_on.empty() ? TaskState::kQueued : TaskState::kWaiting;
      fixed[i] = EncodeFixedTaskFields(r);
      ops.push_back(WriteOp::Put(kTasks, r.info.id, EncodeTaskRecord(r, fixed[i]), 0));
    }
    if (!plan_id.empty()) {
      Json ids = Json::array();
      for (const TaskRecord& r : recs) ids.push_back(r.info.id);
      ops.push_back(WriteOp::Put(kPlans, plan_id, DumpJson({{"tasks", ids}}), 0));
    }
    auto committed = CommitDurably(std::move(ops));
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
    ids.reserve(recs.size());
    absl::MutexLock l(&mu_);
    std::vector<Runtime*> added;
    added.reserve(recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      auto rt = std::make_unique<Runtime>();
      rt->slot = &agents_.at(recs[i].info.agent);
      rt->rec = std::move(recs[i]);
      rt->fixed = std::move(fixed[i]);
      ids.push_back(rt->rec.info.id);
      added.push_back(rt.get());
      absl::string_view key = rt->rec.info.id;
      live_[key] = std::move(rt);
    }
    // Count unfinished dependencies now that every task of the batch is live.
    for (Runtime* rt : added) {
      if (o_.telemetry != nullptr) {
        TraceLog(rt->rec.info, "task.accepted",
                 {{"plan", plan_id}, {"issuer", rt->rec.info.issuer}});
      }
      ResolveDependenciesLocked(rt, &outside);
    }
    UpdateGaugesLocked();
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

  // ---- durability (group commit) ----------------------------------------
  //
  // A transition changes the in-memory record and marks the task dirty; the
  // writer thread turns every dirty task into one put of its latest state and
  // commits them all in one Store batch, outside the scheduler lock. A task
  // that went queued -> running -> succeeded while the previous batch was
  // committing is written once. Batches commit in order, so a stored state
  // never runs ahead of a dependency's stored state. New tasks go through
  // the same writer (CommitDurably) and their submitters wait for the commit.

  void MarkDirtyLocked(Runtime* rt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rt->rec.info.updated = o_.clock->Now();
    rt->persist_batch = open_batch_;
    if (rt->dirty) return;
    rt->dirty = true;
    dirty_.push_back(rt);
    if (dirty_.size() == 1 || dirty_.size() == kWakeBatch) writer_cv_.Signal();
  }

  // Makes the writer commit now rather than at the end of its window; the
  // caller waits on state_cv_ and calls DoneWaitingForDurability after.
  void WaitingForDurabilityLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++durability_waiters_;
    writer_cv_.Signal();
  }
  void DoneWaitingForDurabilityLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    --durability_waiters_;
  }

  bool DurableLocked(const Runtime* rt) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !rt->dirty && rt->persist_batch <= durable_batch_;
  }

  absl::StatusOr<std::vector<WriteResult>> CommitDurably(std::vector<WriteOp> ops) {
    InsertRequest req;
    req.ops = std::move(ops);
    {
      absl::MutexLock l(&mu_);
      if (!writer_stop_) {
        inserts_.push_back(&req);
        writer_cv_.Signal();
        while (!req.done) commit_cv_.Wait(&mu_);
        return std::move(req.result);
      }
    }
    return o_.store->Commit(req.ops);
  }

  // True for the states a compact transition-log row can carry: they change
  // none of the fields only the full record holds (output, reviewer, ...).
  static bool CompactState(TaskState s) {
    return s == TaskState::kQueued || s == TaskState::kRunning || s == TaskState::kRetrying;
  }

  void WriterLoop() {
    std::vector<Runtime*> batch;
    std::vector<Runtime*> final_recs;  // terminal: encoded outside the lock
    std::vector<InsertRequest*> inserts;
    std::vector<WriteOp> ops;
    std::vector<std::unique_ptr<Runtime>> released;
    std::string log_record;
    for (;;) {
      uint64_t b;
      {
        absl::MutexLock l(&mu_);
        while (dirty_.empty() && inserts_.empty() && !writer_stop_) writer_cv_.Wait(&mu_);
        // Nobody waits for these transitions: let more gather for up to
        // persist_interval (one wake-up per window instead of one per task).
        if (inserts_.empty() && !writer_stop_ && durability_waiters_ == 0 &&
            dirty_.size() < kWakeBatch) {
          writer_cv_.WaitWithTimeout(&mu_, o_.persist_interval);
        }
        if (dirty_.empty() && inserts_.empty()) {
          if (writer_stop_) return;  // stopped, nothing left
          continue;
        }
        b = open_batch_++;
        batch.clear();
        batch.swap(dirty_);
        inserts.clear();
        inserts.swap(inserts_);
        ops.clear();
        ops.reserve(batch.size() + 1);
        final_recs.clear();
        log_record.clear();
        for (Runtime* rt : batch) {
          rt->dirty = false;
          TaskState st = rt->rec.info.state;
          if (IsTerminal(st)) {
            // Nothing changes a finished task, and only this thread releases
            // it: its record can be encoded after the lock is dropped.
            final_recs.push_back(rt);
          } else if (CompactState(st)) {
            AppendLogEntry(&log_record, rt->rec.info.id, EncodeTransition(rt->rec));
            SupersedeLogRow(rt, next_log_batch_);
            ++log_live_[next_log_batch_];
            // Rows carry error texts: keep each record well under the
            // Store's value limit by starting a new one.
            if (log_record.size() >= kLogRecordBytes) FlushLogRecord(&log_record, &ops);
          } else {
            AddRecordOps(rt, &ops);
          }
        }
      }
      for (Runtime* rt : final_recs) AddRecordOps(rt, &ops);
      // The batch's queued/running/retrying transitions: one put (per MiB).
      if (!log_record.empty()) FlushLogRecord(&log_record, &ops);
      for (uint64_t d : log_deletes_) ops.push_back(WriteOp::Delete(kTransitionLog, LogKey(d)));
      absl::Status s = CommitBatch(inserts, &ops);
      if (s.ok()) log_deletes_.clear();  // else they go out with the next batch
      {
        absl::MutexLock l(&mu_);
        for (InsertRequest* r : inserts) r->done = true;
        if (!s.ok()) {
          SystemLog(LogLevel::kError, "task.persist_failed",
                    {{"tasks", batch.size()}, {"error", std::string(s.message())}});
          if (!writer_stop_) {
            // The in-memory state stays authoritative; the states go out again
            // with the next batch, after a pause so a failing store is not
            // hammered.
            for (Runtime* rt : batch) {
              if (!rt->dirty) MarkDirtyLocked(rt);
            }
            writer_cv_.WaitWithTimeout(&mu_, o_.poll_interval);
          }
        }
        durable_batch_ = b;
        for (auto it = finished_.begin(); it != finished_.end();) {
          auto cur = it++;
          if (DurableLocked(cur->second.get())) {
            released.push_back(std::move(cur->second));
            finished_.erase(cur);
          }
        }
        commit_cv_.SignalAll();
        state_cv_.SignalAll();
      }
      released.clear();  // frees the records outside the lock
    }
  }

  void FlushLogRecord(std::string* record, std::vector<WriteOp>* ops) {
    ops->push_back(WriteOp::Put(kTransitionLog, LogKey(next_log_batch_++), std::move(*record)));
    record->clear();
  }

  // The full record of `rt`; it supersedes the task's transition-log row.
  void AddRecordOps(Runtime* rt, std::vector<WriteOp>* ops) {
    ops->push_back(WriteOp::Put(kTasks, rt->rec.info.id, EncodeTaskRecord(rt->rec, rt->fixed)));
    SupersedeLogRow(rt, 0);
  }

  // `rt`'s latest log row moves to batch `to` (0: none). A log record none
  // of whose rows is the latest of a task any more is deleted, in the same
  // commit as what superseded its last row (or a later one if that fails).
  void SupersedeLogRow(Runtime* rt, uint64_t to) {
    uint64_t from = rt->log_batch;
    rt->log_batch = to;
    if (from == 0) return;
    auto it = log_live_.find(from);
    if (it != log_live_.end() && --it->second == 0) {
      log_live_.erase(it);
      log_deletes_.push_back(from);
    }
  }

  // Commits the inserts and the transition puts in one batch. If that fails,
  // each insert is committed alone (one submitter's conflict must not fail
  // another's) and so are the transitions, whose status is returned.
  absl::Status CommitBatch(const std::vector<InsertRequest*>& inserts, std::vector<WriteOp>* puts) {
    if (inserts.empty()) return puts->empty() ? absl::OkStatus() : o_.store->Commit(*puts).status();
    std::vector<WriteOp> all;
    for (InsertRequest* r : inserts) {
      all.insert(all.end(), std::make_move_iterator(r->ops.begin()),
                 std::make_move_iterator(r->ops.end()));
    }
    size_t insert_ops = all.size();
    all.insert(all.end(), std::make_move_iterator(puts->begin()),
               std::make_move_iterator(puts->end()));
    auto res = o_.store->Commit(all);
    if (res.ok()) {
      size_t at = 0;
      for (InsertRequest* r : inserts) {
        r->result = std::vector<WriteResult>(res->begin() + at, res->begin() + at + r->ops.size());
        at += r->ops.size();
      }
      return absl::OkStatus();
    }
    // Moved-from ops keep their sizes' worth of nothing; take them back.
    size_t at = 0;
    for (InsertRequest* r : inserts) {
      for (WriteOp& op : r->ops) op = std::move(all[at++]);
      r->result = o_.store->Commit(r->ops);
    }
    puts->assign(std::make_move_iterator(all.begin() + insert_ops),
                 std::make_move_iterator(all.end()));
    return puts->empty() ? absl::OkStatus() : o_.store->Commit(*puts).status();
  }

  // ---- state transitions (all under mu_) --------------------------------

  void SetStateLocked(Runtime* rt, TaskState s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rt->rec.info.state = s;
    MarkDirtyLocked(rt);
    state_cv_.SignalAll();
  }

  // The task `id` as this process knows it: live, or finished and not yet
  // released by the writer. nullptr if neither.
  Runtime* FindLocked(absl::string_view id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (auto it = live_.find(id); it != live_.end()) return it->second.get();
    if (auto it = finished_.find(id); it != finished_.end()) return it->second.get();
    return nullptr;
  }

  // Registers `rt` as a dependant of each unfinished dependency. A dependency
  // that ended without success (or no longer exists) fails `rt` at once; with
  // none unfinished, `rt` is queued. Used at submission and at recovery;
  // `known` holds states the caller already read (only final ones are used).
  void ResolveDependenciesLocked(Runtime* rt,
                                 const absl::flat_hash_map<std::string, TaskState>* known)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string failed;
    for (const std::string& d : rt->rec.info.depends_on) {
      std::optional<TaskState> state;
      if (const Runtime* dep = FindLocked(d)) state = dep->rec.info.state;
      if (!state && known != nullptr) {
        auto k = known->find(d);
        if (k != known->end() && IsTerminal(k->second)) state = k->second;
      }
      if (!state) {
        auto stored = GetStored(d);
        if (stored.ok()) state = stored->state;
      }
      if (state == TaskState::kSucceeded) continue;
      if (!state || IsTerminal(*state)) {
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
    rt->rec.info.queued_at = o_.clock->Now();
    rt->seq = ++seq_;
    ready_.insert({-rt->rec.info.priority, rt->seq, rt});
    work_cv_.Signal();
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
    MarkDirtyLocked(rt);
    state_cv_.SignalAll();
    if (o_.telemetry != nullptr)
      o_.telemetry->AgentTasks(t.agent, TaskStateName(final_state))->Increment();
    if (o_.telemetry != nullptr) {
      TraceLog(t, "task.finished", {{"state", TaskStateName(final_state)}, {"error", t.error}});
    }
    const std::string& id = t.id;
    bool ok = final_state == TaskState::kSucceeded;
    std::vector<std::string> deps;
    if (auto it = dependants_.find(id); it != dependants_.end()) {
      deps = std::move(it->second);
      dependants_.erase(it);
    }
    // Kept until the writer has stored the final state, so Get and Wait see it.
    if (auto it = live_.find(id); it != live_.end()) {
      std::unique_ptr<Runtime> keep = std::move(it->second);
      live_.erase(it);
      absl::string_view key = keep->rec.info.id;
      finished_[key] = std::move(keep);
    }
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
            child, rt->rec.info.id,
            final_state == TaskState::kCancelled ? TaskState::kCancelled : TaskState::kFailed);
      }
    }
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

  void CompleteAttemptLocked(Runtime* rt, absl::StatusOr<Json> result, StopReason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    TaskInfo& t = rt->rec.info;
    rt->cancel = nullptr;
    running_ids_.erase(rt);
    --running_;
    AgentSlot* slot = rt->slot;
    int limit = slot->profile.limits.max_concurrency;
    // A worker waiting only because this agent was at its limit may go now.
    if (limit > 0 && slot->running-- == limit) work_cv_.SignalAll();
    if (limit <= 0) --slot->running;
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
      t.output = *std::move(result);
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
      Runtime* rt = std::get<2>(*it);
      const AgentSlot* slot = rt->slot;
      if (slot->handler == nullptr) continue;
      int limit = slot->profile.limits.max_concurrency;
      if (limit > 0 && slot->running >= limit) continue;
      ready_.erase(it);
      return rt;
    }
    return nullptr;
  }

  void WorkerLoop() {
    // One context and cancellation state per worker, reused: starting a task
    // allocates nothing here.
    TaskContext::Impl ctx;
    ctx.orch = this;
    CancelState cancel;
    ctx.cancel = &cancel;
    Runtime* rt = nullptr;  // the task this worker ran last, until completed
    absl::StatusOr<Json> result;
    StopReason reason = StopReason::kNone;
    std::shared_ptr<const AgentHandler> handler;
    for (;;) {
      {
        absl::MutexLock l(&mu_);
        // Completing the last task and picking the next share one critical
        // section: one lock round trip per task.
        if (rt != nullptr) {
          // Only this worker ends a running task, so `rt` is still live.
          CompleteAttemptLocked(rt, std::move(result), reason);
          UpdateGaugesLocked();
          if (running_ == 0) state_cv_.SignalAll();  // Shutdown waits for this
          rt = nullptr;
        }
        while (!stopping_ && (rt = PickLocked()) == nullptr) work_cv_.Wait(&mu_);
        if (stopping_) return;
        TaskInfo& t = rt->rec.info;
        ++t.attempt;
        t.started = o_.clock->Now();
        absl::Duration timeout = rt->rec.timeout;
        if (timeout <= absl::ZeroDuration()) timeout = rt->slot->profile.limits.timeout;
        if (timeout <= absl::ZeroDuration()) timeout = o_.default_timeout;
        rt->deadline = t.started + timeout;
        if (cancel.flag.load(std::memory_order_acquire)) cancel.Reset();
        rt->cancel = &cancel;
        SetStateLocked(rt, TaskState::kRunning);
        ++running_;
        ++started_;
        max_running_ = std::max(max_running_, running_);
        ++rt->slot->running;
        running_ids_.insert(rt);
        UpdateGaugesLocked();
        // Kept from the last task when unchanged: copying the shared_ptr is
        // an atomic write to a line all workers share.
        if (handler != rt->slot->handler) handler = rt->slot->handler;
        ctx.info = &t;
        ctx.deadline = rt->deadline;
        ctx.deps.clear();
        for (const std::string& d : t.depends_on) {
          auto dep = GetLocked(d);
          if (dep.ok()) ctx.deps[d] = dep->output;
        }
        // Failing interrupted tasks after a crash is only right if "running"
        // reached the store before the handler had any effect.
        if (!o_.requeue_interrupted) {
          while (!DurableLocked(rt) && !writer_stop_) {
            WaitingForDurabilityLocked();
            state_cv_.Wait(&mu_);
            DoneWaitingForDurabilityLocked();
          }
        }
      }
      if (o_.telemetry != nullptr) {
        TraceLog(*ctx.info, "task.started", {{"attempt", ctx.info->attempt}});
      }
      try {
        TaskContext tc(&ctx);
        result = (*handler)(tc);
      } catch (const std::exception& e) {
        result = absl::InternalError(absl::StrCat("handler threw: ", e.what()));
      } catch (...) {
        result = absl::InternalError("handler threw a non-standard exception");
      }
      // A stop requested after this read counts as none: the handler is done.
      reason = cancel.flag.load(std::memory_order_acquire) ? cancel.Reason() : StopReason::kNone;
    }
  }

  void TimerLoop() {
    absl::MutexLock l(&mu_);
    while (!stopping_) {
      timer_cv_.WaitWithTimeout(&mu_, o_.poll_interval);
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
      for (Runtime* rt : running_ids_) {
        if (now >= rt->deadline) rt->cancel->Request(StopReason::kTimeout);
      }
      if (moved) UpdateGaugesLocked();
    }
  }

  // ---- queries ----------------------------------------------------------

  absl::StatusOr<TaskInfo> GetLocked(absl::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (const Runtime* rt = FindLocked(id)) return rt->rec.info;
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

  // Reads the store without holding the scheduler lock. A task missing from
  // memory is stored already: the writer releases a task only after its
  // final state is durable.
  absl::StatusOr<TaskInfo> Get(absl::string_view id) {
    {
      absl::MutexLock l(&mu_);
      if (const Runtime* rt = FindLocked(id)) return rt->rec.info;
    }
    return GetStored(id);
  }

  // Returns once the task is terminal or awaiting review AND that state is
  // durable, so a caller that saw "succeeded" never sees the task run again.
  absl::StatusOr<TaskInfo> Wait(absl::string_view id, absl::Duration timeout) {
    absl::Time until = absl::Now() + timeout;
    absl::MutexLock l(&mu_);
    for (;;) {
      const Runtime* rt = FindLocked(id);
      KOS_ASSIGN_OR_RETURN(TaskInfo t, rt != nullptr ? rt->rec.info : GetStored(id));
      bool settled = IsTerminal(t.state) || t.state == TaskState::kAwaitingReview;
      if (settled && (rt == nullptr || DurableLocked(rt))) return t;
      if (absl::Now() >= until) {
        return absl::DeadlineExceededError(absl::StrCat(
            "task ", id, " is still ", TaskStateName(t.state), settled ? " (not yet stored)" : ""));
      }
      if (settled) WaitingForDurabilityLocked();
      state_cv_.WaitWithDeadline(&mu_, until);
      if (settled) DoneWaitingForDurabilityLocked();
    }
  }

  // Stored records, overlaid with the in-memory state of tasks whose latest
  // transition the writer has not committed yet.
  absl::StatusOr<std::vector<TaskInfo>> List(const TaskFilter& f) {
    std::vector<TaskInfo> out;
    ScanOptions so;
    so.limit = 1000;
    for (;;) {
      KOS_ASSIGN_OR_RETURN(ScanPage p, o_.store->Scan(kTasks, so));
      std::vector<TaskInfo> page;
      for (const Record& r : p.records) {
        auto rec = DecodeTaskRecord(r.value);
        if (rec.ok()) page.push_back(std::move(rec->info));
      }
      {
        absl::MutexLock l(&mu_);
        for (TaskInfo& t : page) {
          if (const Runtime* rt = FindLocked(t.id)) t = rt->rec.info;
        }
      }
      for (TaskInfo& t : page) {
        if (!f.agent.empty() && t.agent != f.agent) continue;
        if (!f.plan_id.empty() && t.plan_id != f.plan_id) continue;
        if (f.state && t.state != *f.state) continue;
        out.push_back(std::move(t));
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
      KOS_ASSIGN_OR_RETURN(TaskInfo t, GetLocked(id));
      return absl::FailedPreconditionError(
          absl::StrCat("task ", id, " is already ", TaskStateName(t.state)));
    }
    Runtime* rt = it->second.get();
    if (rt->rec.info.state == TaskState::kRunning) {
      rt->cancel->Request(StopReason::kCancel);
      return absl::OkStatus();
    }
    // A queued task leaves the ready set before its record is released.
    ready_.erase({-rt->rec.info.priority, rt->seq, rt});
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
    auto it = live_.find(id);
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
    auto it = agents_.find(std::string(agent));
    if (it == agents_.end()) {
      return absl::NotFoundError(absl::StrCat("agent '", agent, "' is not configured"));
    }
    it->second.handler = std::make_shared<const AgentHandler>(std::move(h));
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
    // The latest logged transition of each task (log records replayed in
    // batch order), applied over the records below. Log records left with no
    // latest row of an unfinished task are deleted at the end.
    struct Logged {
      std::string row;
      uint64_t batch;
    };
    absl::flat_hash_map<std::string, Logged> transitions;
    std::vector<uint64_t> log_batches;
    // Records that could not be read: key and value, kept for the move below.
    std::vector<std::pair<std::string, std::string>> bad_logs;
    so.limit = 1000;  // log records hold many rows each
    for (;;) {
      KOS_ASSIGN_OR_RETURN(ScanPage p, o_.store->Scan(kTransitionLog, so));
      for (const Record& r : p.records) {
        uint64_t batch;
        absl::Status parsed =
            ParseLogKey(r.key, &batch)
                ? ForEachLogEntry(r.value,
                                  [&](absl::string_view id, absl::string_view row) {
                                    transitions[id] = Logged{std::string(row), batch};
                                  })
                : absl::DataLossError("bad transition log key");
        if (!parsed.ok()) {
          SystemLog(
              LogLevel::kError, "task.recover_failed",
              {{"log_record", r.key.substr(0, 64)}, {"error", std::string(parsed.message())}});
          bad_logs.emplace_back(r.key, r.value);
        }
        if (ParseLogKey(r.key, &batch)) {
          log_batches.push_back(batch);
          next_log_batch_ = std::max(next_log_batch_, batch + 1);
        }
      }
      if (p.next_page_token.empty()) break;
      so.page_token = p.next_page_token;
    }
    so = ScanOptions();
    so.limit = 10000;
    std::vector<std::string> waiting;
    std::vector<std::string> ids;  // in key (creation) order, so FIFO survives
    for (;;) {
      KOS_ASSIGN_OR_RETURN(ScanPage p, o_.store->Scan(kTasks, so));
      for (const Record& r : p.records) {
        auto rec = DecodeTaskRecord(r.value);
        if (!rec.ok()) {
          SystemLog(LogLevel::kError, "task.recover_failed",
                    {{"task", r.key}, {"error", std::string(rec.status().message())}});
          continue;
        }
        uint64_t log_batch = 0;
        if (auto tr = transitions.find(r.key); tr != transitions.end()) {
          if (!IsTerminal(rec->info.state) && rec->info.state != TaskState::kAwaitingReview) {
            absl::Status applied = ApplyTransition(tr->second.row, &*rec);
            if (!applied.ok()) {
              SystemLog(LogLevel::kError, "task.recover_failed",
                        {{"task", r.key}, {"error", std::string(applied.message())}});
            }
            log_batch = tr->second.batch;
            // Counted even if the task is skipped below (agent no longer
            // configured), so its latest state is kept for a later start.
            ++log_live_[log_batch];
          }
        }
        if (IsTerminal(rec->info.state)) continue;
        auto slot = agents_.find(rec->info.agent);
        if (slot == agents_.end()) {
          SystemLog(LogLevel::kError, "task.recover_failed",
                    {{"task", r.key}, {"error", "agent is no longer configured"}});
          continue;
        }
        auto rt = std::make_unique<Runtime>();
        rt->rec = *std::move(rec);
        rt->slot = &slot->second;
        rt->fixed = EncodeFixedTaskFields(rt->rec);
        rt->log_batch = log_batch;
        // Only a running task writes log lines after its last persisted
        // transition; find where its log really ends.
        if (rt->rec.info.state == TaskState::kRunning) {
          while (o_.store->Get(kTaskLogs, TaskLogKey(rt->rec.info.id, rt->rec.log_seq + 1)).ok()) {
            ++rt->rec.log_seq;
          }
        }
        ids.push_back(rt->rec.info.id);
        absl::string_view key = rt->rec.info.id;
        live_[key] = std::move(rt);
        ++recovered_;
      }
      if (p.next_page_token.empty()) break;
      so.page_token = p.next_page_token;
    }
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
      ResolveDependenciesLocked(it->second.get(), nullptr);
    }
    std::vector<WriteOp> stale;
    // Unreadable records go aside with their bytes (an operator can inspect
    // them; the tasks fell back to their last full record), unless rows read
    // before the damage are still live.
    absl::flat_hash_set<std::string> moved;
    for (auto& [key, value] : bad_logs) {
      uint64_t b;
      if (ParseLogKey(key, &b) && log_live_.count(b)) continue;
      stale.push_back(WriteOp::Put(kTransitionLogDamaged, key, std::move(value)));
      stale.push_back(WriteOp::Delete(kTransitionLog, key));
      moved.insert(key);
    }
    for (uint64_t b : log_batches) {
      std::string key = LogKey(b);
      if (!log_live_.count(b) && !moved.count(key)) {
        stale.push_back(WriteOp::Delete(kTransitionLog, std::move(key)));
      }
    }
    if (!stale.empty()) KOS_RETURN_IF_ERROR(o_.store->Commit(stale).status());
    if (recovered_ > 0)
      SystemLog(LogLevel::kInfo, "orchestrator.recovered", {{"tasks", recovered_}});
    return absl::OkStatus();
  }

  absl::Status Shutdown(absl::Duration grace) {
    {
      absl::MutexLock l(&mu_);
      if (shut_down_) return absl::OkStatus();
      shut_down_ = true;
      for (Runtime* rt : running_ids_) rt->cancel->Request(StopReason::kShutdown);
      absl::Time until = absl::Now() + grace;
      while (running_ > 0 && absl::Now() < until) state_cv_.WaitWithDeadline(&mu_, until);
      stopping_ = true;
      work_cv_.SignalAll();
      timer_cv_.SignalAll();
    }
    for (auto& w : workers_) w.join();
    if (timer_.joinable()) timer_.join();
    {
      // Last: workers that returned may have left transitions to store.
      absl::MutexLock l(&mu_);
      writer_stop_ = true;
      writer_cv_.Signal();
    }
    if (writer_.joinable()) writer_.join();
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
  // Keys fixed after Init (Accept reads them without the lock).
  std::map<std::string, AgentSlot> agents_;
  std::unique_ptr<TaskVerifier> plan_verifier_;  // audience kPlanAudience
  IdGenerator ids_;                              // ids of signed-plan tasks
  Gauge* queue_depth_ = nullptr;

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;    // a task became ready, a handler was registered, or stopping
  absl::CondVar timer_cv_;   // stopping (the timer otherwise polls)
  absl::CondVar state_cv_;   // a task changed state or a batch became durable
  absl::CondVar writer_cv_;  // transitions or inserts wait for the writer
  absl::CondVar commit_cv_;  // a batch committed (inserts acknowledged)
  // Keyed by a view of the Runtime's own id (no key copy per task).
  absl::flat_hash_map<absl::string_view, std::unique_ptr<Runtime>> live_ ABSL_GUARDED_BY(mu_);
  // Terminal tasks whose final state is not yet durable.
  absl::flat_hash_map<absl::string_view, std::unique_ptr<Runtime>> finished_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::string>> dependants_ ABSL_GUARDED_BY(mu_);
  std::set<ReadyKey> ready_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::string> delayed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Runtime*> running_ids_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int max_running_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t recovered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;

  // Group commit state.
  std::vector<Runtime*> dirty_ ABSL_GUARDED_BY(mu_);
  std::vector<InsertRequest*> inserts_ ABSL_GUARDED_BY(mu_);
  uint64_t open_batch_ ABSL_GUARDED_BY(mu_) = 1;     // the batch now collecting
  uint64_t durable_batch_ ABSL_GUARDED_BY(mu_) = 0;  // every batch <= this is done
  bool writer_stop_ ABSL_GUARDED_BY(mu_) = false;
  int durability_waiters_ ABSL_GUARDED_BY(mu_) = 0;
  // Transition log, used only by the writer thread (and recovery before it
  // starts): the next batch number, how many tasks' latest rows each log
  // record holds, and records to delete with the next commit.
  uint64_t next_log_batch_ = 1;
  std::map<uint64_t, int> log_live_;
  std::vector<uint64_t> log_deletes_;
  static constexpr size_t kLogRecordBytes = 1 << 20;
  // Dirty tasks that wake the writer before its window ends.
  static constexpr size_t kWakeBatch = 1024;

  absl::Mutex subs_mu_;
  std::map<uint64_t, std::pair<std::string, std::function<void(const TaskLogLine&)>>> subs_
      ABSL_GUARDED_BY(subs_mu_);
  uint64_t next_sub_ ABSL_GUARDED_BY(subs_mu_) = 0;

  std::vector<std::thread> workers_;
  std::thread timer_;
  std::thread writer_;
};

// ---- TaskContext ----------------------------------------------------------

const std::string& TaskContext::task_id() const { return impl_->info->id; }
const std::string& TaskContext::agent() const { return impl_->info->agent; }
const Json& TaskContext::input() const { return impl_->info->input; }
int TaskContext::attempt() const { return impl_->info->attempt; }
const TaskInfo& TaskContext::info() const { return *impl_->info; }
const std::map<std::string, Json>& TaskContext::dependency_outputs() const { return impl_->deps; }
bool TaskContext::cancelled() const { return impl_->cancel->flag.load(std::memory_order_acquire); }
absl::Time TaskContext::deadline() const { return impl_->deadline; }

bool TaskContext::WaitForCancel(absl::Duration timeout) const {
  CancelState* c = impl_->cancel;
  absl::MutexLock l(&c->mu);
  absl::Time until = absl::Now() + timeout;
  while (c->reason == StopReason::kNone) {
    if (c->cv.WaitWithDeadline(&c->mu, until)) break;
  }
  return c->reason != StopReason::kNone;
}

void TaskContext::Log(LogLevel level, absl::string_view message, Json fields) {
  impl_->orch->AppendLog(impl_->info->id, level, message, std::move(fields));
}

absl::Status TaskContext::Authorize(absl::string_view resource, absl::string_view action) const {
  const AccessController* ac = impl_->orch->o_.access;
  if (ac == nullptr) return absl::OkStatus();
  absl::Status s = ac->Check(absl::StrCat("agent:", impl_->info->agent), resource, action);
  if (!s.ok()) {
    impl_->orch->SecurityEvent("agent.permission_denied", {{"agent", impl_->info->agent},
                                                           {"resource", std::string(resource)},
                                                           {"action", std::string(action)},
                                                           {"task", impl_->info->id}});
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
  req.parent_task_id = impl_->info->id;
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
absl::StatusOr<std::string> Orchestrator::SubmitSignedPlan(absl::string_view envelope) {
  return impl_->SubmitSignedPlan(envelope);
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
