#include "kos/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kos {
namespace {

enum Type { kCounter = 0, kGauge = 1, kHistogram = 2 };
constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};

void AtomicAdd(std::atomic<double>& a, double d) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

bool ValidName(absl::string_view n, bool allow_colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string EscapeLabel(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string EscapeHelp(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrCat(v);
}

std::string LabelString(const MetricLabels& labels, absl::string_view extra_k = "",
                        absl::string_view extra_v = "") {
  if (labels.empty() && extra_k.empty()) return "";
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    absl::StrAppend(&s, first ? "" : ",", k, "=\"", EscapeLabel(v), "\"");
    first = false;
  }
  if (!extra_k.empty()) absl::StrAppend(&s, first ? "" : ",", extra_k, "=\"", extra_v, "\"");
  return s + "}";
}

}  // namespace

void Counter::Increment(double delta) {
  if (delta > 0) AtomicAdd(value_, delta);
}
double Counter::Value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::Set(double v) { value_.store(v, std::memory_order_relaxed); }
void Gauge::Add(double d) { AtomicAdd(value_, d); }
double Gauge::Value() const { return value_.load(std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}
uint64_t Histogram::Count() const { return count_.load(std::memory_order_relaxed); }
double Histogram::Sum() const { return sum_.load(std::memory_order_relaxed); }

std::vector<double> DefaultLatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0};
}

struct MetricsRegistry::Family {
  int type;
  std::string help;
  std::vector<double> buckets;
  std::map<MetricLabels, std::unique_ptr<Counter>> counters;
  std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
  std::map<MetricLabels, std::unique_ptr<Histogram>> histograms;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

absl::StatusOr<MetricsRegistry::Family*> MetricsRegistry::GetFamily(absl::string_view name,
                                                                    absl::string_view help,
                                                                    int type,
                                                                    const MetricLabels& labels) {
  if (!ValidName(name, true)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid metric name '", name, "'"));
  }
  for (const auto& [k, v] : labels) {
    if (!ValidName(k, false) || absl::StartsWith(k, "__") || k == "le") {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid label name '", k, "' on metric '", name, "'"));
    }
  }
  auto& f = families_[std::string(name)];
  if (f == nullptr) {
    f = std::make_unique<Family>();
    f->type = type;
    f->help = std::string(help);
  } else if (f->type != type) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metric '", name, "' is already a ", kTypeNames[f->type], ", not a ", kTypeNames[type]));
  }
  return f.get();
}

static MetricLabels Sorted(MetricLabels labels) {
  std::sort(labels.begin(), labels.end());
  return labels;
}

absl::StatusOr<Counter*> MetricsRegistry::GetCounter(absl::string_view name, absl::string_view help,
                                                     const MetricLabels& labels) {
  absl::MutexLock l(&mu_);
  auto f = GetFamily(name, help, kCounter, labels);
  if (!f.ok()) return f.status();
  auto& c = (*f)->counters[Sorted(labels)];
  if (c == nullptr) c = std::make_unique<Counter>();
  return c.get();
}

absl::StatusOr<Gauge*> MetricsRegistry::GetGauge(absl::string_view name, absl::string_view help,
                                                 const MetricLabels& labels) {
  absl::MutexLock l(&mu_);
  auto f = GetFamily(name, help, kGauge, labels);
  if (!f.ok()) return f.status();
  auto& g = (*f)->gauges[Sorted(labels)];
  if (g == nullptr) g = std::make_unique<Gauge>();
  return g.get();
}

absl::StatusOr<Histogram*> MetricsRegistry::GetHistogram(absl::string_view name,
                                                         absl::string_view help,
                                                         const MetricLabels& labels,
                                                         std::vector<double> buckets) {
  if (buckets.empty()) buckets = DefaultLatencyBuckets();
  for (size_t i = 1; i < buckets.size(); ++i) {
    if (!(buckets[i] > buckets[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram '", name, "' buckets must be strictly increasing"));
    }
  }
  absl::MutexLock l(&mu_);
  auto f = GetFamily(name, help, kHistogram, labels);
  if (!f.ok()) return f.status();
  if ((*f)->buckets.empty()) (*f)->buckets = buckets;
  auto& h = (*f)->histograms[Sorted(labels)];
  if (h == nullptr) h = std::make_unique<Histogram>((*f)->buckets);
  return h.get();
}

absl::StatusOr<double> MetricsRegistry::Sample(absl::string_view name, const MetricLabels& labels) {
  absl::MutexLock l(&mu_);
  auto it = families_.find(std::string(name));
  if (it == families_.end()) {
    return absl::NotFoundError(absl::StrCat("no metric named '", name, "'"));
  }
  const Family& f = *it->second;
  MetricLabels want = Sorted(labels);
  double total = 0;
  auto add = [&](const MetricLabels& have, double v) {
    if (want.empty() || have == want) total += v;
  };
  for (const auto& [k, c] : f.counters) add(k, c->Value());
  for (const auto& [k, g] : f.gauges) add(k, g->Value());
  for (const auto& [k, h] : f.histograms) add(k, static_cast<double>(h->Count()));
  return total;
}

void MetricsRegistry::AddCollector(std::function<void(MetricsRegistry&)> collector) {
  absl::MutexLock l(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::RenderPrometheus() {
  std::vector<std::function<void(MetricsRegistry&)>> collectors;
  {
    absl::MutexLock l(&mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c(*this);
  absl::MutexLock l(&mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(f->help), "\n# TYPE ", name, " ",
                    kTypeNames[f->type], "\n");
    for (const auto& [labels, c] : f->counters) {
      absl::StrAppend(&out, name, LabelString(labels), " ", FormatValue(c->Value()), "\n");
    }
    for (const auto& [labels, g] : f->gauges) {
      absl::StrAppend(&out, name, LabelString(labels), " ", FormatValue(g->Value()), "\n");
    }
    for (const auto& [labels, h] : f->histograms) {
      std::vector<uint64_t> counts = h->BucketCounts();
      uint64_t cum = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cum += counts[i];
        std::string le = i < h->upper_bounds().size() ? FormatValue(h->upper_bounds()[i]) : "+Inf";
        absl::StrAppend(&out, name, "_bucket", LabelString(labels, "le", le), " ", cum, "\n");
      }
      absl::StrAppend(&out, name, "_sum", LabelString(labels), " ", FormatValue(h->Sum()), "\n");
      absl::StrAppend(&out, name, "_count", LabelString(labels), " ", cum, "\n");
    }
  }
  return out;
}

namespace {

double ProcessStartSeconds() {
  std::ifstream stat("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::vector<std::string> f = absl::StrSplit(s.substr(rp + 2), ' ');
  std::ifstream up("/proc/uptime");
  double uptime = 0;
  up >> uptime;
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (f.size() < 20 || ticks <= 0) return 0;
  double started_after_boot = std::stod(f[19]) / ticks;
  return static_cast<double>(time(nullptr)) - uptime + started_after_boot;
}

void CollectProcess(MetricsRegistry& r) {
  std::ifstream stat("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t rp = s.rfind(')');
  if (rp != std::string::npos) {
    std::vector<std::string> f = absl::StrSplit(s.substr(rp + 2), ' ');
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    if (f.size() > 21 && ticks > 0) {
      double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      auto c =
          r.GetGauge("process_cpu_seconds_total", "Total user and system CPU time in seconds.");
      if (c.ok()) (*c)->Set(cpu);
      double rss = std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
      auto m = r.GetGauge("process_resident_memory_bytes", "Resident memory size in bytes.");
      if (m.ok()) (*m)->Set(rss);
    }
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  auto g = r.GetGauge("process_open_fds", "Number of open file descriptors.");
  if (g.ok()) (*g)->Set(fds);
}

}  // namespace

void RegisterProcessMetrics(MetricsRegistry* registry) {
  auto start = registry->GetGauge("process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds.");
  if (start.ok()) (*start)->Set(ProcessStartSeconds());
  registry->AddCollector(CollectProcess);
}

}  // namespace kos
