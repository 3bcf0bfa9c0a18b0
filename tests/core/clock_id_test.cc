#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kos/clock.h"
#include "kos/id.h"

namespace kos {
namespace {

TEST(FakeClockTest, OnlyMovesWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(105));
  clock.Set(absl::FromUnixSeconds(7));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(7));
}

TEST(RealClockTest, IsCloseToNow) {
  EXPECT_LT(absl::AbsDuration(Clock::Real()->Now() - absl::Now()), absl::Seconds(1));
}

TEST(IdTest, StrictlyIncreasingWithinOneMillisecond) {
  FakeClock clock(absl::FromUnixMillis(1700000000123));
  IdGenerator gen(&clock);
  std::string prev = gen.Next();
  for (int i = 0; i < 10000; ++i) {
    std::string id = gen.Next();
    ASSERT_LT(prev, id);
    ASSERT_TRUE(IsValidId(id)) << id;
    prev = id;
  }
  EXPECT_EQ(*IdTime(prev), absl::FromUnixMillis(1700000000123));
}

TEST(IdTest, SortsByTime) {
  FakeClock clock(absl::FromUnixMillis(1000));
  IdGenerator gen(&clock);
  std::string a = gen.Next();
  clock.Advance(absl::Milliseconds(1));
  std::string b = gen.Next();
  EXPECT_LT(a, b);
  EXPECT_EQ(*IdTime(b), absl::FromUnixMillis(1001));
}

TEST(IdTest, UniqueAcrossThreads) {
  IdGenerator gen;
  std::vector<std::vector<std::string>> out(8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) out[t].push_back(gen.Next());
    });
  }
  for (auto& t : ts) t.join();
  std::set<std::string> all;
  for (auto& v : out) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 16000u);
  EXPECT_EQ(NewId().size(), 26u);
}

TEST(IdTest, RejectsMalformed) {
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("01ARZ3NDEKTSV4RRFFQ69G5FA"));   // 25 chars
  EXPECT_FALSE(IsValidId("01ARZ3NDEKTSV4RRFFQ69G5FAU"));  // U is not Crockford
  EXPECT_FALSE(IsValidId("81ARZ3NDEKTSV4RRFFQ69G5FAV"));  // overflows 128 bits
  EXPECT_TRUE(IsValidId("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
  EXPECT_EQ(IdTime("bad").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
