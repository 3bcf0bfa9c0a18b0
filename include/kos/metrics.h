// A small metrics registry that renders the Prometheus text exposition format
// (version 0.0.4). Counters, gauges and histograms, each in a family with a
// name, help text and label sets.
//
// Hot paths keep the pointer returned by Get*() and update it lock-free; the
// registry lock is taken only when a new label set is created and at scrape.
#ifndef KOS_METRICS_H_
#define KOS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "kos/export.h"

namespace kos {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing value. Thread-safe, lock-free.
class KOS_EXPORT Counter {
 public:
  void Increment(double delta = 1.0);  // negative deltas are ignored
  double Value() const;

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down. Thread-safe, lock-free.
class KOS_EXPORT Gauge {
 public:
  void Set(double v);
  void Add(double delta);
  double Value() const;

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into cumulative buckets. Thread-safe, lock-free.
class KOS_EXPORT Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Per-bucket (non-cumulative) counts; the last entry is +Inf.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t Count() const;
  double Sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// Default latency buckets in seconds (5 ms .. 10 s), as prometheus_client.
KOS_EXPORT std::vector<double> DefaultLatencyBuckets();

// Owns metric families. Thread-safe.
class KOS_EXPORT MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();

  // Returns the metric for (name, labels), creating it on first use. The
  // pointer stays valid for the registry's lifetime. INVALID_ARGUMENT for a bad
  // metric or label name, or a name already used by another metric type.
  absl::StatusOr<Counter*> GetCounter(absl::string_view name, absl::string_view help,
                                      const MetricLabels& labels = {});
  absl::StatusOr<Gauge*> GetGauge(absl::string_view name, absl::string_view help,
                                  const MetricLabels& labels = {});
  // `buckets` must be strictly increasing; empty means DefaultLatencyBuckets().
  // Later calls for the same family reuse the first call's buckets.
  absl::StatusOr<Histogram*> GetHistogram(absl::string_view name, absl::string_view help,
                                          const MetricLabels& labels = {},
                                          std::vector<double> buckets = {});

  // Runs before every render, e.g. to refresh process gauges at scrape time.
  void AddCollector(std::function<void(MetricsRegistry&)> collector);

  // The current value of a counter or gauge (a histogram gives its count).
  // With empty `labels`, the sum over every label set of the family; otherwise
  // the one matching set (0 if that set was never created). NOT_FOUND for an
  // unknown family. Used by alert rules.
  absl::StatusOr<double> Sample(absl::string_view name, const MetricLabels& labels = {});

  // The whole registry in Prometheus text format, families sorted by name.
  std::string RenderPrometheus();

 private:
  struct Family;
  absl::StatusOr<Family*> GetFamily(absl::string_view name, absl::string_view help, int type,
                                    const MetricLabels& labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(MetricsRegistry&)>> collectors_ ABSL_GUARDED_BY(mu_);
};

// Registers process_cpu_seconds_total, process_resident_memory_bytes,
// process_open_fds and process_start_time_seconds, read from /proc at scrape.
KOS_EXPORT void RegisterProcessMetrics(MetricsRegistry* registry);

}  // namespace kos

#endif  // KOS_METRICS_H_
