#include "kos/orchestrator.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "kos/id.h"
#include "kos/status.h"
#include "orchestrator/orchestrator_testing.h"

namespace kos {
namespace {

using testing::Agent;
using testing::SigningSetup;

class OrchestratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStore("memory:", StoreOptions{&clock_}).value();
    signing_ = SigningSetup::Make(store_.get(), &clock_);
    TelemetryOptions to;
    to.clock = &clock_;
    to.process_metrics = false;
    telemetry_ = Telemetry::Open(to).value();
    options_.store = store_.get();
    options_.keys = signing_.keys.get();
    options_.clock = &clock_;
    options_.telemetry = telemetry_.get();
    options_.agents = {Agent("kPlanner"), Agent("kExecutor"), Agent("kReviewer")};
    options_.max_concurrent = 4;
    options_.subtask_signer = signing_.signer.get();
    options_.on_security_event = [this](absl::string_view e, const Json&) {
      security_events_++;
      last_event_ = std::string(e);
    };
  }

  void Open() { orch_ = Orchestrator::Open(options_).value(); }

  TaskInfo WaitDone(const std::string& id) {
    auto t = orch_->Wait(id, absl::Seconds(20));
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : TaskInfo{};
  }

  std::string Sign(const std::string& agent, Json payload = Json::object(), std::string id = "") {
    return signing_.Sign(agent, std::move(payload), std::move(id));
  }

  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<Store> store_;
  SigningSetup signing_;
  std::unique_ptr<Telemetry> telemetry_;
  OrchestratorOptions options_;
  std::unique_ptr<Orchestrator> orch_;
  std::atomic<int> security_events_{0};
  std::string last_event_;
};

TEST_F(OrchestratorTest, RunsASignedTaskAndRecordsItsOutput) {
  Open();
  ASSERT_TRUE(
      orch_
          ->RegisterHandler(
              "kExecutor",
              [](TaskContext& ctx) -> absl::StatusOr<Json> {
                ctx.Log(LogLevel::kInfo, "adding", {{"a", ctx.input()["a"]}});
                return Json{{"sum", ctx.input()["a"].get<int>() + ctx.input()["b"].get<int>()}};
              })
          .ok());
  auto id = orch_->Submit(Sign("kExecutor", {{"input", {{"a", 2}, {"b", 3}}}}));
  ASSERT_TRUE(id.ok()) << id.status();
  TaskInfo t = WaitDone(*id);
  EXPECT_EQ(t.state, TaskState::kSucceeded);
  EXPECT_EQ(t.output["sum"], 5);
  EXPECT_EQ(t.attempt, 1);
  EXPECT_EQ(t.issuer, "kCore");
  EXPECT_EQ(t.trace_id.size(), 32u);
  EXPECT_EQ(t.span_id.size(), 16u);
  EXPECT_EQ(t.traceparent(), absl::StrCat("00-", t.trace_id, "-", t.span_id, "-01"));
  auto logs = orch_->Logs(*id).value();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].message, "adding");
  EXPECT_EQ(logs[0].fields["a"], 2);
  // The durable record matches.
  EXPECT_EQ(orch_->List({}).value().front().state, TaskState::kSucceeded);
  std::string metrics = telemetry_->metrics()->RenderPrometheus();
  EXPECT_TRUE(absl::StrContains(
      metrics, "agent_tasks_total{agent_type=\"kExecutor\",status=\"succeeded\"} 1"))
      << metrics;
  EXPECT_TRUE(
      absl::StrContains(metrics, "agent_task_duration_seconds_count{agent_type=\"kExecutor\"} 1"));
}

TEST_F(OrchestratorTest, RefusesUnsignedTamperedExpiredAndReplayedTasks) {
  Open();
  std::atomic<int> runs{0};
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      runs++;
                                      return Json::object();
                                    })
                  .ok());
  std::string env = Sign("kExecutor", {{"input", {{"cmd", "ls"}}}});
  // Unsigned: the envelope without its signature.
  Json unsigned_env = ParseJson(env).value();
  unsigned_env.erase("sig");
  EXPECT_EQ(orch_->Submit(DumpJson(unsigned_env)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Tampered input.
  std::string tampered = env;
  tampered.replace(tampered.find("\"ls\""), 4, "\"rm\"");
  EXPECT_EQ(orch_->Submit(tampered).status().code(), absl::StatusCode::kUnauthenticated);
  // Accepted once, then a replay is refused.
  auto accepted = orch_->Submit(env);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(orch_->Submit(env).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(WaitDone(*accepted).state, TaskState::kSucceeded);
  // Expired.
  std::string later = Sign("kExecutor");
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(orch_->Submit(later).status().code(), absl::StatusCode::kUnauthenticated);
  // Not JSON, unknown agent.
  EXPECT_FALSE(orch_->Submit("not json").ok());
  EXPECT_EQ(orch_->Submit(Sign("kNobody")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_GE(security_events_.load(), 5);
  EXPECT_EQ(last_event_, "task.rejected");
  EXPECT_TRUE(orch_->Shutdown().ok());
  EXPECT_EQ(runs.load(), 1);
  EXPECT_TRUE(absl::StrContains(telemetry_->metrics()->RenderPrometheus(),
                                "kos_security_events_total{event=\"task.rejected\"}"));
}

TEST_F(OrchestratorTest, BadSpecsAreRefusedWithoutStoringAnything) {
  Open();
  EXPECT_EQ(orch_->Submit(Sign("kExecutor", {{"bogus", 1}})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(orch_->Submit(Sign("kExecutor", {{"timeout_ms", -5}})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(orch_->Submit(Sign("kExecutor", {{"retry", {{"max_attempts", 0}}}})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(orch_->Submit(Sign("kExecutor", {{"depends_on", {"nope"}}})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(orch_->Submit(Sign("kExecutor", {{"depends_on", {NewId()}}})).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(orch_->Submit(Sign("kExecutor", {{"retry", {{"non_retryable", {"NOT_A_CODE"}}}}}))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(orch_->List({}).value().empty());
  EXPECT_EQ(orch_->Get("x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(orch_->Get(NewId()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OrchestratorTest, DagRunsInDependencyOrderAndFeedsOutputs) {
  Open();
  absl::Mutex mu;
  std::vector<std::string> order;
  auto handler = [&](TaskContext& ctx) -> absl::StatusOr<Json> {
    {
      absl::MutexLock l(&mu);
      order.push_back(ctx.input()["name"].get<std::string>());
    }
    int sum = 1;
    for (const auto& [id, out] : ctx.dependency_outputs()) sum += out["value"].get<int>();
    return Json{{"value", sum}};
  };
  ASSERT_TRUE(orch_->RegisterHandler("kExecutor", handler).ok());
  // a -> (b, c) -> d : fan-out then fan-in.
  std::string a = NewId(), b = NewId(), c = NewId(), d = NewId();
  std::vector<std::string> plan = {
      Sign("kExecutor", {{"input", {{"name", "d"}}}, {"depends_on", {b, c}}}, d),
      Sign("kExecutor", {{"input", {{"name", "b"}}}, {"depends_on", {a}}}, b),
      Sign("kExecutor", {{"input", {{"name", "c"}}}, {"depends_on", {a}}}, c),
      Sign("kExecutor", {{"input", {{"name", "a"}}}}, a),
  };
  auto plan_id = orch_->SubmitPlan(plan);
  ASSERT_TRUE(plan_id.ok()) << plan_id.status();
  TaskInfo td = WaitDone(d);
  EXPECT_EQ(td.state, TaskState::kSucceeded);
  EXPECT_EQ(td.output["value"], 5);  // 1 + b(2) + c(2)
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order.front(), "a");
  EXPECT_EQ(order.back(), "d");
  auto tasks = orch_->PlanTasks(*plan_id).value();
  ASSERT_EQ(tasks.size(), 4u);
  for (const auto& t : tasks) {
    EXPECT_EQ(t.plan_id, *plan_id);
    EXPECT_EQ(t.trace_id, tasks[0].trace_id);  // one trace per plan
  }
}

TEST_F(OrchestratorTest, PlansWithCyclesOrDuplicateIdsAreRefused) {
  Open();
  std::string a = NewId(), b = NewId();
  auto r = orch_->SubmitPlan(
      {Sign("kExecutor", {{"depends_on", {b}}}, a), Sign("kExecutor", {{"depends_on", {a}}}, b)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "cycle")) << r.status();
  EXPECT_TRUE(orch_->List({}).value().empty());
  EXPECT_FALSE(orch_->SubmitPlan({}).ok());
}

TEST_F(OrchestratorTest, FailurePropagatesToDependants) {
  Open();
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      if (ctx.input().value("fail", false))
                                        return absl::InvalidArgumentError("bad input");
                                      return Json::object();
                                    })
                  .ok());
  std::string a = NewId(), b = NewId(), c = NewId();
  ASSERT_TRUE(orch_
                  ->SubmitPlan({Sign("kExecutor", {{"input", {{"fail", true}}}}, a),
                                Sign("kExecutor", {{"depends_on", {a}}}, b),
                                Sign("kExecutor", {{"depends_on", {b}}}, c)})
                  .ok());
  EXPECT_EQ(WaitDone(a).state, TaskState::kFailed);
  TaskInfo tc = WaitDone(c);
  EXPECT_EQ(tc.state, TaskState::kFailed);
  EXPECT_EQ(tc.attempt, 0);  // never ran
  EXPECT_TRUE(absl::StrContains(WaitDone(b).error, a));
  EXPECT_EQ(WaitDone(a).error_code, "INVALID_ARGUMENT");
}

TEST_F(OrchestratorTest, RetriesWithExponentialBackoffOnTheFakeClock) {
  Open();
  std::atomic<int> calls{0};
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      if (++calls < 3) return absl::UnavailableError("flaky");
                                      return Json{{"ok", true}};
                                    })
                  .ok());
  auto id = orch_
                ->Submit(Sign("kExecutor", {{"retry",
                                             {{"max_attempts", 3},
                                              {"initial_backoff_ms", 10000},
                                              {"multiplier", 2},
                                              {"jitter", 0}}}}))
                .value();
  auto wait_state = [&](TaskState s) {
    for (int i = 0; i < 5000 && orch_->Get(id).value().state != s; ++i)
      absl::SleepFor(absl::Milliseconds(1));
    return orch_->Get(id).value().state;
  };
  EXPECT_EQ(wait_state(TaskState::kRetrying), TaskState::kRetrying);
  EXPECT_EQ(calls.load(), 1);
  clock_.Advance(absl::Seconds(9));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(calls.load(), 1);  // backoff not over
  clock_.Advance(absl::Seconds(1));
  for (int i = 0; i < 5000 && calls.load() < 2; ++i) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(wait_state(TaskState::kRetrying), TaskState::kRetrying);
  clock_.Advance(absl::Seconds(19));  // second backoff is 20 s
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(calls.load(), 2);
  clock_.Advance(absl::Seconds(1));
  TaskInfo t = WaitDone(id);
  EXPECT_EQ(t.state, TaskState::kSucceeded);
  EXPECT_EQ(t.attempt, 3);
}

TEST_F(OrchestratorTest, NonRetryableErrorsFailAtOnce) {
  Open();
  std::atomic<int> calls{0};
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      ++calls;
                                      return absl::PermissionDeniedError("no");
                                    })
                  .ok());
  auto id = orch_->Submit(Sign("kExecutor", {{"retry", {{"max_attempts", 5}}}})).value();
  TaskInfo t = WaitDone(id);
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(t.error_code, "PERMISSION_DENIED");
}

TEST_F(OrchestratorTest, TimeoutsCancelTheHandlerAndAreRecorded) {
  options_.default_timeout = absl::Seconds(30);
  Open();
  absl::Notification running;
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      running.Notify();
                                      ctx.WaitForCancel(absl::Seconds(20));
                                      return Json::object();
                                    })
                  .ok());
  auto id = orch_->Submit(Sign("kExecutor", {{"timeout_ms", 5000}})).value();
  running.WaitForNotification();
  clock_.Advance(absl::Seconds(5));
  TaskInfo t = WaitDone(id);
  EXPECT_EQ(t.state, TaskState::kTimedOut);
  EXPECT_EQ(t.error_code, "DEADLINE_EXCEEDED");
}

TEST_F(OrchestratorTest, CancellationReachesTheRunningHandler) {
  Open();
  absl::Notification running;
  std::atomic<int64_t> seen_ns{0};
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      running.Notify();
                                      if (ctx.WaitForCancel(absl::Seconds(20)))
                                        seen_ns = absl::GetCurrentTimeNanos();
                                      return Json::object();
                                    })
                  .ok());
  std::string a = NewId(), b = NewId();
  ASSERT_TRUE(orch_
                  ->SubmitPlan({Sign("kExecutor", Json::object(), a),
                                Sign("kExecutor", {{"depends_on", {a}}}, b)})
                  .ok());
  running.WaitForNotification();
  int64_t asked = absl::GetCurrentTimeNanos();
  ASSERT_TRUE(orch_->Cancel(a).ok());
  EXPECT_EQ(WaitDone(a).state, TaskState::kCancelled);
  ASSERT_GT(seen_ns.load(), 0) << "the handler never saw the cancellation";
  // Reported, not asserted: timings are not pass/fail in unit tests.
  std::printf("cancel-to-handler latency: %.3f ms\n", (seen_ns.load() - asked) / 1e6);
  EXPECT_EQ(WaitDone(b).state, TaskState::kCancelled);  // dependants are cancelled too
  EXPECT_EQ(orch_->Cancel(a).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(OrchestratorTest, CancelledQueuedTaskNeverRuns) {
  Open();  // no handler yet: the task waits in the queue
  auto id = orch_->Submit(Sign("kExecutor")).value();
  ASSERT_TRUE(orch_->Cancel(id).ok());
  std::atomic<int> runs{0};
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      ++runs;
                                      return Json::object();
                                    })
                  .ok());
  EXPECT_EQ(WaitDone(id).state, TaskState::kCancelled);
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(runs.load(), 0);
}

TEST_F(OrchestratorTest, MaxConcurrentIsNeverExceeded) {
  options_.max_concurrent = 4;
  options_.agents = {Agent("kExecutor"), Agent("kPlanner", 2)};
  Open();
  std::atomic<int> now{0}, peak{0}, planner_now{0}, planner_peak{0};
  auto track = [](std::atomic<int>& cur, std::atomic<int>& max) {
    int v = ++cur;
    int m = max.load();
    while (v > m && !max.compare_exchange_weak(m, v)) {
    }
  };
  for (const char* agent : {"kExecutor", "kPlanner"}) {
    bool planner = std::string(agent) == "kPlanner";
    ASSERT_TRUE(orch_
                    ->RegisterHandler(agent,
                                      [&, planner](TaskContext&) -> absl::StatusOr<Json> {
                                        track(now, peak);
                                        if (planner) track(planner_now, planner_peak);
                                        absl::SleepFor(absl::Microseconds(300));
                                        if (planner) --planner_now;
                                        --now;
                                        return Json::object();
                                      })
                    .ok());
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i)
    ids.push_back(orch_->Submit(Sign(i % 2 ? "kExecutor" : "kPlanner")).value());
  for (const auto& id : ids) EXPECT_EQ(WaitDone(id).state, TaskState::kSucceeded);
  EXPECT_LE(peak.load(), 4);
  EXPECT_LE(planner_peak.load(), 2);
  EXPECT_LE(orch_->stats().max_running_seen, 4);
  EXPECT_GE(peak.load(), 2);  // the pool really ran tasks in parallel
}

TEST_F(OrchestratorTest, IdempotencyKeyCreatesOneTask) {
  Open();
  std::atomic<int> runs{0};
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      ++runs;
                                      return Json::object();
                                    })
                  .ok());
  auto first = orch_->Submit(Sign("kExecutor", {{"idempotency_key", "invoice-42"}})).value();
  auto second = orch_->Submit(Sign("kExecutor", {{"idempotency_key", "invoice-42"}})).value();
  EXPECT_EQ(first, second);
  WaitDone(first);
  EXPECT_TRUE(orch_->Shutdown().ok());
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(orch_->List({}).value().size(), 1u);
}

TEST_F(OrchestratorTest, PermissionsAreEnforced) {
  auto access = AccessController::Open().value();
  ASSERT_TRUE(access
                  ->LoadJson(R"({
    "agents": {
      "kCore": {"allow": ["agents:kExecutor:execute", "agents:kPlanner:execute"]},
      "kExecutor": {"allow": ["memory:ns/alice/*:read"], "deny": ["vault:**:*"]}
    }})")
                  .ok());
  options_.access = access.get();
  Open();
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      KOS_RETURN_IF_ERROR(
                                          ctx.Authorize("vault:kv/team/openai", "read"));
                                      return Json::object();
                                    })
                  .ok());
  // kCore may not dispatch to kReviewer.
  EXPECT_EQ(orch_->Submit(Sign("kReviewer")).status().code(), absl::StatusCode::kPermissionDenied);
  // kExecutor lacks memory write.
  EXPECT_EQ(orch_->Submit(Sign("kExecutor", {{"requires", {"memory:ns/alice/notes:write"}}}))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(last_event_, "task.denied");
  // Allowed to run, but the handler's own access check is denied at run time.
  auto id = orch_->Submit(Sign("kExecutor", {{"requires", {"memory:ns/alice/notes:read"}}}));
  ASSERT_TRUE(id.ok()) << id.status();
  TaskInfo t = WaitDone(*id);
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.error_code, "PERMISSION_DENIED");
  EXPECT_EQ(last_event_, "agent.permission_denied");
}

// A whole DAG in one signed envelope: one signature for every task, the
// same checks as SubmitPlan, and the envelope accepted at most once.
TEST_F(OrchestratorTest, SignedPlanRunsADagFromOneEnvelope) {
  auto access = AccessController::Open().value();
  ASSERT_TRUE(access
                  ->LoadJson(R"({"agents": {"kCore": {"allow": [
      "agents:kExecutor:execute", "agents:kPlanner:execute"]}}})")
                  .ok());
  options_.access = access.get();
  Open();
  std::atomic<int> runs{0};
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      ++runs;
                                      int sum = ctx.input().value("n", 0);
                                      for (const auto& [id, out] : ctx.dependency_outputs())
                                        sum += out.get<int>();
                                      return Json(sum);
                                    })
                  .ok());
  auto sign_plan = [&](Json tasks) {
    TaskRequest r;
    r.audience = kPlanAudience;
    r.payload = {{"tasks", std::move(tasks)}};
    return signing_.signer->Sign(r).value().text;
  };
  std::string a = NewId(), b = NewId();
  std::string env = sign_plan(
      Json::array({{{"agent", "kExecutor"}, {"id", a}, {"input", {{"n", 1}}}},
                   {{"agent", "kExecutor"}, {"id", b}, {"input", {{"n", 10}}}, {"depends_on", {a}}},
                   {{"agent", "kExecutor"}, {"input", {{"n", 100}}}, {"depends_on", {a, b}}}}));
  auto plan = orch_->SubmitSignedPlan(env);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<TaskInfo> tasks = orch_->PlanTasks(*plan).value();
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].id, a);
  EXPECT_EQ(tasks[1].id, b);
  EXPECT_TRUE(IsValidId(tasks[2].id));
  EXPECT_EQ(WaitDone(a).output, Json(1));
  EXPECT_EQ(WaitDone(b).output, Json(11));
  EXPECT_EQ(WaitDone(tasks[2].id).output, Json(112));
  EXPECT_EQ(tasks[2].trace_id, tasks[0].trace_id);
  EXPECT_NE(tasks[2].span_id, tasks[0].span_id);

  // Replayed, tampered and single-task uses of the envelope are refused.
  EXPECT_EQ(orch_->SubmitSignedPlan(env).status().code(), absl::StatusCode::kUnauthenticated);
  std::string env2 = sign_plan(Json::array({{{"agent", "kExecutor"}, {"input", {{"n", 5}}}}}));
  std::string tampered = env2;
  tampered.replace(tampered.find("\"n\":5"), 5, "\"n\":6");
  EXPECT_EQ(orch_->SubmitSignedPlan(tampered).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(orch_->Submit(env2).status().code(), absl::StatusCode::kNotFound);
  // An envelope for one agent is not a plan.
  EXPECT_EQ(orch_->SubmitSignedPlan(Sign("kExecutor")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(last_event_, "task.rejected");

  // Bad entries fail the whole plan, naming the entry, and store nothing.
  size_t before = orch_->List(TaskFilter{}).value().size();
  auto bad = orch_->SubmitSignedPlan(
      sign_plan(Json::array({{{"agent", "kExecutor"}}, {{"agent", "kNobody"}}})));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "plan task 1:")) << bad.status();
  EXPECT_EQ(
      orch_->SubmitSignedPlan(sign_plan(Json::array({{{"agent", "kReviewer"}}}))).status().code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(orch_
                ->SubmitSignedPlan(
                    sign_plan(Json::array({{{"agent", "kExecutor"}, {"priority", "high"}}})))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(orch_
                ->SubmitSignedPlan(
                    sign_plan(Json::array({{{"agent", "kExecutor"}, {"id", "not-a-ulid"}}})))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::string c = NewId();
  EXPECT_EQ(orch_
                ->SubmitSignedPlan(sign_plan(
                    Json::array({{{"agent", "kExecutor"}, {"id", c}, {"depends_on", {c}}}})))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(orch_->SubmitSignedPlan(sign_plan(Json::array())).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A plan cannot smuggle in a task larger than one signed on its own may be.
  const std::string big(70 * 1024, 'x');
  auto oversize = orch_->SubmitSignedPlan(sign_plan(Json::array(
      {{{"agent", "kExecutor"}}, {{"agent", "kExecutor"}, {"input", {{"blob", big}}}}})));
  EXPECT_EQ(oversize.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(oversize.status().message(), "plan task 1:")) << oversize.status();
  EXPECT_EQ(orch_->List(TaskFilter{}).value().size(), before);
  EXPECT_TRUE(orch_->Shutdown().ok());
  EXPECT_EQ(runs.load(), 3);
}

TEST_F(OrchestratorTest, ReviewPausesUntilApprovedOrRejected) {
  Open();
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [](TaskContext&) -> absl::StatusOr<Json> {
                                      return Json{{"draft", "hello"}};
                                    })
                  .ok());
  std::string a = NewId(), b = NewId();
  ASSERT_TRUE(orch_
                  ->SubmitPlan({Sign("kExecutor", {{"review", true}}, a),
                                Sign("kExecutor", {{"depends_on", {a}}}, b)})
                  .ok());
  EXPECT_EQ(WaitDone(a).state, TaskState::kAwaitingReview);
  EXPECT_EQ(orch_->Get(b).value().state, TaskState::kWaiting);
  EXPECT_EQ(orch_->Approve(a, "").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(orch_->Approve(a, "user:alice").ok());
  EXPECT_EQ(WaitDone(a).reviewer, "user:alice");
  EXPECT_EQ(WaitDone(b).state, TaskState::kSucceeded);
  EXPECT_EQ(orch_->Approve(a, "user:alice").code(), absl::StatusCode::kFailedPrecondition);

  auto c = orch_->Submit(Sign("kExecutor", {{"review", true}})).value();
  WaitDone(c);
  ASSERT_TRUE(orch_->Reject(c, "user:bob", "wrong tone").ok());
  TaskInfo tc = WaitDone(c);
  EXPECT_EQ(tc.state, TaskState::kFailed);
  EXPECT_TRUE(absl::StrContains(tc.error, "wrong tone"));
}

TEST_F(OrchestratorTest, PlannerAddsSubtasksAtRunTime) {
  Open();
  absl::Mutex mu;
  std::vector<std::string> children;
  ASSERT_TRUE(
      orch_
          ->RegisterHandler("kPlanner",
                            [&](TaskContext& ctx) -> absl::StatusOr<Json> {
                              for (int i = 0; i < 3; ++i) {
                                KOS_ASSIGN_OR_RETURN(
                                    std::string id,
                                    ctx.AddSubtask("kExecutor", {{"input", {{"step", i}}}}));
                                absl::MutexLock l(&mu);
                                children.push_back(id);
                              }
                              return Json{{"planned", 3}};
                            })
          .ok());
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      return Json{{"done", ctx.input()["step"]}};
                                    })
                  .ok());
  auto parent = orch_->Submit(Sign("kPlanner")).value();
  TaskInfo p = WaitDone(parent);
  EXPECT_EQ(p.state, TaskState::kSucceeded);
  ASSERT_EQ(children.size(), 3u);
  for (const auto& id : children) {
    TaskInfo c = WaitDone(id);
    EXPECT_EQ(c.state, TaskState::kSucceeded);
    EXPECT_EQ(c.parent_id, parent);
    EXPECT_EQ(c.trace_id, p.trace_id);
    EXPECT_EQ(c.parent_span_id, p.span_id);
  }
}

TEST_F(OrchestratorTest, LogsStreamToSubscribers) {
  Open();
  absl::Mutex mu;
  std::vector<std::string> streamed;
  uint64_t sub = orch_->Subscribe("", [&](const TaskLogLine& l) {
    absl::MutexLock lock(&mu);
    streamed.push_back(l.message);
  });
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [](TaskContext& ctx) -> absl::StatusOr<Json> {
                                      for (int i = 0; i < 5; ++i)
                                        ctx.Log(LogLevel::kInfo, absl::StrCat("step ", i));
                                      return Json::object();
                                    })
                  .ok());
  auto id = orch_->Submit(Sign("kExecutor")).value();
  WaitDone(id);
  orch_->Unsubscribe(sub);
  EXPECT_EQ(streamed.size(), 5u);
  auto tail = orch_->Logs(id, 3).value();
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].message, "step 3");
  EXPECT_EQ(tail[0].seq, 4u);
}

TEST_F(OrchestratorTest, ThousandTaskPlan) {
  options_.max_concurrent = 8;
  Open();
  std::atomic<int> runs{0};
  ASSERT_TRUE(
      orch_
          ->RegisterHandler("kExecutor",
                            [&](TaskContext& ctx) -> absl::StatusOr<Json> {
                              ++runs;
                              return Json{{"n", static_cast<int>(ctx.dependency_outputs().size())}};
                            })
          .ok());
  // A chain of 10 layers of 100 tasks; each depends on one task of the layer before.
  std::vector<std::string> ids(1000);
  for (auto& id : ids) id = NewId();
  std::vector<std::string> plan;
  for (int i = 0; i < 1000; ++i) {
    Json p = Json::object();
    if (i >= 100) p["depends_on"] = {ids[i - 100]};
    plan.push_back(Sign("kExecutor", p, ids[i]));
  }
  auto plan_id = orch_->SubmitPlan(plan);
  ASSERT_TRUE(plan_id.ok()) << plan_id.status();
  for (int i = 900; i < 1000; ++i) EXPECT_EQ(WaitDone(ids[i]).state, TaskState::kSucceeded);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(WaitDone(ids[i]).state, TaskState::kSucceeded);
  EXPECT_EQ(runs.load(), 1000);
}

TEST_F(OrchestratorTest, RecoveryRequeuesInterruptedWorkAndNeverRerunsFinishedTasks) {
  std::unique_ptr<Store> shared;
  {
    Open();
    std::atomic<int> runs{0};
    ASSERT_TRUE(orch_
                    ->RegisterHandler("kExecutor",
                                      [&](TaskContext&) -> absl::StatusOr<Json> {
                                        ++runs;
                                        return Json::object();
                                      })
                    .ok());
    auto done = orch_->Submit(Sign("kExecutor")).value();
    WaitDone(done);
    orch_.reset();  // graceful
  }
  // Forge the state a crash leaves behind: one task "running", one queued.
  {
    Open();
    EXPECT_TRUE(orch_->Shutdown().ok());  // workers stopped; the next submissions stay queued
  }
  orch_.reset();
  Open();
  auto queued = orch_->Submit(Sign("kPlanner")).value();  // kPlanner has no handler yet
  auto rec = store_->Get("tasks", queued).value();
  Json j = ParseJson(rec.value).value();
  j["state"] = "running";
  j["attempt"] = 0;
  ASSERT_TRUE(store_->Put("tasks", queued, DumpJson(j), rec.version).ok());
  orch_.reset();

  Open();
  EXPECT_EQ(orch_->stats().recovered, 1u);
  std::atomic<int> runs{0};
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kPlanner",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      ++runs;
                                      return Json::object();
                                    })
                  .ok());
  ASSERT_TRUE(orch_
                  ->RegisterHandler("kExecutor",
                                    [&](TaskContext&) -> absl::StatusOr<Json> {
                                      ADD_FAILURE() << "a finished task ran again";
                                      return Json::object();
                                    })
                  .ok());
  EXPECT_EQ(WaitDone(queued).state, TaskState::kSucceeded);
  EXPECT_EQ(runs.load(), 1);
}

TEST(AgentConfigTest, RejectsBadOptions) {
  auto store = OpenStore("memory:").value();
  OrchestratorOptions o;
  EXPECT_EQ(Orchestrator::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  FakeClock clock;
  auto s = SigningSetup::Make(store.get(), &clock);
  o.store = store.get();
  o.keys = s.keys.get();
  o.max_concurrent = 0;
  EXPECT_EQ(Orchestrator::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.max_concurrent = 2;
  o.agents = {Agent("kA"), Agent("kA")};
  EXPECT_EQ(Orchestrator::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.agents = {Agent("1bad")};
  EXPECT_EQ(Orchestrator::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
