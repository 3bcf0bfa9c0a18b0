#include "kos/telemetry.h"

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kos/json.h"
#include "testing/test_util.h"

namespace kos {
namespace {

TEST(TelemetryTest, StreamsWriteToTheirOwnDirectories) {
  testing::TempDir dir;
  FakeClock clock;
  TelemetryOptions o;
  o.logs_dir = dir.path();
  o.clock = &clock;
  auto t = Telemetry::Open(o).value();
  t->logger(LogStream::kSystem, "server").Info("started");
  t->logger(LogStream::kAgents, "orchestrator").Info("task.started", {{"agent", "kPlanner"}});
  t->logger(LogStream::kSecurity, "auth").Warning("login.failed", {{"user", "alice"}});
  t->Flush();
  for (const char* s : {"system", "agents", "security"}) {
    std::string path = absl::StrCat(dir.path(), "/", s, "/", s, ".jsonl");
    std::string text = testing::ReadFileOrDie(path);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << path;
  }
  Json sec = ParseJson(testing::ReadFileOrDie(dir.path() + "/security/security.jsonl")).value();
  EXPECT_EQ(sec["event"], "login.failed");
  EXPECT_EQ(sec["level"], "WARNING");
}

TEST(TelemetryTest, RotatedFilesAreCompressed) {
  testing::TempDir dir;
  FakeClock clock(absl::FromUnixSeconds(1700000000));
  TelemetryOptions o;
  o.logs_dir = dir.path();
  o.clock = &clock;
  o.compress_rotated = true;
  auto t = Telemetry::Open(o).value();
  Logger log = t->logger(LogStream::kSystem, "x");
  log.Info("day1", {{"payload", std::string(100, 'a')}});
  t->Flush();
  clock.Advance(absl::Hours(24));
  log.Info("day2");
  t->Flush();
  std::string gz = dir.path() + "/system/system-2023-11-14.jsonl.gz";
  ASSERT_TRUE(std::filesystem::exists(gz));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/system/system-2023-11-14.jsonl"));
  gzFile f = gzopen(gz.c_str(), "rb");
  char buf[4096];
  int n = gzread(f, buf, sizeof(buf));
  gzclose(f);
  ASSERT_GT(n, 0);
  EXPECT_TRUE(absl::StrContains(std::string(buf, n), "\"event\":\"day1\""));
}

TEST(TelemetryTest, RenderedFieldsReadBackAsFieldsAndInTheFile) {
  testing::TempDir dir;
  FakeClock clock(absl::FromUnixSeconds(1000));
  TelemetryOptions o;
  o.clock = &clock;
  o.logs_dir = dir.path();
  o.process_metrics = false;
  auto t = Telemetry::Open(o).value();
  LogFields f;
  f.Add("method", "GET").Add("path", "/a\"b").Add("status", 200).Add("ms", 1.5);
  f.Add("level", "shadowed").Add("nan", std::nan(""));
  t->logger(LogStream::kSystem, "http").LogRendered(LogLevel::kInfo, "http.access", f);
  LogQuery q;
  q.event = "http.access";
  auto r = t->QueryLogs(q);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].fields["method"], "GET");
  EXPECT_EQ(r[0].fields["path"], "/a\"b");
  EXPECT_EQ(r[0].fields["status"], 200);
  EXPECT_DOUBLE_EQ(r[0].fields["ms"].get<double>(), 1.5);
  EXPECT_EQ(r[0].fields["field.level"], "shadowed");
  EXPECT_TRUE(r[0].fields["nan"].is_null());
  EXPECT_TRUE(r[0].rendered_fields.empty());
  t->Flush();
  std::ifstream in(dir.File("system/system.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  auto j = ParseJson(line);
  ASSERT_TRUE(j.ok()) << j.status() << ": " << line;
  EXPECT_EQ((*j)["event"], "http.access");
  EXPECT_EQ((*j)["level"], "INFO");
  EXPECT_EQ((*j)["field.level"], "shadowed");
  EXPECT_EQ((*j)["status"], 200);
}

TEST(TelemetryTest, QueryFiltersRecentLogs) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  TelemetryOptions o;
  o.clock = &clock;
  o.min_level = LogLevel::kDebug;
  auto t = Telemetry::Open(o).value();
  Logger agents = t->logger(LogStream::kAgents, "orchestrator");
  for (int i = 0; i < 10; ++i) {
    agents.Log(i % 2 ? LogLevel::kError : LogLevel::kInfo, "task.step", {{"i", i}},
               i < 5 ? "trace-a" : "trace-b");
    clock.Advance(absl::Seconds(1));
  }
  t->logger(LogStream::kSecurity, "auth").Warning("login.failed");

  LogQuery q;
  q.stream = LogStream::kAgents;
  q.trace_id = "trace-b";
  auto r = t->QueryLogs(q);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r.front().fields["i"], 5);

  q = LogQuery{};
  q.min_level = LogLevel::kError;
  EXPECT_EQ(t->QueryLogs(q).size(), 5u);

  q = LogQuery{};
  q.since = absl::FromUnixSeconds(1003);
  q.until = absl::FromUnixSeconds(1005);
  EXPECT_EQ(t->QueryLogs(q).size(), 3u);

  q = LogQuery{};
  q.limit = 2;
  r = t->QueryLogs(q);
  ASSERT_EQ(r.size(), 2u);  // the newest two, oldest first
  EXPECT_EQ(r[0].fields["i"], 9);
  EXPECT_EQ(r[1].event, "login.failed");

  q = LogQuery{};
  q.component = "auth";
  EXPECT_EQ(t->QueryLogs(q).size(), 1u);
}

TEST(TelemetryTest, RecentBufferIsBounded) {
  TelemetryOptions o;
  o.recent_capacity = 10;
  auto t = Telemetry::Open(o).value();
  for (int i = 0; i < 100; ++i) t->logger(LogStream::kSystem, "x").Info("e", {{"i", i}});
  LogQuery q;
  q.limit = 1000;
  auto r = t->QueryLogs(q);
  ASSERT_EQ(r.size(), 10u);
  EXPECT_EQ(r.front().fields["i"], 90);
  o.recent_capacity = 0;
  EXPECT_FALSE(Telemetry::Open(o).ok());
}

TEST(TelemetryTest, SeedMetricsAreExported) {
  TelemetryOptions o;
  o.process_metrics = false;
  auto t = Telemetry::Open(o).value();
  t->AgentTasks("kPlanner", "succeeded")->Increment();
  t->AgentTaskDuration("kPlanner")->Observe(0.2);
  t->ActiveAgents()->Set(2);
  std::string text = t->metrics()->RenderPrometheus();
  EXPECT_TRUE(
      absl::StrContains(text, "agent_tasks_total{agent_type=\"kPlanner\",status=\"succeeded\"} 1"));
  EXPECT_TRUE(
      absl::StrContains(text, "agent_task_duration_seconds_count{agent_type=\"kPlanner\"} 1"));
  EXPECT_TRUE(absl::StrContains(text, "active_agents 2"));
}

TEST(TelemetryTest, ThresholdAlertsFireAndResolveOverAWindow) {
  FakeClock clock(absl::FromUnixSeconds(0));
  TelemetryOptions o;
  o.clock = &clock;
  o.process_metrics = false;
  auto t = Telemetry::Open(o).value();
  AlertRule rule;
  rule.name = "login_failures_burst";
  rule.metric = "auth_login_failures_total";
  rule.comparison = AlertRule::Comparison::kGreaterOrEqual;
  rule.threshold = 5;
  rule.window = absl::Minutes(5);
  ASSERT_TRUE(t->AddAlertRule(rule).ok());
  EXPECT_FALSE(t->AddAlertRule(rule).ok());  // duplicate name

  EXPECT_TRUE(t->EvaluateAlerts().empty());  // metric absent: counts as 0
  Counter* failures = t->metrics()->GetCounter("auth_login_failures_total", "h").value();
  failures->Increment(4);
  clock.Advance(absl::Minutes(1));
  EXPECT_TRUE(t->EvaluateAlerts().empty());  // 4 in the window
  failures->Increment(1);
  clock.Advance(absl::Minutes(1));
  auto ev = t->EvaluateAlerts();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].firing);
  EXPECT_EQ(ev[0].value, 5);
  EXPECT_TRUE(t->EvaluateAlerts().empty());  // still firing: no new transition
  clock.Advance(absl::Minutes(10));          // the burst leaves the window
  ev = t->EvaluateAlerts();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].firing);

  LogQuery q;
  q.stream = LogStream::kSecurity;
  auto logs = t->QueryLogs(q);
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0].event, "alert.firing");
  EXPECT_EQ(logs[1].event, "alert.resolved");
}

TEST(TelemetryTest, GaugeAlertWithoutWindow) {
  FakeClock clock;
  TelemetryOptions o;
  o.clock = &clock;
  o.process_metrics = false;
  auto t = Telemetry::Open(o).value();
  AlertRule rule;
  rule.name = "too_many_agents";
  rule.metric = "active_agents";
  rule.threshold = 8;
  rule.stream = LogStream::kSystem;
  ASSERT_TRUE(t->AddAlertRule(rule).ok());
  t->ActiveAgents()->Set(9);
  auto ev = t->EvaluateAlerts();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].firing);
  AlertRule bad;
  EXPECT_EQ(t->AddAlertRule(bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseLogStream("nope").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
