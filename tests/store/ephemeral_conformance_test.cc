// One behavioural suite over every Ephemeral backend. Redis runs only when
// KOS_TEST_REDIS_URI is set; add a backend by adding a Backend value.
#include <atomic>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kos/clock.h"
#include "kos/ephemeral.h"
#include "testing/test_util.h"

namespace kos {
namespace {

struct Backend {
  std::string name;
  std::string uri;                 // used when env_uri is null
  const char* env_uri = nullptr;   // skip unless this variable names a server
  bool honours_fake_clock = true;  // false: the server expires keys by its own clock
};

// Printed in failure messages instead of the struct's bytes.
void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

// GTEST_SKIP only leaves the function it is written in, so this is a macro.
#define KOS_SKIP_UNLESS_FAKE_CLOCK()                 \
  if (!GetParam().honours_fake_clock)                \
  GTEST_SKIP() << GetParam().name                    \
               << " expires keys by its own clock, " \
                  "not the injected FakeClock"

class EphemeralConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    options_.clock = &clock_;
    std::string uri = GetParam().uri;
    if (GetParam().env_uri != nullptr) {
      const char* env = std::getenv(GetParam().env_uri);
      if (env == nullptr || *env == '\0') {
        GTEST_SKIP() << GetParam().name << " backend not tested: set " << GetParam().env_uri
                     << " (e.g. redis://localhost:6379/15) to run it";
      }
      uri = env;
    }
    auto e = OpenEphemeral(uri, options_);
    ASSERT_TRUE(e.ok()) << e.status();
    eph_ = std::move(*e);
    // A shared server keeps keys between tests: give each test its own namespace.
    std::random_device rd;
    ns_ = absl::StrCat("kostest:", rd(), rd(), ":");
  }

  std::string K(absl::string_view k) { return absl::StrCat(ns_, k); }

  FakeClock clock_;
  EphemeralOptions options_;
  std::unique_ptr<Ephemeral> eph_;
  std::string ns_;
};

TEST_P(EphemeralConformanceTest, SetGetDelete) {
  EXPECT_EQ(eph_->Get(K("a")).status().code(), absl::StatusCode::kNotFound);
  KOS_ASSERT_OK(eph_->Set(K("a"), "1", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get(K("a")), "1");
  KOS_ASSERT_OK(eph_->Set(K("a"), std::string("\0x", 2), absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get(K("a")), std::string("\0x", 2));
  EXPECT_EQ(*eph_->TimeToLive(K("a")), absl::InfiniteDuration());
  EXPECT_TRUE(*eph_->Delete(K("a")));
  EXPECT_FALSE(*eph_->Delete(K("a")));
  EXPECT_EQ(eph_->TimeToLive(K("a")).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(EphemeralConformanceTest, KeysExpireAfterTheirTtl) {
  KOS_SKIP_UNLESS_FAKE_CLOCK();
  KOS_ASSERT_OK(eph_->Set(K("s"), "v", absl::Seconds(10)));
  EXPECT_EQ(*eph_->TimeToLive(K("s")), absl::Seconds(10));
  clock_.Advance(absl::Seconds(4));
  EXPECT_EQ(*eph_->TimeToLive(K("s")), absl::Seconds(6));
  EXPECT_EQ(*eph_->Get(K("s")), "v");
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(eph_->Get(K("s")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(*eph_->Delete(K("s")));
  // An expired key is absent for every conditional operation.
  EXPECT_TRUE(*eph_->SetIfAbsent(K("s"), "again", absl::Seconds(1)));
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(*eph_->CompareAndSwap(K("s"), std::nullopt, "cas", absl::ZeroDuration()));
  KOS_ASSERT_OK(eph_->Set(K("n"), "5", absl::Seconds(1)));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(*eph_->Increment(K("n"), 2, absl::ZeroDuration()), 2);
}

TEST_P(EphemeralConformanceTest, SetIfAbsentSetsOnlyOnce) {
  EXPECT_TRUE(*eph_->SetIfAbsent(K("nonce"), "first", absl::Seconds(60)));
  EXPECT_FALSE(*eph_->SetIfAbsent(K("nonce"), "second", absl::Seconds(60)));
  EXPECT_EQ(*eph_->Get(K("nonce")), "first");
}

TEST_P(EphemeralConformanceTest, SetIfAbsentHasOneWinnerUnderContention) {
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = eph_->SetIfAbsent(K("race"), std::to_string(t), absl::ZeroDuration());
      if (r.ok() && *r) ++winners;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST_P(EphemeralConformanceTest, CompareAndSwap) {
  EXPECT_FALSE(*eph_->CompareAndSwap(K("c"), "x", "y", absl::ZeroDuration()));
  EXPECT_TRUE(*eph_->CompareAndSwap(K("c"), std::nullopt, "a", absl::ZeroDuration()));
  EXPECT_FALSE(*eph_->CompareAndSwap(K("c"), std::nullopt, "b", absl::ZeroDuration()));
  EXPECT_FALSE(*eph_->CompareAndSwap(K("c"), "wrong", "b", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get(K("c")), "a");
  EXPECT_TRUE(*eph_->CompareAndSwap(K("c"), "a", "b", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get(K("c")), "b");
}

TEST_P(EphemeralConformanceTest, IncrementIsAtomicAcrossThreads) {
  constexpr int kThreads = 8, kPerThread = 500;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!eph_->Increment(K("n"), 1, absl::ZeroDuration()).ok()) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(*eph_->Get(K("n")), std::to_string(kThreads * kPerThread));
  EXPECT_EQ(*eph_->Increment(K("n"), -4000, absl::ZeroDuration()), 0);
}

TEST_P(EphemeralConformanceTest, IncrementTtlAppliesOnlyOnCreate) {
  KOS_SKIP_UNLESS_FAKE_CLOCK();
  EXPECT_EQ(*eph_->Increment(K("w"), 3, absl::Seconds(10)), 3);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(*eph_->Increment(K("w"), 1, absl::Seconds(100)), 4);
  EXPECT_EQ(*eph_->TimeToLive(K("w")), absl::Seconds(5));
}

TEST_P(EphemeralConformanceTest, IncrementRejectsNonIntegersAndOverflow) {
  KOS_ASSERT_OK(eph_->Set(K("s"), "abc", absl::ZeroDuration()));
  EXPECT_EQ(eph_->Increment(K("s"), 1, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*eph_->Get(K("s")), "abc");
  KOS_ASSERT_OK(eph_->Set(K("f"), "1.5", absl::ZeroDuration()));
  EXPECT_EQ(eph_->Increment(K("f"), 1, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  KOS_ASSERT_OK(eph_->Set(K("max"), std::to_string(INT64_MAX), absl::ZeroDuration()));
  auto over = eph_->Increment(K("max"), 1, absl::ZeroDuration());
  EXPECT_FALSE(over.ok());
  EXPECT_EQ(*eph_->Get(K("max")), std::to_string(INT64_MAX));
}

TEST_P(EphemeralConformanceTest, BadArgumentsAreRejected) {
  EXPECT_EQ(eph_->Set("", "v", absl::ZeroDuration()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(eph_->Get("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(eph_->Set(K("k"), "v", absl::Seconds(-1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(eph_->Set(std::string(2000, 'k'), "v", absl::ZeroDuration()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(eph_->Set(K("k"), std::string((1 << 20) + 1, 'v'), absl::ZeroDuration()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(eph_->Get(K("k")).status().code(), absl::StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Backends, EphemeralConformanceTest,
                         ::testing::Values(Backend{"memory", "memory:"},
                                           Backend{"redis", "", "KOS_TEST_REDIS_URI", false}),
                         [](const auto& info) { return info.param.name; });

TEST(MemoryEphemeralTest, KeyLimitIsEnforcedAfterSweeping) {
  FakeClock clock;
  EphemeralOptions o;
  o.clock = &clock;
  o.max_keys = 2;
  auto e = OpenEphemeral("memory:", o);
  ASSERT_TRUE(e.ok());
  KOS_ASSERT_OK((*e)->Set("a", "1", absl::Seconds(1)));
  KOS_ASSERT_OK((*e)->Set("b", "1", absl::ZeroDuration()));
  EXPECT_EQ((*e)->Set("c", "1", absl::ZeroDuration()).code(), absl::StatusCode::kResourceExhausted);
  KOS_EXPECT_OK((*e)->Set("b", "2", absl::ZeroDuration()));  // overwriting is fine
  clock.Advance(absl::Seconds(1));
  KOS_EXPECT_OK((*e)->Set("c", "1", absl::ZeroDuration()));  // "a" expired and was swept
}

TEST(OpenEphemeralTest, RejectsUnknownSchemes) {
  EXPECT_EQ(OpenEphemeral("memcached://x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenEphemeral("nocolon").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
