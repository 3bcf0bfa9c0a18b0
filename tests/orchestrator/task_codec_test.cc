// The hand-written task record encoder: what it writes parses as JSON and
// decodes to the same record, whatever the strings hold.
#include "orchestrator/task_codec.h"

#include "gtest/gtest.h"
#include "kos/id.h"

namespace kos::orchestrator_internal {
namespace {

TaskRecord Sample() {
  TaskRecord r;
  TaskInfo& t = r.info;
  t.id = NewId();
  t.plan_id = NewId();
  t.agent = "kExecutor";
  t.issuer = "kCore";
  t.state = TaskState::kRetrying;
  t.attempt = 2;
  t.priority = -7;
  t.input = {{"q", "quote \" backslash \\ newline \n tab \t nul \x01 end"}, {"n", {1, 2.5}}};
  t.output = {{"ok", true}};
  t.error = "bad byte \xff\xfe here";  // not UTF-8: must still round-trip as valid JSON
  t.error_code = "UNAVAILABLE";
  t.depends_on = {NewId(), NewId()};
  t.idempotency_key = "key \"with\" quotes / and unicode \xc3\xa9";
  t.review = true;
  t.reviewer = "alice";
  t.created = absl::FromUnixMillis(1700000000123);
  t.updated = absl::FromUnixMillis(1700000000456);
  t.started = absl::FromUnixMillis(1700000000200);
  t.trace_id = std::string(32, 'a');
  t.span_id = std::string(16, 'b');
  r.retry.max_attempts = 5;
  r.retry.multiplier = 1.1;
  r.retry.jitter = 0.123456789012345;
  r.retry.non_retryable = {absl::StatusCode::kNotFound};
  r.timeout = absl::Milliseconds(1500);
  r.ready_at = absl::FromUnixMillis(1700000009000);
  r.log_seq = 42;
  return r;
}

TEST(TaskCodecTest, RoundTripsEveryField) {
  TaskRecord r = Sample();
  std::string text = EncodeTaskRecord(r);
  ASSERT_TRUE(ParseJson(text).ok()) << text;
  auto d = DecodeTaskRecord(text);
  ASSERT_TRUE(d.ok()) << d.status();
  const TaskInfo& a = r.info;
  const TaskInfo& b = d->info;
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.plan_id, a.plan_id);
  EXPECT_EQ(b.state, a.state);
  EXPECT_EQ(b.attempt, a.attempt);
  EXPECT_EQ(b.priority, a.priority);
  EXPECT_EQ(b.input, a.input);
  EXPECT_EQ(b.output, a.output);
  EXPECT_EQ(b.error, "bad byte \xef\xbf\xbd\xef\xbf\xbd here");  // U+FFFD for each bad byte
  EXPECT_EQ(b.depends_on, a.depends_on);
  EXPECT_EQ(b.idempotency_key, a.idempotency_key);
  EXPECT_EQ(b.review, a.review);
  EXPECT_EQ(b.reviewer, a.reviewer);
  EXPECT_EQ(b.created, a.created);
  EXPECT_EQ(b.updated, a.updated);
  EXPECT_EQ(b.started, a.started);
  EXPECT_EQ(b.finished, absl::InfinitePast());
  EXPECT_EQ(b.trace_id, a.trace_id);
  EXPECT_EQ(d->retry.max_attempts, 5);
  EXPECT_EQ(d->retry.multiplier, 1.1);
  EXPECT_EQ(d->retry.jitter, 0.123456789012345);
  EXPECT_EQ(d->retry.non_retryable, r.retry.non_retryable);
  EXPECT_EQ(d->timeout, r.timeout);
  EXPECT_EQ(d->ready_at, r.ready_at);
  EXPECT_EQ(d->log_seq, 42u);
}

TEST(TaskCodecTest, FixedPartPlusChangesEqualsTheWholeRecord) {
  TaskRecord r = Sample();
  std::string fixed = EncodeFixedTaskFields(r);
  r.info.state = TaskState::kSucceeded;
  r.info.output = Json::array({1, "two"});
  EXPECT_EQ(EncodeTaskRecord(r, fixed), EncodeTaskRecord(r));
  EXPECT_EQ(DecodeTaskRecord(EncodeTaskRecord(r, fixed)).value().info.output, r.info.output);
}

TEST(TaskCodecTest, TransitionRowsCarryTheFieldsOfNonFinalStates) {
  TaskRecord r = Sample();
  r.info.state = TaskState::kRetrying;
  r.info.attempt = 3;
  r.info.error = "a|b|c \xff | with the separator";
  r.info.error_code = "UNAVAILABLE";
  r.info.started = absl::FromUnixMillis(1700000000777);
  r.ready_at = absl::FromUnixMillis(1700000009000);
  r.log_seq = 12;
  std::string row = EncodeTransition(r);
  EXPECT_LT(row.size(), 128u) << row;

  TaskRecord back = Sample();
  back.info.state = TaskState::kQueued;
  back.info.attempt = 0;
  back.info.error.clear();
  back.log_seq = 0;
  ASSERT_TRUE(ApplyTransition(row, &back).ok());
  EXPECT_EQ(back.info.state, TaskState::kRetrying);
  EXPECT_EQ(back.info.attempt, 3);
  EXPECT_EQ(back.info.error, r.info.error);
  EXPECT_EQ(back.info.error_code, "UNAVAILABLE");
  EXPECT_EQ(back.info.started, r.info.started);
  EXPECT_EQ(back.info.updated, r.info.updated);
  EXPECT_EQ(back.ready_at, r.ready_at);
  EXPECT_EQ(back.log_seq, 12u);
  // Fields only the full record holds are left alone.
  EXPECT_EQ(back.info.output, r.info.output);
  EXPECT_EQ(back.info.input, r.info.input);

  r.info.started = absl::InfinitePast();
  r.ready_at = absl::InfinitePast();
  ASSERT_TRUE(ApplyTransition(EncodeTransition(r), &back).ok());
  EXPECT_EQ(back.info.started, absl::InfinitePast());
  EXPECT_EQ(back.ready_at, absl::InfinitePast());
}

TEST(TaskCodecTest, MalformedTransitionRowsAreDataLossAndChangeNothing) {
  TaskRecord r = Sample();
  r.info.state = TaskState::kRunning;
  std::string good = EncodeTransition(r);
  TaskRecord target = Sample();
  for (std::string bad :
       {std::string(""), std::string("t1"), std::string("t2") + good.substr(2),
        std::string("t1|succeeded|1|1|1|0|0||"), std::string("t1|nope|1|1|1|0|0||"),
        std::string("t1|running|x|1|1|0|0||"), std::string("t1|running|1|1|1|0|-5||"),
        good.substr(0, good.size() / 2)}) {
    TaskRecord before = target;
    absl::Status s = ApplyTransition(bad, &target);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_EQ(EncodeTaskRecord(target), EncodeTaskRecord(before)) << bad;
  }
}

TEST(TaskCodecTest, LogRecordsHoldEntriesWithAnyBytesAndRefuseDamage) {
  std::string rec;
  std::string a = NewId(), b = NewId();
  std::string nasty = std::string("t1|retrying|2|5|6|7|8|CODE|line\nbreak 12:34 \0 end", 47);
  AppendLogEntry(&rec, a, "t1|running|1|1|1|0|0||");
  AppendLogEntry(&rec, b, nasty);
  AppendLogEntry(&rec, a, "t1|queued|1|2|1|0|0||");
  std::vector<std::pair<std::string, std::string>> got;
  ASSERT_TRUE(ForEachLogEntry(rec, [&](absl::string_view id, absl::string_view row) {
                got.emplace_back(id, row);
              }).ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, a);
  EXPECT_EQ(got[1].second, nasty);
  EXPECT_EQ(got[2].second, "t1|queued|1|2|1|0|0||");
  for (size_t cut : {size_t{1}, size_t{26}, size_t{28}, rec.size() - 1}) {
    EXPECT_EQ(
        ForEachLogEntry(rec.substr(0, cut), [](absl::string_view, absl::string_view) {}).code(),
        absl::StatusCode::kDataLoss)
        << cut;
  }
  EXPECT_EQ(
      ForEachLogEntry(std::string(26, 'A') + "x:abc", [](absl::string_view, absl::string_view) {})
          .code(),
      absl::StatusCode::kDataLoss);
  uint64_t n;
  EXPECT_TRUE(ParseLogKey(LogKey(42), &n));
  EXPECT_EQ(n, 42u);
  EXPECT_LT(LogKey(9), LogKey(10));
  EXPECT_FALSE(ParseLogKey("42", &n));
  EXPECT_FALSE(ParseLogKey("0000000000000000004x", &n));
}

}  // namespace
}  // namespace kos::orchestrator_internal
