#include "kos/metrics.h"

#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kos {
namespace {

TEST(MetricsTest, RendersPrometheusText) {
  MetricsRegistry r;
  Counter* c = r.GetCounter("agent_tasks_total", "Tasks by agent and status.",
                            {{"status", "succeeded"}, {"agent_type", "kPlanner"}})
                   .value();
  c->Increment();
  c->Increment(2);
  c->Increment(-5);  // ignored: counters only go up
  Gauge* g = r.GetGauge("active_agents", "Agents running a task.").value();
  g->Set(3);
  g->Add(-1);
  Histogram* h =
      r.GetHistogram("agent_task_duration_seconds", "Task duration.", {}, {0.1, 1}).value();
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(7);
  std::string text = r.RenderPrometheus();
  EXPECT_EQ(text,
            "# HELP active_agents Agents running a task.\n"
            "# TYPE active_agents gauge\n"
            "active_agents 2\n"
            "# HELP agent_task_duration_seconds Task duration.\n"
            "# TYPE agent_task_duration_seconds histogram\n"
            "agent_task_duration_seconds_bucket{le=\"0.1\"} 1\n"
            "agent_task_duration_seconds_bucket{le=\"1\"} 2\n"
            "agent_task_duration_seconds_bucket{le=\"+Inf\"} 3\n"
            "agent_task_duration_seconds_sum 7.55\n"
            "agent_task_duration_seconds_count 3\n"
            "# HELP agent_tasks_total Tasks by agent and status.\n"
            "# TYPE agent_tasks_total counter\n"
            "agent_tasks_total{agent_type=\"kPlanner\",status=\"succeeded\"} 3\n");
}

TEST(MetricsTest, SameLabelsSameMetricAndEscaping) {
  MetricsRegistry r;
  Counter* a = r.GetCounter("x_total", "h", {{"a", "1"}, {"b", "2"}}).value();
  Counter* b = r.GetCounter("x_total", "h", {{"b", "2"}, {"a", "1"}}).value();
  EXPECT_EQ(a, b);
  r.GetCounter("y_total", "line1\nline2", {{"path", "a\"b\\c\nd"}}).value()->Increment();
  std::string text = r.RenderPrometheus();
  EXPECT_TRUE(absl::StrContains(text, "# HELP y_total line1\\nline2\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "y_total{path=\"a\\\"b\\\\c\\nd\"} 1\n")) << text;
}

TEST(MetricsTest, RejectsBadNamesAndTypeClashes) {
  MetricsRegistry r;
  EXPECT_FALSE(r.GetCounter("9bad", "h").ok());
  EXPECT_FALSE(r.GetCounter("bad-name", "h").ok());
  EXPECT_FALSE(r.GetCounter("ok", "h", {{"le", "1"}}).ok());
  EXPECT_FALSE(r.GetCounter("ok", "h", {{"__x", "1"}}).ok());
  ASSERT_TRUE(r.GetCounter("dup", "h").ok());
  auto clash = r.GetGauge("dup", "h");
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(r.GetHistogram("hh", "h", {}, {1, 1}).ok());
}

TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  MetricsRegistry r;
  Counter* c = r.GetCounter("n_total", "h").value();
  Histogram* h = r.GetHistogram("d_seconds", "h").value();
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c->Increment();
        h->Observe(0.001);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c->Value(), 80000);
  EXPECT_EQ(h->Count(), 80000u);
}

TEST(MetricsTest, ProcessMetrics) {
  MetricsRegistry r;
  RegisterProcessMetrics(&r);
  std::string text = r.RenderPrometheus();
  EXPECT_TRUE(absl::StrContains(text, "process_open_fds ")) << text;
  EXPECT_TRUE(absl::StrContains(text, "process_resident_memory_bytes ")) << text;
  EXPECT_TRUE(absl::StrContains(text, "process_cpu_seconds_total ")) << text;
  EXPECT_GT(r.GetGauge("process_start_time_seconds", "").value()->Value(), 1.6e9);
}

}  // namespace
}  // namespace kos
