#include "kos/telemetry.h"

#include <deque>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kos/status.h"

namespace kos {

const char* LogStreamName(LogStream s) {
  switch (s) {
    case LogStream::kSystem:
      return "system";
    case LogStream::kAgents:
      return "agents";
    case LogStream::kSecurity:
      return "security";
  }
  return "system";
}

absl::StatusOr<LogStream> ParseLogStream(absl::string_view name) {
  std::string n = absl::AsciiStrToLower(name);
  if (n == "system") return LogStream::kSystem;
  if (n == "agents") return LogStream::kAgents;
  if (n == "security") return LogStream::kSecurity;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log stream '", name, "' (expected system, agents or security)"));
}

namespace {

constexpr int kStreams = 3;

// Records written with LogFields carry their fields as JSON text; readers of
// QueryLogs get them as `fields`, like every other record.
void MaterializeRenderedFields(LogRecord* r) {
  if (r->rendered_fields.empty()) return;
  auto parsed = ParseJson(absl::StrCat("{", r->rendered_fields, "}"));
  if (!r->fields.is_object()) r->fields = Json::object();
  if (parsed.ok() && parsed->is_object()) {
    for (auto it = parsed->begin(); it != parsed->end(); ++it) r->fields[it.key()] = it.value();
  } else {
    // Only a key added twice gets here (the text is otherwise valid JSON).
    r->fields["rendered_fields"] = r->rendered_fields;
  }
  r->rendered_fields.clear();
}

// Keeps the newest records of one stream for QueryLogs and forwards every
// record to the file sink (if any).
class StreamSink final : public LogSink {
 public:
  StreamSink(std::unique_ptr<JsonlFileSink> file, size_t capacity)
      : file_(std::move(file)), capacity_(capacity) {}

  void Write(const LogRecord& r) override { WriteOwned(LogRecord(r)); }
  void WriteOwned(LogRecord&& r) override {
    if (file_) file_->Write(r);
    LogRecord evicted;  // destroyed outside the lock
    absl::MutexLock l(&mu_);
    recent_.push_back(std::move(r));
    if (recent_.size() > capacity_) {
      evicted = std::move(recent_.front());
      recent_.pop_front();
    }
  }
  void Flush() override {
    if (file_) file_->Flush();
  }

  void Collect(const LogQuery& q, std::vector<LogRecord>* out) {
    absl::MutexLock l(&mu_);
    for (const LogRecord& r : recent_) {
      if (r.level < q.min_level || r.time < q.since || r.time > q.until) continue;
      if (!q.component.empty() && r.component != q.component) continue;
      if (!q.event.empty() && r.event != q.event) continue;
      if (!q.trace_id.empty() && r.trace_id != q.trace_id) continue;
      out->push_back(r);
      MaterializeRenderedFields(&out->back());
    }
  }

 private:
  std::unique_ptr<JsonlFileSink> file_;
  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<LogRecord> recent_ ABSL_GUARDED_BY(mu_);
};

bool Compare(AlertRule::Comparison c, double v, double t) {
  switch (c) {
    case AlertRule::Comparison::kGreater:
      return v > t;
    case AlertRule::Comparison::kGreaterOrEqual:
      return v >= t;
    case AlertRule::Comparison::kLess:
      return v < t;
    case AlertRule::Comparison::kLessOrEqual:
      return v <= t;
  }
  return false;
}

}  // namespace

class Telemetry::Impl {
 public:
  explicit Impl(const TelemetryOptions& o) : options_(o) {}

  absl::Status Init() {
    if (options_.recent_capacity == 0) {
      return absl::InvalidArgumentError("recent_capacity must be > 0");
    }
    for (int i = 0; i < kStreams; ++i) {
      std::unique_ptr<JsonlFileSink> file;
      if (!options_.logs_dir.empty()) {
        JsonlFileSinkOptions fo;
        fo.stem = LogStreamName(static_cast<LogStream>(i));
        fo.directory = absl::StrCat(options_.logs_dir, "/", fo.stem);
        fo.retention_days = options_.retention_days;
        fo.max_file_bytes = options_.max_file_bytes;
        fo.compress_rotated = options_.compress_rotated;
        fo.clock = options_.clock;
        KOS_ASSIGN_OR_RETURN(file, JsonlFileSink::Open(fo));
      }
      streams_[i] = std::make_unique<StreamSink>(std::move(file), options_.recent_capacity);
    }
    if (options_.process_metrics) RegisterProcessMetrics(&metrics_);
    // Declared up front so /metrics shows the seed's families before any task runs.
    KOS_ASSIGN_OR_RETURN(active_agents_,
                         metrics_.GetGauge("active_agents", "Agents currently running a task."));
    return absl::OkStatus();
  }

  const TelemetryOptions options_;
  std::unique_ptr<StreamSink> streams_[kStreams];
  MetricsRegistry metrics_;
  Gauge* active_agents_ = nullptr;

  struct RuleState {
    AlertRule rule;
    bool firing = false;
    std::deque<std::pair<absl::Time, double>> samples;
  };
  absl::Mutex alerts_mu_;
  std::map<std::string, RuleState> rules_ ABSL_GUARDED_BY(alerts_mu_);
};

Telemetry::Telemetry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Telemetry::~Telemetry() { Flush(); }

absl::StatusOr<std::unique_ptr<Telemetry>> Telemetry::Open(const TelemetryOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  KOS_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Telemetry>(new Telemetry(std::move(impl)));
}

Logger Telemetry::logger(LogStream stream, std::string component) {
  return Logger(sink(stream), std::move(component), impl_->options_.min_level,
                impl_->options_.clock);
}

LogSink* Telemetry::sink(LogStream stream) {
  return impl_->streams_[static_cast<int>(stream)].get();
}

MetricsRegistry* Telemetry::metrics() { return &impl_->metrics_; }

Counter* Telemetry::AgentTasks(absl::string_view agent_type, absl::string_view status) {
  return impl_->metrics_
      .GetCounter("agent_tasks_total", "Agent tasks by agent type and final status.",
                  {{"agent_type", std::string(agent_type)}, {"status", std::string(status)}})
      .value();
}

Histogram* Telemetry::AgentTaskDuration(absl::string_view agent_type) {
  return impl_->metrics_
      .GetHistogram("agent_task_duration_seconds", "Agent task run time in seconds.",
                    {{"agent_type", std::string(agent_type)}})
      .value();
}

Gauge* Telemetry::ActiveAgents() { return impl_->active_agents_; }

absl::Status Telemetry::AddAlertRule(const AlertRule& rule) {
  if (rule.name.empty()) return absl::InvalidArgumentError("alert rule needs a name");
  if (rule.metric.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("alert rule '", rule.name, "' needs a metric"));
  }
  if (rule.window < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("alert rule '", rule.name, "': negative window"));
  }
  absl::MutexLock l(&impl_->alerts_mu_);
  if (impl_->rules_.count(rule.name)) {
    return absl::InvalidArgumentError(absl::StrCat("alert rule '", rule.name, "' already exists"));
  }
  impl_->rules_[rule.name].rule = rule;
  return absl::OkStatus();
}

std::vector<AlertEvent> Telemetry::EvaluateAlerts() {
  absl::Time now = impl_->options_.clock->Now();
  std::vector<std::pair<AlertEvent, AlertRule>> transitions;
  {
    absl::MutexLock l(&impl_->alerts_mu_);
    for (auto& [name, st] : impl_->rules_) {
      // A metric that does not exist yet counts as 0: nothing has happened.
      double v = impl_->metrics_.Sample(st.rule.metric, st.rule.labels).value_or(0.0);
      double compared = v;
      if (st.rule.window > absl::ZeroDuration()) {
        st.samples.emplace_back(now, v);
        // Keep one sample at or before the window start as the baseline.
        while (st.samples.size() > 1 && st.samples[1].first <= now - st.rule.window) {
          st.samples.pop_front();
        }
        compared = v - st.samples.front().second;
      }
      bool fire = Compare(st.rule.comparison, compared, st.rule.threshold);
      if (fire != st.firing) {
        st.firing = fire;
        transitions.push_back({AlertEvent{name, fire, compared, now}, st.rule});
      }
    }
  }
  std::vector<AlertEvent> out;
  for (auto& [ev, rule] : transitions) {
    Logger log = logger(rule.stream, "alerts");
    log.Log(ev.firing ? rule.level : LogLevel::kInfo, ev.firing ? "alert.firing" : "alert.resolved",
            {{"rule", ev.rule},
             {"metric", rule.metric},
             {"value", ev.value},
             {"threshold", rule.threshold}});
    out.push_back(ev);
  }
  return out;
}

std::vector<LogRecord> Telemetry::QueryLogs(const LogQuery& q) {
  std::vector<LogRecord> out;
  for (int i = 0; i < kStreams; ++i) {
    if (q.stream && static_cast<int>(*q.stream) != i) continue;
    impl_->streams_[i]->Collect(q, &out);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const LogRecord& a, const LogRecord& b) { return a.time < b.time; });
  if (out.size() > q.limit) out.erase(out.begin(), out.end() - static_cast<long>(q.limit));
  return out;
}

void Telemetry::Flush() {
  for (auto& s : impl_->streams_) {
    if (s) s->Flush();
  }
}

}  // namespace kos
