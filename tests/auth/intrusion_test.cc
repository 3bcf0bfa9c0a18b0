#include "kos/intrusion.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::testing::HasSubstr;

class IntrusionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EphemeralOptions eo;
    eo.clock = &clock_;
    ephemeral_ = *OpenEphemeral("memory:", eo);
    options_.ephemeral = ephemeral_.get();
    options_.clock = &clock_;
    options_.sink = [this](const SecurityEvent& e) {
      absl::MutexLock l(&mu_);
      events_.push_back(e);
    };
  }

  std::unique_ptr<IntrusionDetector> Open() {
    auto d = IntrusionDetector::Open(options_);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *std::move(d) : nullptr;
  }

  std::vector<SecurityEvent> Events(SecurityEventType type) {
    absl::MutexLock l(&mu_);
    std::vector<SecurityEvent> out;
    for (const SecurityEvent& e : events_) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  absl::Duration Locked(IntrusionDetector& d, LockScope scope, const std::string& id) {
    auto r = d.IsLocked(scope, id);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : absl::InfiniteDuration();
  }

  FakeClock clock_;
  std::unique_ptr<Ephemeral> ephemeral_;
  IntrusionOptions options_;
  absl::Mutex mu_;
  std::vector<SecurityEvent> events_;
};

TEST_F(IntrusionTest, DocumentedDefaults) {
  IntrusionOptions o;
  EXPECT_EQ(o.account_failure_threshold, 5);
  EXPECT_EQ(o.account_failure_window, absl::Minutes(15));
  EXPECT_EQ(o.address_failure_threshold, 20);
  EXPECT_EQ(o.initial_lockout, absl::Minutes(1));
  EXPECT_EQ(o.backoff_factor, 2);
  EXPECT_EQ(o.max_lockout, absl::Hours(1));
  EXPECT_EQ(o.signature_failure_threshold, 10);
}

TEST_F(IntrusionTest, AccountLocksAtThresholdWithExponentialBackoff) {
  auto d = Open();
  for (int i = 1; i <= 4; ++i) {
    auto r = d->RecordLoginFailure("alice", "");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->account_failures, i);
    EXPECT_EQ(r->account_lockout, absl::ZeroDuration());
  }
  EXPECT_EQ(Locked(*d, LockScope::kAccount, "alice"), absl::ZeroDuration());
  auto r = d->RecordLoginFailure("alice", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->account_lockout, absl::Minutes(1));
  EXPECT_EQ(Locked(*d, LockScope::kAccount, "alice"), absl::Minutes(1));
  clock_.Advance(absl::Seconds(20));
  EXPECT_EQ(Locked(*d, LockScope::kAccount, "alice"), absl::Seconds(40));
  EXPECT_EQ(Locked(*d, LockScope::kAccount, "bob"), absl::ZeroDuration());

  std::vector<SecurityEvent> locked = Events(SecurityEventType::kAccountLocked);
  ASSERT_EQ(locked.size(), 1u);
  EXPECT_EQ(locked[0].account, "alice");
  EXPECT_EQ(locked[0].severity, SecuritySeverity::kCritical);
  EXPECT_EQ(locked[0].lockout, absl::Minutes(1));
  EXPECT_EQ(locked[0].count, 5);
  EXPECT_EQ(Events(SecurityEventType::kLoginFailure).size(), 5u);

  // Each further lockout doubles: 2, 4, 8, ... minutes, capped at 1 hour.
  const absl::Duration expected[] = {absl::Minutes(2),  absl::Minutes(4),  absl::Minutes(8),
                                     absl::Minutes(16), absl::Minutes(32), absl::Hours(1),
                                     absl::Hours(1)};
  for (absl::Duration want : expected) {
    clock_.Advance(Locked(*d, LockScope::kAccount, "alice"));
    ASSERT_EQ(Locked(*d, LockScope::kAccount, "alice"), absl::ZeroDuration());
    LoginFailureResult last;
    for (int i = 0; i < 5; ++i) last = *d->RecordLoginFailure("alice", "");
    EXPECT_EQ(last.account_lockout, want);
    EXPECT_EQ(Locked(*d, LockScope::kAccount, "alice"), want);
  }
}

TEST_F(IntrusionTest, FailuresOutsideTheWindowDoNotAccumulate) {
  auto d = Open();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(d->RecordLoginFailure("alice", "").ok());
  clock_.Advance(absl::Minutes(15));
  auto r = d->RecordLoginFailure("alice", "");
  EXPECT_EQ(r->account_failures, 1);
  EXPECT_EQ(r->account_lockout, absl::ZeroDuration());
}

TEST_F(IntrusionTest, SuccessfulLoginResetsAccountCountersAndBackoffButNotAddress) {
  options_.address_failure_threshold = 6;
  auto d = Open();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(d->RecordLoginFailure("alice", "198.51.100.1").ok());
  clock_.Advance(absl::Minutes(1));  // first lockout over; backoff level 1 remembered
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(d->RecordLoginFailure("bob", "198.51.100.2").ok());
  KOS_ASSERT_OK(d->RecordLoginSuccess("bob", "198.51.100.2"));
  EXPECT_EQ(d->RecordLoginFailure("bob", "198.51.100.2")->account_failures, 1);
  EXPECT_EQ(d->RecordLoginFailure("bob", "198.51.100.2")->address_failures,
            0);  // the 6th locks the address
  EXPECT_GT(Locked(*d, LockScope::kAddress, "198.51.100.2"), absl::ZeroDuration());
  EXPECT_EQ(Events(SecurityEventType::kAddressLocked).size(), 1u);

  // alice's success forgets the backoff: her next lockout is 1 minute again.
  KOS_ASSERT_OK(d->RecordLoginSuccess("alice", "198.51.100.1"));
  LoginFailureResult last;
  for (int i = 0; i < 5; ++i) last = *d->RecordLoginFailure("alice", "198.51.100.9");
  EXPECT_EQ(last.account_lockout, absl::Minutes(1));
}

TEST_F(IntrusionTest, AddressLockoutAcrossAccounts) {
  auto d = Open();
  LoginFailureResult r;
  for (int i = 0; i < 20; ++i) {
    r = *d->RecordLoginFailure("user" + std::to_string(i), "203.0.113.50");
  }
  EXPECT_EQ(r.address_lockout, absl::Minutes(1));
  EXPECT_EQ(Locked(*d, LockScope::kAddress, "203.0.113.50"), absl::Minutes(1));
  EXPECT_EQ(Locked(*d, LockScope::kAccount, "user3"), absl::ZeroDuration());
  auto ev = Events(SecurityEventType::kAddressLocked);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].address, "203.0.113.50");
  KOS_ASSERT_OK(d->Unlock(LockScope::kAddress, "203.0.113.50"));
  EXPECT_EQ(Locked(*d, LockScope::kAddress, "203.0.113.50"), absl::ZeroDuration());
  EXPECT_EQ(d->RecordLoginFailure("", "203.0.113.50")->address_failures, 1);
}

TEST_F(IntrusionTest, ConcurrentFailuresLockExactlyOnce) {
  options_.account_failure_threshold = 50;
  auto d = Open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) ASSERT_TRUE(d->RecordLoginFailure("alice", "").ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Events(SecurityEventType::kAccountLocked).size(), 1u);
  EXPECT_EQ(Events(SecurityEventType::kLoginFailure).size(), 80u);
  EXPECT_EQ(Locked(*d, LockScope::kAccount, "alice"), absl::Minutes(1));
}

TEST_F(IntrusionTest, TokenAndTaskSignals) {
  auto d = Open();
  KOS_ASSERT_OK(d->RecordRefreshTokenReuse("alice", "fam_123", "192.0.2.1"));
  auto reuse = Events(SecurityEventType::kRefreshTokenReuse);
  ASSERT_EQ(reuse.size(), 1u);
  EXPECT_EQ(reuse[0].severity, SecuritySeverity::kCritical);
  EXPECT_EQ(reuse[0].subject, "fam_123");
  EXPECT_EQ(reuse[0].time, clock_.Now());

  for (int i = 1; i <= 10; ++i) {
    auto n = d->RecordSignatureFailure("kid:k1", "bad signature", "192.0.2.2");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, i);
  }
  auto sig = Events(SecurityEventType::kSignatureFailure);
  ASSERT_EQ(sig.size(), 10u);
  EXPECT_EQ(sig[8].severity, SecuritySeverity::kWarning);
  EXPECT_EQ(sig[9].severity, SecuritySeverity::kCritical);
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(*d->RecordSignatureFailure("kid:k1", "", ""), 1);

  KOS_ASSERT_OK(d->RecordReplayedTask("agent:kPlanner", "task_42", "nonce seen before"));
  auto replay = Events(SecurityEventType::kReplayedTask);
  ASSERT_EQ(replay.size(), 1u);
  EXPECT_EQ(replay[0].subject, "task_42");
  EXPECT_EQ(replay[0].account, "agent:kPlanner");
}

TEST_F(IntrusionTest, EventJsonForTheSecurityLog) {
  options_.account_failure_threshold = 1;
  auto d = Open();
  ASSERT_TRUE(d->RecordLoginFailure("alice", "192.0.2.1").ok());
  auto locked = Events(SecurityEventType::kAccountLocked);
  ASSERT_EQ(locked.size(), 1u);
  Json j = locked[0].ToJson();
  EXPECT_EQ(j["type"], "account_locked");
  EXPECT_EQ(j["severity"], "critical");
  EXPECT_EQ(j["account"], "alice");
  EXPECT_EQ(j["lockout_seconds"], 60.0);
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20Z");
  EXPECT_FALSE(j.contains("address"));  // the lock is about the account
  EXPECT_EQ(DumpJson(j).find('\n'), std::string::npos);
}

TEST_F(IntrusionTest, HostileInput) {
  auto d = Open();
  EXPECT_EQ(d->RecordLoginFailure("", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d->RecordLoginFailure(std::string(1 << 20, 'a'), "").status().message()),
              HasSubstr("the limit is 256"));
  EXPECT_EQ(d->IsLocked(LockScope::kAccount, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->RecordLoginSuccess("", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->RecordSignatureFailure("", "x", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->RecordRefreshTokenReuse("a", "", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->RecordReplayedTask("a", "", "").code(), absl::StatusCode::kInvalidArgument);
  // Binary and separator characters in ids cannot collide with other keys.
  ASSERT_TRUE(d->RecordLoginFailure(std::string("a\0b:acct:c", 10), "").ok());
  EXPECT_EQ(Locked(*d, LockScope::kAccount, "a"), absl::ZeroDuration());
  // A corrupt backoff level is treated as none rather than failing logins.
  KOS_ASSERT_OK(ephemeral_->Set("kos:ids:level:acct:eve", "junk", absl::ZeroDuration()));
  LoginFailureResult last;
  for (int i = 0; i < 5; ++i) last = *d->RecordLoginFailure("eve", "");
  EXPECT_EQ(last.account_lockout, absl::Minutes(1));
  // Huge details are truncated in events.
  ASSERT_TRUE(d->RecordSignatureFailure("src", std::string(100000, 'x'), "").ok());
  EXPECT_EQ(Events(SecurityEventType::kSignatureFailure).back().detail.size(), 512u);
}

TEST_F(IntrusionTest, OpenValidatesOptions) {
  IntrusionOptions o;
  EXPECT_THAT(std::string(IntrusionDetector::Open(o).status().message()),
              HasSubstr("ephemeral is required"));
  o.ephemeral = ephemeral_.get();
  o.account_failure_threshold = 0;
  EXPECT_THAT(std::string(IntrusionDetector::Open(o).status().message()),
              HasSubstr("account_failure_threshold must be positive"));
  o.account_failure_threshold = 5;
  o.max_lockout = absl::Seconds(1);
  EXPECT_THAT(std::string(IntrusionDetector::Open(o).status().message()),
              HasSubstr("max_lockout must be >= initial_lockout"));
  o.max_lockout = absl::Hours(1);
  o.sink = nullptr;
  auto d = IntrusionDetector::Open(o);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE((*d)->RecordLoginFailure("x", "").ok());  // no sink: events dropped
}

}  // namespace
}  // namespace kos
