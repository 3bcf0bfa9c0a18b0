// Telemetry: the three JSONL log streams of the kOS layout (logs/system,
// logs/agents, logs/security), the Prometheus metrics registry with the
// seed's agent metrics, threshold alerts, and a query API over recent logs.
#ifndef KOS_TELEMETRY_H_
#define KOS_TELEMETRY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"
#include "kos/logger.h"
#include "kos/metrics.h"

namespace kos {

enum class LogStream { kSystem = 0, kAgents = 1, kSecurity = 2 };
KOS_EXPORT const char* LogStreamName(LogStream s);  // "system", "agents", "security"
KOS_EXPORT absl::StatusOr<LogStream> ParseLogStream(absl::string_view name);

struct TelemetryOptions {
  // Root of the log tree; each stream writes <logs_dir>/<stream>/<stream>.jsonl.
  // Empty: no files, records are kept only in memory for QueryLogs.
  std::string logs_dir;
  // Rotated files older than this are deleted (the seed keeps 30 days locally).
  int retention_days = 30;
  // Rotate a stream's file when it would exceed this size (0: daily only).
  uint64_t max_file_bytes = 64 << 20;
  // gzip rotated files (<stream>-YYYY-MM-DD.jsonl.gz).
  bool compress_rotated = false;
  // Records below this level are dropped.
  LogLevel min_level = LogLevel::kInfo;
  // How many recent records per stream QueryLogs can see.
  size_t recent_capacity = 10000;
  // Register process_* metrics (CPU, memory, open fds) refreshed at scrape.
  bool process_metrics = true;
  // Time source. Not owned.
  Clock* clock = Clock::Real();
};

struct LogQuery {
  std::optional<LogStream> stream;  // unset: all streams
  LogLevel min_level = LogLevel::kDebug;
  std::string component;  // "" matches any
  std::string event;      // "" matches any
  std::string trace_id;   // "" matches any
  absl::Time since = absl::InfinitePast();
  absl::Time until = absl::InfiniteFuture();
  size_t limit = 100;  // the newest `limit` matches, returned oldest first
};

struct AlertRule {
  enum class Comparison { kGreater, kGreaterOrEqual, kLess, kLessOrEqual };
  std::string name;     // e.g. "login_failures_burst"
  std::string metric;   // metric family name
  MetricLabels labels;  // empty: sum over all label sets
  Comparison comparison = Comparison::kGreater;
  double threshold = 0;
  // Zero: compare the current value. Positive: compare the increase of the
  // value over this window (for counters: "more than 20 failures in 5 min").
  absl::Duration window = absl::ZeroDuration();
  LogStream stream = LogStream::kSecurity;  // where firing/resolved events go
  LogLevel level = LogLevel::kWarning;
};

struct AlertEvent {
  std::string rule;
  bool firing = false;  // false: resolved
  double value = 0;     // the value (or increase) that was compared
  absl::Time time;
};

// Owns the streams, the registry and the alert rules. Thread-safe.
class KOS_EXPORT Telemetry {
 public:
  static absl::StatusOr<std::unique_ptr<Telemetry>> Open(const TelemetryOptions& options);
  ~Telemetry();

  // A logger writing to `stream` as `component`. Valid while Telemetry lives.
  Logger logger(LogStream stream, std::string component);
  LogSink* sink(LogStream stream);
  MetricsRegistry* metrics();

  // The seed's metrics: agent_tasks_total{agent_type,status},
  // agent_task_duration_seconds{agent_type}, active_agents.
  Counter* AgentTasks(absl::string_view agent_type, absl::string_view status);
  Histogram* AgentTaskDuration(absl::string_view agent_type);
  Gauge* ActiveAgents();

  // INVALID_ARGUMENT for an empty name, duplicate name or negative window.
  absl::Status AddAlertRule(const AlertRule& rule);
  // Evaluates every rule now; returns the transitions (fired or resolved) and
  // writes each as an event to the rule's stream. Call it periodically.
  std::vector<AlertEvent> EvaluateAlerts();

  std::vector<LogRecord> QueryLogs(const LogQuery& query);
  void Flush();

 private:
  class Impl;
  explicit Telemetry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kos

#endif  // KOS_TELEMETRY_H_
