#include "kos/logger.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kos/json.h"
#include "testing/test_util.h"

namespace kos {
namespace {

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LoggerTest, WritesStructuredJsonLines) {
  testing::TempDir dir;
  FakeClock clock(absl::FromUnixMillis(1700000000123));
  JsonlFileSinkOptions o;
  o.directory = dir.path();
  o.clock = &clock;
  auto sink = JsonlFileSink::Open(o);
  ASSERT_TRUE(sink.ok()) << sink.status();
  Logger log(sink->get(), "vault", LogLevel::kInfo, &clock);
  log.Debug("hidden");
  log.Info("secret_read", {{"path", "kv/a"}, {"level", "shadowed"}});
  log.Log(LogLevel::kError, "boom", {{"n", 3}}, "4bf92f3577b34da6a3ce929d0e0e4736");
  (*sink)->Flush();
  auto lines = Lines(dir.File("system.jsonl"));
  ASSERT_EQ(lines.size(), 2u);
  Json a = ParseJson(lines[0]).value();
  EXPECT_EQ(a["ts"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(a["level"], "INFO");
  EXPECT_EQ(a["event"], "secret_read");
  EXPECT_EQ(a["component"], "vault");
  EXPECT_EQ(a["path"], "kv/a");
  EXPECT_EQ(a["field.level"], "shadowed");
  Json b = ParseJson(lines[1]).value();
  EXPECT_EQ(b["level"], "ERROR");
  EXPECT_EQ(b["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(b["n"], 3);
}

// The timestamp is cached per thread by second: it must still equal the
// calendar formatting for every time, including across second boundaries, in
// either direction, and before 1970.
TEST(LoggerTest, TimestampMatchesCalendarFormatting) {
  std::vector<int64_t> millis = {
      0,  999,  1000,  1700000000123, 1700000000999,   1700000001000,  1700000000000,
      -1, -999, -1000, -1001,         253402300799999, -62135596800000};
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) millis.push_back(static_cast<int64_t>(rng() % 4102444800000ULL));
  std::vector<absl::Time> times;
  for (int64_t ms : millis) times.push_back(absl::FromUnixMillis(ms));
  // Outside years 1..9999, and the infinities: the calendar path.
  for (absl::Time t :
       {absl::FromUnixMillis(-62135596800001), absl::FromUnixMillis(253402300800000),
        absl::FromUnixSeconds(int64_t{1} << 62), absl::InfiniteFuture(), absl::InfinitePast()}) {
    times.push_back(t);
  }
  for (absl::Time t : times) {
    LogRecord r;
    r.time = t;
    r.event = "e";
    Json j = ParseJson(FormatLogRecordJson(r)).value();
    EXPECT_EQ(j["ts"], absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", r.time, absl::UTCTimeZone()))
        << absl::FormatTime(t);
  }
}

TEST(LoggerTest, FormatEscapesHostileTextAndNeverRepeatsAKey) {
  LogRecord r;
  r.time = absl::FromUnixMillis(1700000000123);
  r.level = LogLevel::kWarning;
  r.event = "quote\" back\\ nl\n tab\t bell\x07";
  r.component = "bad utf8 \xff\xfe";
  r.span_id = "s1";
  r.fields = {{"event", "shadowed"},       {"field.event", "literal"},
              {"path", "/a/\"b\""},        {"n", 7},
              {"nested", {{"k", {1, 2}}}}, {"uni", "caf\u00e9"}};
  std::string line = FormatLogRecordJson(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = ParseJson(line);  // rejects duplicate keys and bad escapes
  ASSERT_TRUE(j.ok()) << j.status() << ": " << line;
  EXPECT_EQ((*j)["event"], r.event);
  EXPECT_EQ((*j)["level"], "WARNING");
  EXPECT_EQ((*j)["span_id"], "s1");
  EXPECT_TRUE((*j)["component"].is_string());
  EXPECT_EQ((*j)["field.event"], "literal");
  EXPECT_EQ((*j)["path"], "/a/\"b\"");
  EXPECT_EQ((*j)["n"], 7);
  EXPECT_EQ((*j)["nested"]["k"][1], 2);
  EXPECT_EQ((*j)["uni"], "caf\u00e9");

  r.fields = Json::array({1, "x"});
  j = ParseJson(FormatLogRecordJson(r));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["fields"][1], "x");
  r.fields = nullptr;
  j = ParseJson(FormatLogRecordJson(r));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_FALSE(j->contains("fields"));
}

TEST(LoggerTest, RotatesDailyAndAppliesRetention) {
  testing::TempDir dir;
  FakeClock clock(absl::FromUnixSeconds(1700000000));  // 2023-11-14
  JsonlFileSinkOptions o;
  o.directory = dir.path();
  o.stem = "agents";
  o.clock = &clock;
  o.retention_days = 2;
  auto sink = JsonlFileSink::Open(o).value();
  Logger log(sink.get(), "orchestrator", LogLevel::kInfo, &clock);
  for (int day = 0; day < 5; ++day) {
    log.Info("tick", {{"day", day}});
    sink->Flush();
    clock.Advance(absl::Hours(24));
  }
  log.Info("tick", {{"day", 5}});
  sink->Flush();
  // Active file + rotated files no older than 2 days before 2023-11-19.
  EXPECT_EQ(Files(dir.path()),
            (std::vector<std::string>{"agents-2023-11-17.jsonl", "agents-2023-11-18.jsonl",
                                      "agents.jsonl"}));
  EXPECT_EQ(Lines(dir.File("agents-2023-11-18.jsonl")).size(), 1u);
  EXPECT_EQ(ParseJson(Lines(dir.File("agents.jsonl"))[0]).value()["day"], 5);
}

TEST(LoggerTest, RotatesBySize) {
  testing::TempDir dir;
  FakeClock clock;
  JsonlFileSinkOptions o;
  o.directory = dir.path();
  o.clock = &clock;
  o.max_file_bytes = 1000;
  auto sink = JsonlFileSink::Open(o).value();
  Logger log(sink.get(), "x", LogLevel::kInfo, &clock);
  for (int i = 0; i < 50; ++i) log.Info("e", {{"pad", std::string(80, 'x')}});
  sink->Flush();
  size_t total = 0;
  for (const auto& f : Files(dir.path())) {
    EXPECT_LE(std::filesystem::file_size(dir.File(f)), 1000u) << f;
    total += Lines(dir.File(f)).size();
  }
  EXPECT_EQ(total, 50u);
  EXPECT_GT(Files(dir.path()).size(), 3u);
}

TEST(LoggerTest, NeverBlocksWhenQueueIsFull) {
  testing::TempDir dir;
  JsonlFileSinkOptions o;
  o.directory = dir.path();
  o.queue_capacity = 4;
  auto sink = JsonlFileSink::Open(o).value();
  Logger log(sink.get(), "x");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) log.Info("flood", {{"i", i}});
    });
  }
  for (auto& t : ts) t.join();
  sink->Flush();
  size_t written = Lines(dir.File("system.jsonl")).size();
  EXPECT_EQ(written + sink->dropped(), 20000u);
  EXPECT_TRUE(sink->last_error().ok());
}

TEST(LoggerTest, BadOptionsAndLevels) {
  EXPECT_EQ(JsonlFileSink::Open({}).status().code(), absl::StatusCode::kInvalidArgument);
  JsonlFileSinkOptions o;
  o.directory = "/proc/kos-cannot-create";
  EXPECT_FALSE(JsonlFileSink::Open(o).ok());
  EXPECT_EQ(*ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(ParseLogLevel("LOUD").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
