#include "kos/logger.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "kos/status.h"

namespace kos {

LogSink::~LogSink() = default;

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO";
}

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  std::string n = absl::AsciiStrToUpper(name);
  if (n == "DEBUG") return LogLevel::kDebug;
  if (n == "INFO") return LogLevel::kInfo;
  if (n == "WARNING" || n == "WARN") return LogLevel::kWarning;
  if (n == "ERROR") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level '", name, "' (expected DEBUG, INFO, WARNING or ERROR)"));
}

namespace {

// RFC 3339 UTC with milliseconds, as FormatTime("%Y-%m-%dT%H:%M:%E3SZ").
// Calendar formatting was a fifth of an access line's cost, and lines of one
// thread mostly share their second, so each thread keeps its last second's text.
void AppendTimestamp(std::string* out, absl::Time t) {
  // Years 0001..9999 only (ToUnixMillis saturates far outside, and infinite
  // times have no seconds): anything else takes the calendar path as before.
  constexpr int64_t kMinMs = -62135596800000, kMaxMs = 253402300799999;
  const int64_t ms = absl::ToUnixMillis(t);
  if (ms < kMinMs || ms > kMaxMs) {
    out->append(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()));
    return;
  }
  const int64_t sec = ms >= 0 ? ms / 1000 : -((999 - ms) / 1000);
  const int rem = static_cast<int>(ms - sec * 1000);
  thread_local int64_t cached_sec = std::numeric_limits<int64_t>::min();
  thread_local std::string cached_text;
  if (sec != cached_sec) {
    cached_text =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(sec), absl::UTCTimeZone());
    cached_sec = sec;
  }
  out->append(cached_text);
  const char frac[] = {'.', static_cast<char>('0' + rem / 100),
                       static_cast<char>('0' + rem / 10 % 10), static_cast<char>('0' + rem % 10),
                       'Z'};
  out->append(frac, sizeof(frac));
}

void AppendField(std::string* out, absl::string_view key, absl::string_view string_value) {
  out->push_back(',');
  AppendJsonString(out, key);
  out->push_back(':');
  AppendJsonString(out, string_value);
}

}  // namespace

std::string FormatLogRecordJson(const LogRecord& r) {
  // Written field by field rather than through a Json object: this runs for
  // every access-log line, and building a second document doubled its cost.
  std::string out;
  out.reserve(160 + r.event.size() + r.component.size());
  out.append("{\"ts\":\"");
  AppendTimestamp(&out, r.time);
  out.push_back('"');
  AppendField(&out, "level", LogLevelName(r.level));
  AppendField(&out, "event", r.event);
  // Names taken so far; a field that would repeat one is renamed "field.<name>".
  absl::InlinedVector<absl::string_view, 8> taken = {"ts", "level", "event"};
  if (!r.component.empty()) {
    AppendField(&out, "component", r.component);
    taken.push_back("component");
  }
  if (!r.trace_id.empty()) {
    AppendField(&out, "trace_id", r.trace_id);
    taken.push_back("trace_id");
  }
  if (!r.span_id.empty()) {
    AppendField(&out, "span_id", r.span_id);
    taken.push_back("span_id");
  }
  auto is_taken = [&](absl::string_view k) {
    return std::find(taken.begin(), taken.end(), k) != taken.end();
  };
  auto append_value = [&](const Json& v) {
    if (v.is_string()) {
      AppendJsonString(&out, v.get_ref<const std::string&>());
    } else {
      out.append(DumpJson(v));
    }
  };
  if (r.fields.is_object()) {
    std::vector<std::string> renamed;
    for (auto it = r.fields.begin(); it != r.fields.end(); ++it) {
      const std::string& key = it.key();
      std::string name = is_taken(key) ? "field." + key : key;
      // Only a field literally named "field.<fixed key>" can still collide;
      // the first one wins so the line stays valid JSON without duplicates.
      if (name != key && r.fields.contains(name)) continue;
      out.push_back(',');
      AppendJsonString(&out, name);
      out.push_back(':');
      append_value(it.value());
    }
  } else if (!r.fields.is_null()) {
    out.append(",\"fields\":");
    append_value(r.fields);
  }
  if (!r.rendered_fields.empty()) {
    out.push_back(',');
    out.append(r.rendered_fields);
  }
  out.push_back('}');
  return out;
}

Logger::Logger(LogSink* sink, std::string component, LogLevel min_level, Clock* clock)
    : sink_(sink), component_(std::move(component)), min_level_(min_level), clock_(clock) {}

void Logger::Log(LogLevel level, absl::string_view event, Json fields, absl::string_view trace_id) {
  if (sink_ == nullptr || level < min_level_) return;
  LogRecord r;
  r.time = clock_->Now();
  r.level = level;
  r.event = std::string(event);
  r.component = component_;
  r.trace_id = std::string(trace_id);
  r.fields = std::move(fields);
  sink_->WriteOwned(std::move(r));
}

void Logger::LogRendered(LogLevel level, absl::string_view event, LogFields fields,
                         absl::string_view trace_id) {
  if (sink_ == nullptr || level < min_level_) return;
  LogRecord r;
  r.time = clock_->Now();
  r.level = level;
  r.event = std::string(event);
  r.component = component_;
  r.trace_id = std::string(trace_id);
  r.fields = nullptr;
  r.rendered_fields = fields.Release();
  sink_->WriteOwned(std::move(r));
}

void LogFields::Key(absl::string_view key) {
  if (!out_.empty()) out_.push_back(',');
  static constexpr absl::string_view kFixed[] = {"ts",        "level",    "event",
                                                 "component", "trace_id", "span_id"};
  if (std::find(std::begin(kFixed), std::end(kFixed), key) != std::end(kFixed)) {
    AppendJsonString(&out_, absl::StrCat("field.", key));
  } else {
    AppendJsonString(&out_, key);
  }
  out_.push_back(':');
}

LogFields& LogFields::Add(absl::string_view key, absl::string_view value) {
  Key(key);
  AppendJsonString(&out_, value);
  return *this;
}

LogFields& LogFields::Add(absl::string_view key, int64_t value) {
  Key(key);
  absl::StrAppend(&out_, value);
  return *this;
}

LogFields& LogFields::Add(absl::string_view key, double value) {
  Key(key);
  if (std::isfinite(value)) {
    absl::StrAppend(&out_, value);
  } else {
    out_.append("null");
  }
  return *this;
}

Logger Logger::WithComponent(std::string component) const {
  return Logger(sink_, std::move(component), min_level_, clock_);
}

// The writer thread owns the file; callers only append formatted lines to a
// bounded queue, so a slow disk delays records, not callers.
class JsonlFileSink::Impl {
 public:
  // The writer wakes at once for this many queued lines, a Flush or a stop;
  // otherwise it gathers for kGatherDelay after the first line.
  static constexpr size_t kWakeBatch = 256;
  static constexpr absl::Duration kGatherDelay = absl::Milliseconds(20);

  explicit Impl(const JsonlFileSinkOptions& o) : options_(o) {}

  ~Impl() {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
    if (file_ != nullptr) std::fclose(file_);
  }

  absl::Status Start() {
    std::error_code ec;
    std::filesystem::create_directories(options_.directory, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create log directory '", options_.directory, "': ", ec.message()));
    }
    KOS_RETURN_IF_ERROR(OpenActive(options_.clock->Now()));
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Enqueue(std::string line) {
    absl::MutexLock l(&mu_);
    if (queue_.size() >= options_.queue_capacity) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(line));
  }

  void Flush() {
    absl::MutexLock l(&mu_);
    uint64_t target = enqueued_total_locked();
    auto done = [&]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return written_ >= target || stopping_; };
    ++flush_waiters_;
    mu_.Await(absl::Condition(&done));
    --flush_waiters_;
  }

  uint64_t dropped() const {
    absl::MutexLock l(&mu_);
    return dropped_;
  }
  absl::Status last_error() const {
    absl::MutexLock l(&mu_);
    return error_;
  }

 private:
  uint64_t enqueued_total_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return written_ + in_flight_ + queue_.size();
  }

  std::string ActivePath() const {
    return absl::StrCat(options_.directory, "/", options_.stem, ".jsonl");
  }

  absl::Status OpenActive(absl::Time now) {
    std::string path = ActivePath();
    file_ = std::fopen(path.c_str(), "ae");
    if (file_ == nullptr) {
      return absl::PermissionDeniedError(absl::StrCat("cannot open log file '", path, "'"));
    }
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    file_bytes_ = ec ? 0 : size;
    // A file left from an earlier run belongs to the day it was last written.
    auto mtime = std::filesystem::last_write_time(path, ec);
    if (!ec && file_bytes_ > 0) {
      auto sys = std::chrono::time_point_cast<std::chrono::seconds>(
          mtime - std::filesystem::file_time_type::clock::now() + std::chrono::system_clock::now());
      file_day_ = absl::ToCivilDay(absl::FromChrono(sys), absl::UTCTimeZone());
    } else {
      file_day_ = absl::ToCivilDay(now, absl::UTCTimeZone());
    }
    return absl::OkStatus();
  }

  void Rotate(absl::Time now) {
    std::fclose(file_);
    file_ = nullptr;
    std::string base =
        absl::StrCat(options_.directory, "/", options_.stem, "-", absl::FormatCivilTime(file_day_));
    std::string target = base + ".jsonl";
    for (int n = 1; std::filesystem::exists(target); ++n)
      target = absl::StrCat(base, ".", n, ".jsonl");
    std::error_code ec;
    std::filesystem::rename(ActivePath(), target, ec);
    if (!ec && options_.compress_rotated) Compress(target);
    absl::Status s = OpenActive(now);
    file_day_ = absl::ToCivilDay(now, absl::UTCTimeZone());
    if (!s.ok()) SetError(s);
    ApplyRetention(now);
  }

  // Replaces `path` by path.gz; on any failure keeps the plain file.
  void Compress(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string gz = path + ".gz";
    gzFile out = gzopen(gz.c_str(), "wb6");
    if (!in || out == nullptr) {
      if (out != nullptr) gzclose(out);
      return;
    }
    char buf[1 << 16];
    bool ok = true;
    while (in) {
      in.read(buf, sizeof(buf));
      std::streamsize n = in.gcount();
      if (n > 0 && gzwrite(out, buf, static_cast<unsigned>(n)) != n) ok = false;
    }
    if (gzclose(out) != Z_OK) ok = false;
    std::error_code ec;
    std::filesystem::remove(ok ? path : gz, ec);
  }

  void ApplyRetention(absl::Time now) {
    if (options_.retention_days <= 0) return;
    absl::CivilDay cutoff = absl::ToCivilDay(now, absl::UTCTimeZone()) - options_.retention_days;
    std::string prefix = options_.stem + "-";
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(options_.directory, ec)) {
      std::string name = e.path().filename().string();
      if (!absl::StartsWith(name, prefix) || name.size() < prefix.size() + 10) continue;
      absl::CivilDay day;
      if (!absl::ParseCivilTime(name.substr(prefix.size(), 10), &day)) continue;
      if (day < cutoff) std::filesystem::remove(e.path(), ec);
    }
  }

  void SetError(const absl::Status& s) {
    absl::MutexLock l(&mu_);
    if (error_.ok()) error_ = s;
  }

  void Run() {
    for (;;) {
      std::deque<std::string> batch;
      {
        absl::MutexLock l(&mu_);
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !queue_.empty() || stopping_;
        };
        mu_.Await(absl::Condition(&ready));
        // Gather for a moment instead of waking for every record: a wake-up
        // per line cost the caller's core a context switch per request.
        auto urgent = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return queue_.size() >= kWakeBatch || stopping_ || flush_waiters_ > 0;
        };
        mu_.AwaitWithTimeout(absl::Condition(&urgent), kGatherDelay);
        if (queue_.empty() && stopping_) return;
        batch.swap(queue_);
        in_flight_ = batch.size();
      }
      for (const std::string& line : batch) WriteLine(line);
      if (file_ != nullptr) std::fflush(file_);
      absl::MutexLock l(&mu_);
      written_ += in_flight_;
      in_flight_ = 0;
    }
  }

  void WriteLine(const std::string& line) {
    absl::Time now = options_.clock->Now();
    bool new_day = options_.rotate_daily && absl::ToCivilDay(now, absl::UTCTimeZone()) != file_day_;
    bool too_big = options_.max_file_bytes > 0 && file_bytes_ > 0 &&
                   file_bytes_ + line.size() + 1 > options_.max_file_bytes;
    if (file_ == nullptr || new_day || too_big) {
      if (file_ != nullptr) Rotate(now);
      if (file_ == nullptr) return;
    }
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() ||
        std::fputc('\n', file_) == EOF) {
      SetError(absl::DataLossError(absl::StrCat("write to '", ActivePath(), "' failed")));
      return;
    }
    file_bytes_ += line.size() + 1;
  }

  const JsonlFileSinkOptions options_;
  mutable absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int flush_waiters_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  // Owned by the writer thread after Start().
  FILE* file_ = nullptr;
  uint64_t file_bytes_ = 0;
  absl::CivilDay file_day_;
  std::thread thread_;
};

JsonlFileSink::JsonlFileSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonlFileSink::~JsonlFileSink() = default;

absl::StatusOr<std::unique_ptr<JsonlFileSink>> JsonlFileSink::Open(
    const JsonlFileSinkOptions& options) {
  if (options.directory.empty()) return absl::InvalidArgumentError("log directory must be set");
  if (options.stem.empty() || options.stem.find('/') != std::string::npos) {
    return absl::InvalidArgumentError("log file stem must be a plain file name");
  }
  if (options.queue_capacity == 0) return absl::InvalidArgumentError("queue_capacity must be > 0");
  auto impl = std::make_unique<Impl>(options);
  KOS_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<JsonlFileSink>(new JsonlFileSink(std::move(impl)));
}

void JsonlFileSink::Write(const LogRecord& record) { impl_->Enqueue(FormatLogRecordJson(record)); }
void JsonlFileSink::Flush() { impl_->Flush(); }
uint64_t JsonlFileSink::dropped() const { return impl_->dropped(); }
absl::Status JsonlFileSink::last_error() const { return impl_->last_error(); }

}  // namespace kos
