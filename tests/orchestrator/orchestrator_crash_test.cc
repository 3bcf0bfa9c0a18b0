// Kills a process running 10,000 tasks with SIGKILL and checks recovery on
// the SQLite store: no task lost, no succeeded task run again, and the
// concurrency limit held by the recovering process.
#include <atomic>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/orchestrator.h"
#include "orchestrator/orchestrator_testing.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::Agent;
using testing::ChildProcess;
using testing::ScanAll;

constexpr int kTasks = 10000;
constexpr int kMaxConcurrent = 4;

struct Stack {
  std::unique_ptr<Store> store;
  std::unique_ptr<KeyRegistry> keys;
  std::unique_ptr<Orchestrator> orch;
};

Stack OpenStack(const std::string& db, std::atomic<int>* now, std::atomic<int>* peak) {
  Stack s;
  s.store = OpenStore("sqlite://" + db).value();
  KeyRegistryOptions ko;
  ko.store = s.store.get();
  s.keys = KeyRegistry::Open(ko).value();
  OrchestratorOptions o;
  o.store = s.store.get();
  o.keys = s.keys.get();
  o.agents = {Agent("kExecutor")};
  o.max_concurrent = kMaxConcurrent;
  s.orch = Orchestrator::Open(o).value();
  Store* store = s.store.get();
  (void)s.orch->RegisterHandler(
      "kExecutor", [store, now, peak](TaskContext& ctx) -> absl::StatusOr<Json> {
        int v = ++*now;
        int m = peak->load();
        while (v > m && !peak->compare_exchange_weak(m, v)) {
        }
        // The side effect whose repetition the test counts.
        auto w = store->Put("runs", absl::StrCat(ctx.task_id(), "/", NewId()), "1");
        --*now;
        if (!w.ok()) return w.status();
        return Json{{"ok", true}};
      });
  return s;
}

std::map<std::string, int> RunCounts(Store* store) {
  std::map<std::string, int> counts;
  ScanAll(
      store, "runs", [&](const Record& r) { counts[r.key.substr(0, 26)]++; }, /*keys_only=*/true);
  return counts;
}

TEST(OrchestratorCrashTest, SigkillWithTenThousandTasksInFlight) {
  testing::TempDir dir;
  std::string db = dir.File("kos.db");
  {
    // Trust the signer before the child starts.
    auto store = OpenStore("sqlite://" + db).value();
    KeyRegistryOptions ko;
    ko.store = store.get();
    auto keys = KeyRegistry::Open(ko).value();
    Ed25519KeyPair kp = Ed25519KeyPair::FromSeed(std::string(32, '\x07')).value();
    ASSERT_TRUE(keys->AddKey("core-1", "kCore", kp.public_key()).ok());
  }
  ChildProcess child = ChildProcess::Start([&] {
    // Outlive this function: the child's workers use them until it is killed.
    static std::atomic<int> now{0}, peak{0};
    Stack* s = new Stack(OpenStack(db, &now, &peak));
    Ed25519KeyPair kp = Ed25519KeyPair::FromSeed(std::string(32, '\x07')).value();
    TaskSignerOptions so;
    so.issuer = "kCore";
    so.kid = "core-1";
    so.key_pair = &kp;
    so.ttl = absl::Minutes(30);
    auto signer = TaskSigner::Open(so).value();
    std::vector<std::string> plan;
    for (int i = 0; i < kTasks; ++i) {
      TaskRequest r;
      r.audience = "kExecutor";
      r.payload = {{"input", {{"i", i}}}};
      plan.push_back(signer->Sign(r).value().text);
    }
    auto plan_id = s->orch->SubmitPlan(plan);
    return plan_id.ok() ? *plan_id : std::string();
  });
  ASSERT_EQ(child.message.size(), 26u) << "child did not acknowledge the plan";
  std::string plan_id = child.message;
  std::mt19937 rng(std::random_device{}());
  absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(20, 300)(rng)));
  ASSERT_TRUE(child.Kill());

  // What the killed process had finished, as the store says.
  std::set<std::string> succeeded_before;
  std::map<std::string, int> runs_before;
  {
    auto store = OpenStore("sqlite://" + db).value();
    ScanAll(store.get(), "tasks", [&](const Record& r) {
      if (ParseJson(r.value).value()["state"] == "succeeded") succeeded_before.insert(r.key);
    });
    runs_before = RunCounts(store.get());
  }

  std::atomic<int> now{0}, peak{0};
  absl::Time t0 = absl::Now();
  Stack s = OpenStack(db, &now, &peak);
  absl::Duration recovery = absl::Now() - t0;
  std::printf("killed with %zu/%d tasks succeeded; recovery (Open) took %s; %llu tasks recovered\n",
              succeeded_before.size(), kTasks, absl::FormatDuration(recovery).c_str(),
              static_cast<unsigned long long>(s.orch->stats().recovered));
  auto tasks = s.orch->PlanTasks(plan_id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), static_cast<size_t>(kTasks)) << "tasks were lost";
  for (const TaskInfo& t : *tasks) {
    auto done = s.orch->Wait(t.id, absl::Seconds(120));
    ASSERT_TRUE(done.ok()) << done.status();
    ASSERT_EQ(done->state, TaskState::kSucceeded) << t.id << " " << done->error;
  }
  EXPECT_TRUE(s.orch->Shutdown().ok());
  std::map<std::string, int> runs_after = RunCounts(s.store.get());
  for (const std::string& id : succeeded_before) {
    EXPECT_EQ(runs_after[id], runs_before[id]) << "succeeded task " << id << " ran again";
  }
  EXPECT_EQ(runs_after.size(), static_cast<size_t>(kTasks));
  EXPECT_LE(peak.load(), kMaxConcurrent);
}

}  // namespace
}  // namespace kos
