// Group commit of task transitions: what Wait() reports is stored, a failing
// store loses no transition, and requeue_interrupted = false stores
// "running" before the handler starts.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "kos/id.h"
#include "kos/orchestrator.h"
#include "orchestrator/orchestrator_testing.h"
#include "orchestrator/task_codec.h"

namespace kos {
namespace {

using testing::Agent;
using testing::SigningSetup;

// Delegates to a memory store; fails the next `fail_updates` commits that
// update existing tasks (the writer's transition batches).
class FlakyStore final : public Store {
 public:
  FlakyStore() : inner_(OpenStore("memory:").value()) {}
  std::atomic<int> fail_updates{0};
  std::atomic<int> failed{0};

  absl::StatusOr<Record> Get(absl::string_view c, absl::string_view k) override {
    return inner_->Get(c, k);
  }
  absl::StatusOr<std::vector<WriteResult>> Commit(const std::vector<WriteOp>& ops) override {
    bool update = false;  // a writer batch: record or log writes, none conditional
    for (const WriteOp& op : ops) {
      if (op.expected_version) return inner_->Commit(ops);
      if (op.collection == "tasks" || op.collection == "task_transition_log") update = true;
    }
    if (update && fail_updates > 0) {
      --fail_updates;
      ++failed;
      return absl::UnavailableError("disk on fire");
    }
    return inner_->Commit(ops);
  }
  absl::StatusOr<ScanPage> Scan(absl::string_view c, const ScanOptions& o) override {
    return inner_->Scan(c, o);
  }
  absl::StatusOr<std::vector<Change>> Changes(uint64_t after, size_t limit) override {
    return inner_->Changes(after, limit);
  }
  absl::StatusOr<uint64_t> LastSequence() override { return inner_->LastSequence(); }
  absl::StatusOr<size_t> PurgeExpired() override { return inner_->PurgeExpired(); }

 private:
  std::unique_ptr<Store> inner_;
};

class OrchestratorDurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signing_ = SigningSetup::Make(&store_, Clock::Real());
    options_.store = &store_;
    options_.keys = signing_.keys.get();
    options_.agents = {Agent("kExecutor")};
    options_.max_concurrent = 4;
  }

  // The state recovery would find: the record's, or for a queued, running
  // or retrying task the latest transition-log row's when there is one.
  static std::string StoredState(Store* store, const std::string& id) {
    std::string state =
        ParseJson(store->Get("tasks", id).value().value).value()["state"].get<std::string>();
    if (state == "succeeded" || state == "failed" || state == "cancelled" || state == "timed_out" ||
        state == "awaiting_review") {
      return state;
    }
    std::string row = LatestLogRow(store, id);
    if (row.empty()) return state;
    std::vector<std::string> f = absl::StrSplit(row, '|');
    return f.size() > 1 ? f[1] : "malformed";
  }
  std::string StoredState(const std::string& id) { return StoredState(&store_, id); }

  static std::string LatestLogRow(Store* store, const std::string& id) {
    std::string latest;
    testing::ScanAll(store, "task_transition_log", [&](const Record& r) {
      EXPECT_TRUE(orchestrator_internal::ForEachLogEntry(r.value, [&](absl::string_view task,
                                                                      absl::string_view row) {
                    if (task == id) latest = std::string(row);
                  }).ok());
    });
    return latest;
  }
  static size_t LogRecords(Store* store) {
    size_t n = 0;
    testing::ScanAll(
        store, "task_transition_log", [&](const Record&) { ++n; }, true);
    return n;
  }

  FlakyStore store_;
  SigningSetup signing_;
  OrchestratorOptions options_;
};

TEST_F(OrchestratorDurabilityTest, WaitReturnsOnlyStoredStatesWithoutWaitingForTheWindow) {
  options_.persist_interval = absl::Hours(1);  // only a waiter can make the writer commit
  auto orch = Orchestrator::Open(options_).value();
  ASSERT_TRUE(orch->RegisterHandler("kExecutor",
                                    [](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      return Json{{"attempt", ctx.attempt()}};
                                    })
                  .ok());
  for (int i = 0; i < 50; ++i) {
    auto id = orch->Submit(signing_.Sign("kExecutor"));
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(StoredState(*id).empty(), false);  // stored before Submit returned
    auto t = orch->Wait(*id, absl::Seconds(10));
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->state, TaskState::kSucceeded);
    EXPECT_EQ(StoredState(*id), "succeeded");
  }
}

TEST_F(OrchestratorDurabilityTest, FailedBatchesAreWrittenAgain) {
  options_.persist_interval = absl::Milliseconds(1);
  options_.poll_interval = absl::Milliseconds(1);
  auto orch = Orchestrator::Open(options_).value();
  absl::Notification release;
  ASSERT_TRUE(orch->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      release.WaitForNotification();
                                      return Json::object();
                                    })
                  .ok());
  auto id = orch->Submit(signing_.Sign("kExecutor")).value();
  store_.fail_updates = 3;
  release.Notify();
  auto t = orch->Wait(id, absl::Seconds(10));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->state, TaskState::kSucceeded);
  EXPECT_EQ(StoredState(id), "succeeded");
  EXPECT_EQ(store_.failed.load(), 3);
  // List sees the same state.
  TaskFilter f;
  f.state = TaskState::kSucceeded;
  EXPECT_EQ(orch->List(f).value().size(), 1u);
}

TEST_F(OrchestratorDurabilityTest, FailingInterruptedTasksStoresRunningBeforeTheHandlerStarts) {
  options_.requeue_interrupted = false;
  options_.persist_interval = absl::Hours(1);
  auto orch = Orchestrator::Open(options_).value();
  std::atomic<int> not_stored{0};
  ASSERT_TRUE(orch->RegisterHandler("kExecutor",
                                    [&](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      if (StoredState(ctx.task_id()) != "running") ++not_stored;
                                      return Json::object();
                                    })
                  .ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(orch->Submit(signing_.Sign("kExecutor")).value());
  for (const std::string& id : ids) {
    ASSERT_EQ(orch->Wait(id, absl::Seconds(10)).value().state, TaskState::kSucceeded);
  }
  EXPECT_EQ(not_stored.load(), 0);
}

TEST_F(OrchestratorDurabilityTest, ShutdownStoresEveryTransition) {
  options_.persist_interval = absl::Hours(1);
  auto orch = Orchestrator::Open(options_).value();
  std::atomic<int> ran{0};
  ASSERT_TRUE(orch->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      ++ran;
                                      return Json::object();
                                    })
                  .ok());
  std::vector<std::string> plan;
  for (int i = 0; i < 100; ++i) plan.push_back(signing_.Sign("kExecutor"));
  std::string plan_id = orch->SubmitPlan(plan).value();
  // A handler that has returned is not yet a succeeded task: wait for the state.
  auto all_succeeded = [&] {
    auto tasks = orch->PlanTasks(plan_id);
    if (!tasks.ok()) return false;
    for (const TaskInfo& t : *tasks) {
      if (t.state != TaskState::kSucceeded) return false;
    }
    return tasks->size() == 100;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!all_succeeded() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(ran.load(), 100);
  ASSERT_TRUE(all_succeeded()) << "tasks did not succeed within 30 s";
  ASSERT_TRUE(orch->Shutdown().ok());
  testing::ScanAll(&store_, "tasks",
                   [&](const Record& r) { EXPECT_EQ(StoredState(r.key), "succeeded") << r.key; });
}

// Queued/running/retrying go to a small task_transitions row instead of the
// whole record; recovery applies the row, and a final state removes it.
TEST_F(OrchestratorDurabilityTest, TransitionRowsAreAppliedAtRecoveryAndRemovedWhenFinal) {
  options_.max_concurrent = 1;  // the first task runs, the second stays queued
  auto orch = Orchestrator::Open(options_).value();
  absl::Notification release, started;
  ASSERT_TRUE(orch->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      if (!started.HasBeenNotified()) started.Notify();
                                      release.WaitForNotification();
                                      return Json("first");
                                    })
                  .ok());
  std::string id = orch->Submit(signing_.Sign("kExecutor")).value();
  std::string done_id = orch->Submit(signing_.Sign("kExecutor")).value();
  started.WaitForNotification();
  const std::string& running = id;
  for (int i = 0; i < 1000 && StoredState(running) != "running"; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(StoredState(running), "running");
  EXPECT_EQ(ParseJson(store_.Get("tasks", running).value().value).value()["state"], "queued");
  EXPECT_GE(LogRecords(&store_), 1u);

  // The state a crash leaves: copy the durable task data into a fresh store,
  // plus a stale row of a task whose record is final and a malformed one.
  auto copy = OpenStore("memory:").value();
  for (const char* c : {"tasks", "task_transition_log"}) {
    testing::ScanAll(&store_, c,
                     [&](const Record& r) { ASSERT_TRUE(copy->Put(c, r.key, r.value).ok()); });
  }
  release.Notify();
  ASSERT_EQ(orch->Wait(done_id, absl::Seconds(10)).value().state, TaskState::kSucceeded);
  ASSERT_TRUE(orch->Shutdown().ok());
  EXPECT_EQ(StoredState(running), "succeeded");
  EXPECT_EQ(LogRecords(&store_), 0u) << "log records whose rows are all superseded are deleted";

  const std::string& other = done_id;
  ASSERT_TRUE(copy->Put("tasks", other, store_.Get("tasks", other).value().value).ok());
  std::string stale;
  orchestrator_internal::AppendLogEntry(&stale, other, "t1|running|1|1|1|0|0||stale");
  ASSERT_TRUE(copy->Put("task_transition_log", orchestrator_internal::LogKey(1000), stale).ok());
  ASSERT_TRUE(copy->Put("task_transition_log", "garbage", "not a log record").ok());
  ASSERT_TRUE(copy->Put("task_transition_log", orchestrator_internal::LogKey(1001), "xx").ok());
  size_t copied_log = LogRecords(copy.get());
  ASSERT_GE(copied_log, 4u);

  OrchestratorOptions o = options_;
  o.store = copy.get();
  auto again = Orchestrator::Open(o).value();
  EXPECT_EQ(again->stats().recovered, 1u);  // only the interrupted one
  TaskInfo t = again->Get(running).value();
  EXPECT_EQ(t.state, TaskState::kQueued);  // re-queued from the "running" row
  EXPECT_EQ(t.attempt, 0);                 // the interrupted attempt does not count
  EXPECT_EQ(again->Get(other).value().state, TaskState::kSucceeded);
  // Only the record holding the interrupted task's latest row is kept.
  EXPECT_EQ(LogRecords(copy.get()), 1u);
  // The unreadable ones were moved aside with their bytes, not deleted.
  EXPECT_EQ(copy->Get("task_transition_log_damaged", "garbage").value().value, "not a log record");
  EXPECT_EQ(
      copy->Get("task_transition_log_damaged", orchestrator_internal::LogKey(1001)).value().value,
      "xx");
  EXPECT_EQ(StoredState(copy.get(), running), "running");
  ASSERT_TRUE(
      again
          ->RegisterHandler("kExecutor",
                            [&](TaskContext&) -> absl::StatusOr<Json> { return Json("second"); })
          .ok());
  TaskInfo rerun = again->Wait(running, absl::Seconds(10)).value();
  EXPECT_EQ(rerun.state, TaskState::kSucceeded);
  EXPECT_EQ(rerun.output, Json("second"));
  EXPECT_EQ(rerun.attempt, 1);
  ASSERT_TRUE(again->Shutdown().ok());
  EXPECT_EQ(StoredState(copy.get(), running), "succeeded");
  EXPECT_EQ(LogRecords(copy.get()), 0u);
}

// Rows carry error texts of any size: a batch's rows are split over several
// log records so none grows past ~1 MiB (the Store refuses values > 16 MiB).
TEST_F(OrchestratorDurabilityTest, LargeErrorsSplitTheLogIntoBoundedRecords) {
  options_.persist_interval = absl::Hours(1);  // everything below lands in Shutdown's batch
  auto orch = Orchestrator::Open(options_).value();
  std::atomic<int> ran{0};
  const std::string big(400 * 1024, 'e');
  std::vector<std::string> ids, plan;
  Json retry = {{"max_attempts", 3}, {"initial_backoff_ms", 3600000}};
  for (int i = 0; i < 4; ++i) {
    ids.push_back(NewId());
    plan.push_back(signing_.Sign("kExecutor", {{"retry", retry}}, ids.back()));
  }
  ASSERT_TRUE(orch->SubmitPlan(plan).ok());  // stored; nothing else commits until Shutdown
  ASSERT_TRUE(orch->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      ++ran;
                                      return absl::UnavailableError(big);
                                    })
                  .ok());
  // `ran` counts handler entries; the retrying transition comes after the
  // handler returns, so wait for the state itself before shutting down.
  auto all_retrying = [&] {
    for (const std::string& id : ids) {
      auto t = orch->Get(id);
      if (!t.ok() || t->state != TaskState::kRetrying) return false;
    }
    return true;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!all_retrying() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(ran.load(), 4);
  ASSERT_TRUE(all_retrying()) << "tasks did not reach retrying within 30 s";
  ASSERT_TRUE(orch->Shutdown().ok());
  size_t largest = 0;
  testing::ScanAll(&store_, "task_transition_log",
                   [&](const Record& r) { largest = std::max(largest, r.value.size()); });
  EXPECT_GT(largest, big.size());
  EXPECT_LE(largest, (1u << 20) + big.size() + 256);
  for (const std::string& id : ids) {
    EXPECT_EQ(StoredState(id), "retrying");
    EXPECT_NE(LatestLogRow(&store_, id).find(big), std::string::npos);
  }
  // And they come back.
  auto again = Orchestrator::Open(options_).value();
  for (const std::string& id : ids) {
    TaskInfo t = again->Get(id).value();
    EXPECT_EQ(t.state, TaskState::kRetrying);
    EXPECT_EQ(t.error, big);
    EXPECT_EQ(t.error_code, "UNAVAILABLE");
  }
}

}  // namespace
}  // namespace kos
