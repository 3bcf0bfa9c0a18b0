// Structured logging for libkos.
//
// The library never writes to stdout or stderr: components log through a
// Logger that forwards records to an injected LogSink. JsonlFileSink writes
// one JSON object per line, rotates daily and by size, keeps N days, and does
// its I/O on a background thread so callers never wait on the disk.
//
// Records carry an event name and fields. Never put secrets in fields: sinks
// write what they are given.
#ifndef KOS_LOGGER_H_
#define KOS_LOGGER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"
#include "kos/json.h"

namespace kos {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "DEBUG", "INFO", "WARNING", "ERROR".
KOS_EXPORT const char* LogLevelName(LogLevel level);
// Parses the names above (case-insensitive); INVALID_ARGUMENT otherwise.
KOS_EXPORT absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

struct LogRecord {
  absl::Time time;
  LogLevel level = LogLevel::kInfo;
  std::string event;      // short machine-readable name, e.g. "vault.secret_read"
  std::string component;  // e.g. "vault"
  std::string trace_id;   // optional W3C trace id
  std::string span_id;    // optional
  Json fields = Json::object();
  // Fields already rendered as JSON object members ("k":v,...) by LogFields,
  // written after `fields`. Telemetry::QueryLogs returns them parsed into
  // `fields`.
  std::string rendered_fields;
};

// Builds a record's fields straight as JSON text, for records written on hot
// paths (one per HTTP request): a Json document with ten fields costs several
// times more to build and render. Keys equal to a record's fixed keys (ts,
// level, event, component, trace_id, span_id) get the "field." prefix. Add
// each key once. Not thread-safe.
class KOS_EXPORT LogFields {
 public:
  LogFields& Add(absl::string_view key, absl::string_view value);
  LogFields& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  LogFields& Add(absl::string_view key, const std::string& value) {
    return Add(key, absl::string_view(value));
  }
  LogFields& Add(absl::string_view key, int64_t value);
  LogFields& Add(absl::string_view key, int value) { return Add(key, int64_t{value}); }
  // Non-finite values are written as null.
  LogFields& Add(absl::string_view key, double value);
  const std::string& text() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  void Key(absl::string_view key);
  std::string out_;
};

// Renders a record as one JSON line (no trailing newline):
// {"ts":"2026-01-02T03:04:05.678Z","level":"INFO","event":...,"component":...,
//  "trace_id":...,"span_id":..., <fields>}. Field names that collide with the
// fixed keys are prefixed with "field.".
KOS_EXPORT std::string FormatLogRecordJson(const LogRecord& r);

// Destination of log records. Implementations must be thread-safe.
class KOS_EXPORT LogSink {
 public:
  virtual ~LogSink();
  // Must not block for long; may drop records under overload.
  virtual void Write(const LogRecord& record) = 0;
  // The same, for a record the caller no longer needs (Logger passes its
  // own), so a sink that keeps records can take it without a deep copy.
  virtual void WriteOwned(LogRecord&& record) { Write(record); }
  // Blocks until records written so far are durable (or given up on).
  virtual void Flush() {}
};

// Discards everything. Thread-safe.
class KOS_EXPORT NullLogSink final : public LogSink {
 public:
  void Write(const LogRecord&) override {}
};

// Front-end that stamps time and component and filters by level. Thread-safe.
class KOS_EXPORT Logger {
 public:
  // `sink` and `clock` are not owned and must outlive the logger. A null sink
  // discards everything.
  Logger(LogSink* sink, std::string component, LogLevel min_level = LogLevel::kInfo,
         Clock* clock = Clock::Real());

  void Log(LogLevel level, absl::string_view event, Json fields = Json::object(),
           absl::string_view trace_id = "");
  void Debug(absl::string_view event, Json fields = Json::object()) {
    Log(LogLevel::kDebug, event, std::move(fields));
  }
  void Info(absl::string_view event, Json fields = Json::object()) {
    Log(LogLevel::kInfo, event, std::move(fields));
  }
  void Warning(absl::string_view event, Json fields = Json::object()) {
    Log(LogLevel::kWarning, event, std::move(fields));
  }
  void Error(absl::string_view event, Json fields = Json::object()) {
    Log(LogLevel::kError, event, std::move(fields));
  }
  // The same as Log with fields built by LogFields.
  void LogRendered(LogLevel level, absl::string_view event, LogFields fields,
                   absl::string_view trace_id = "");
  bool Enabled(LogLevel level) const { return level >= min_level_; }
  // A logger for another component on the same sink and level.
  Logger WithComponent(std::string component) const;

 private:
  LogSink* sink_;
  std::string component_;
  LogLevel min_level_;
  Clock* clock_;
};

struct JsonlFileSinkOptions {
  // Directory that holds the files; created if missing.
  std::string directory;
  // File name stem: the active file is <stem>.jsonl, rotated files are
  // <stem>-YYYY-MM-DD[.N].jsonl.
  std::string stem = "system";
  // Start a new file when the UTC day changes.
  bool rotate_daily = true;
  // Start a new file when the active one would exceed this many bytes (0: never).
  uint64_t max_file_bytes = 64 << 20;
  // Delete rotated files older than this many days (0: keep forever).
  int retention_days = 30;
  // gzip each rotated file (<stem>-YYYY-MM-DD.jsonl.gz) on the writer thread.
  bool compress_rotated = false;
  // Records waiting for the writer thread; beyond this, records are dropped and
  // counted rather than blocking the caller.
  size_t queue_capacity = 65536;
  // Time source for rotation and retention. Not owned.
  Clock* clock = Clock::Real();
};

// Appends JSON lines to a rotating file on a background thread. Thread-safe.
class KOS_EXPORT JsonlFileSink final : public LogSink {
 public:
  static absl::StatusOr<std::unique_ptr<JsonlFileSink>> Open(const JsonlFileSinkOptions& options);
  ~JsonlFileSink() override;  // drains the queue, then closes

  void Write(const LogRecord& record) override;
  void Flush() override;

  // Records dropped because the queue was full.
  uint64_t dropped() const;
  // The first I/O error the writer met (OK if none).
  absl::Status last_error() const;

 private:
  class Impl;
  explicit JsonlFileSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kos

#endif  // KOS_LOGGER_H_
