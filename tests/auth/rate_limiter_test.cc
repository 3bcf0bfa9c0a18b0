#include "kos/rate_limiter.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::testing::HasSubstr;

class RateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EphemeralOptions eo;
    eo.clock = &clock_;
    ephemeral_ = *OpenEphemeral("memory:", eo);
  }

  std::unique_ptr<RateLimiter> Open(
      std::vector<RateLimitClass> classes = DefaultRateLimitClasses()) {
    RateLimiterOptions o;
    o.ephemeral = ephemeral_.get();
    o.clock = &clock_;
    o.classes = std::move(classes);
    auto rl = RateLimiter::Open(o);
    EXPECT_TRUE(rl.ok()) << rl.status();
    return rl.ok() ? *std::move(rl) : nullptr;
  }

  RateLimitDecision Decide(RateLimiter& rl, const std::string& cls, const std::string& key) {
    auto d = rl.Decide(cls, key);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : RateLimitDecision{};
  }

  FakeClock clock_;
  std::unique_ptr<Ephemeral> ephemeral_;
};

TEST_F(RateLimiterTest, SeedDefaults) {
  std::vector<RateLimitClass> c = DefaultRateLimitClasses();
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].name, "global");
  EXPECT_EQ(c[0].limit, 1000);
  EXPECT_EQ(c[0].period, absl::Hours(1));
  EXPECT_EQ(c[1].name, "api");
  EXPECT_EQ(c[1].limit, 100);
  EXPECT_EQ(c[1].period, absl::Minutes(1));
  EXPECT_EQ(c[2].name, "auth");
  EXPECT_EQ(c[2].limit, 10);
  EXPECT_EQ(c[2].period, absl::Minutes(1));
}

TEST_F(RateLimiterTest, BurstThenExactRetryAfter) {
  auto rl = Open();
  // auth: 10/minute, burst 10 -> one request every 6 s after the burst.
  for (int i = 0; i < 10; ++i) {
    RateLimitDecision d = Decide(*rl, "auth", "addr:203.0.113.7");
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 9 - i);
    EXPECT_EQ(d.retry_after, absl::ZeroDuration());
    EXPECT_EQ(d.reset_after, absl::Seconds(6) * (i + 1));
    EXPECT_EQ(d.limit, 10);
  }
  RateLimitDecision d = Decide(*rl, "auth", "addr:203.0.113.7");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.retry_after, absl::Seconds(6));
  EXPECT_EQ(d.reset_after, absl::Seconds(60));
  // Denials do not consume anything.
  EXPECT_EQ(Decide(*rl, "auth", "addr:203.0.113.7").retry_after, absl::Seconds(6));
  clock_.Advance(absl::Seconds(6) - absl::Nanoseconds(1));
  d = Decide(*rl, "auth", "addr:203.0.113.7");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, absl::Nanoseconds(1));
  clock_.Advance(absl::Nanoseconds(1));
  d = Decide(*rl, "auth", "addr:203.0.113.7");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_FALSE(Decide(*rl, "auth", "addr:203.0.113.7").allowed);
  // Other keys and classes are independent.
  EXPECT_TRUE(Decide(*rl, "auth", "addr:203.0.113.8").allowed);
  EXPECT_TRUE(Decide(*rl, "api", "addr:203.0.113.7").allowed);
}

TEST_F(RateLimiterTest, ExactlyLimitPerWindowAtSteadyState) {
  auto rl = Open();
  struct Case {
    std::string cls;
    int64_t limit;
    absl::Duration period;
  };
  for (const Case& c : {Case{"api", 100, absl::Minutes(1)}, Case{"global", 1000, absl::Hours(1)},
                        Case{"auth", 10, absl::Minutes(1)}}) {
    std::string key = "user:" + c.cls;
    // Drain the initial burst.
    int64_t burst = 0;
    while (Decide(*rl, c.cls, key).allowed) ++burst;
    EXPECT_EQ(burst, c.limit);
    // Then hammer it: a request every 1/10 of the emission interval for five
    // periods; every period lets through exactly `limit`.
    absl::Duration step = c.period / c.limit / 10;
    for (int window = 0; window < 5; ++window) {
      int64_t allowed = 0;
      for (int64_t i = 0; i < c.limit * 10; ++i) {
        clock_.Advance(step);
        allowed += Decide(*rl, c.cls, key).allowed;
      }
      EXPECT_EQ(allowed, c.limit) << c.cls << " window " << window;
    }
  }
}

TEST_F(RateLimiterTest, IdleKeyRefillsToFullBurstAndExpiresFromStore) {
  auto rl = Open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Decide(*rl, "auth", "k").allowed);
  EXPECT_TRUE(ephemeral_->Get("kos:rl:auth:k").ok());
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(ephemeral_->Get("kos:rl:auth:k").status().code(), absl::StatusCode::kNotFound);
  int allowed = 0;
  while (Decide(*rl, "auth", "k").allowed) ++allowed;
  EXPECT_EQ(allowed, 10);
  // Partial refill: 30 s gives back 5.
  clock_.Advance(absl::Seconds(30));
  allowed = 0;
  while (Decide(*rl, "auth", "k").allowed) ++allowed;
  EXPECT_EQ(allowed, 5);
}

TEST_F(RateLimiterTest, ConfigurableBurst) {
  auto rl = Open({RateLimitClass{"strict", 60, absl::Minutes(1), 1},
                  RateLimitClass{"bursty", 1, absl::Seconds(10), 5}});
  EXPECT_TRUE(Decide(*rl, "strict", "k").allowed);
  RateLimitDecision d = Decide(*rl, "strict", "k");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, absl::Seconds(1));
  int allowed = 0;
  while (Decide(*rl, "bursty", "k").allowed) ++allowed;
  EXPECT_EQ(allowed, 5);
  EXPECT_EQ(Decide(*rl, "bursty", "k").retry_after, absl::Seconds(10));
}

TEST_F(RateLimiterTest, ExactUnderEightThreadsOfContention) {
  auto rl = Open();
  for (std::string cls : {"auth", "api", "global"}) {
    std::atomic<int> allowed{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) {
          auto d = rl->Decide(cls, "user:contended");
          if (!d.ok()) {
            ++errors;
          } else if (d->allowed) {
            ++allowed;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    int64_t limit = cls == "auth" ? 10 : cls == "api" ? 100 : 1000;
    EXPECT_EQ(allowed.load(), limit) << cls;
  }
}

TEST_F(RateLimiterTest, ExactUnderContentionWhileTimeMoves) {
  // One request per second, burst 100: drained first, the bucket cannot fill
  // up within the 50 s below, so no refill is lost however the threads are
  // scheduled, and exactly 50 requests must get through in total.
  auto rl = Open({RateLimitClass{"c", 100, absl::Seconds(100), 100}});
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(rl->Decide("c", "k")->allowed);
  ASSERT_FALSE(rl->Decide("c", "k")->allowed);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) allowed += rl->Decide("c", "k")->allowed;
    });
  }
  for (int s = 0; s < 50; ++s) {
    clock_.Advance(absl::Seconds(1));
    std::this_thread::yield();
  }
  for (auto& t : threads) t.join();
  int after = 0;
  while (rl->Decide("c", "k")->allowed) ++after;
  EXPECT_EQ(allowed.load() + after, 50);
}

TEST_F(RateLimiterTest, BadInput) {
  auto rl = Open();
  auto d = rl->Decide("nope", "k");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.status().message(), "unknown rate limit class 'nope'");
  EXPECT_EQ(rl->Decide("", "k").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rl->Decide("api", "").status().message(), "rate limit key is empty");
  EXPECT_THAT(std::string(rl->Decide("api", std::string(100000, 'k')).status().message()),
              HasSubstr("the limit is 256"));
  EXPECT_EQ(rl->Reset("nope", "k").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RateLimiterTest, CorruptStateSelfHealsAndResetForgets) {
  auto rl = Open();
  KOS_ASSERT_OK(ephemeral_->Set("kos:rl:auth:k", "garbage", absl::ZeroDuration()));
  EXPECT_TRUE(Decide(*rl, "auth", "k").allowed);
  EXPECT_EQ(Decide(*rl, "auth", "k").remaining, 8);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(Decide(*rl, "auth", "k").allowed);
  EXPECT_FALSE(Decide(*rl, "auth", "k").allowed);
  KOS_ASSERT_OK(rl->Reset("auth", "k"));
  EXPECT_EQ(Decide(*rl, "auth", "k").remaining, 9);
}

TEST_F(RateLimiterTest, OpenValidatesClasses) {
  RateLimiterOptions o;
  EXPECT_THAT(std::string(RateLimiter::Open(o).status().message()),
              HasSubstr("ephemeral is required"));
  o.ephemeral = ephemeral_.get();
  o.clock = &clock_;
  struct Case {
    RateLimitClass c;
    std::string message;
  };
  const Case cases[] = {
      {{"", 1, absl::Seconds(1), 0}, "name must be"},
      {{"Bad", 1, absl::Seconds(1), 0}, "name must be"},
      {{"x", 0, absl::Seconds(1), 0}, "limit must be in [1, 1000000000], got 0"},
      {{"x", 1, absl::ZeroDuration(), 0}, "period must be in (0, 366 days], got 0"},
      {{"x", 1, absl::Seconds(1), -1}, "burst must be in"},
      {{"x", 1000, absl::Nanoseconds(10), 0}, "more than one request per nanosecond"},
  };
  for (const Case& c : cases) {
    o.classes = {c.c};
    auto rl = RateLimiter::Open(o);
    EXPECT_EQ(rl.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(rl.status().message()), HasSubstr(c.message));
  }
  o.classes = {RateLimitClass{"a", 1, absl::Seconds(1), 0},
               RateLimitClass{"a", 2, absl::Seconds(1), 0}};
  EXPECT_THAT(std::string(RateLimiter::Open(o).status().message()),
              HasSubstr("duplicate class name"));
}

}  // namespace
}  // namespace kos
