// Group commit of task transitions: what Wait() reports is stored, a failing
// store loses no transition, and requeue_interrupted = false stores
// "running" before the handler starts.
#include <atomic>
#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "kos/orchestrator.h"
#include "orchestrator/orchestrator_testing.h"

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
    bool update = !ops.empty() && ops.back().collection == "tasks" && !ops.back().expected_version;
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

  std::string StoredState(const std::string& id) {
    return ParseJson(store_.Get("tasks", id).value().value).value()["state"].get<std::string>();
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
  while (ran.load() < 100) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(orch->Shutdown().ok());
  testing::ScanAll(&store_, "tasks",
                   [&](const Record& r) { EXPECT_EQ(StoredState(r.key), "succeeded") << r.key; });
}

}  // namespace
}  // namespace kos
