// Redis Ephemeral against a real server (KOS_TEST_REDIS_URI, written by
// scripts/start-services.sh). URI and unreachable-server cases need no server.
//
// Redis keeps TTLs by its own clock, so the TTL cases use short real TTLs
// (100-300 ms) instead of a FakeClock.
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kos/ephemeral.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::absl::StatusCode;

std::string RedisUri() {
  const char* uri = std::getenv("KOS_TEST_REDIS_URI");
  return uri != nullptr ? uri : "";
}

// Appends a query option to a URI that may or may not already have a query.
std::string WithOption(const std::string& uri, const std::string& kv) {
  return absl::StrCat(uri, uri.find('?') == std::string::npos ? "?" : "&", kv);
}

class RedisEphemeralTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uri_ = RedisUri();
    if (uri_.empty()) {
      GTEST_SKIP() << "KOS_TEST_REDIS_URI not set: start services with scripts/start-services.sh";
    }
    // A key prefix of its own per test and run, so reruns never collide.
    prefix_ =
        absl::StrCat("kos-test:", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                     ":", getpid(), ":", absl::ToUnixNanos(absl::Now()), ":");
    auto e = Open();
    ASSERT_TRUE(e.ok()) << e.status();
    eph_ = std::move(*e);
  }

  absl::StatusOr<std::unique_ptr<Ephemeral>> Open(EphemeralOptions options = {},
                                                  const std::string& extra = "") {
    std::string uri = WithOption(uri_, "prefix=" + prefix_);
    if (!extra.empty()) uri = WithOption(uri, extra);
    return OpenEphemeral(uri, options);
  }

  std::string uri_;
  std::string prefix_;
  std::unique_ptr<Ephemeral> eph_;
};

TEST_F(RedisEphemeralTest, GetSetDelete) {
  EXPECT_EQ(eph_->Get("k").status().code(), StatusCode::kNotFound);
  KOS_ASSERT_OK(eph_->Set("k", "v1", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get("k"), "v1");
  KOS_ASSERT_OK(eph_->Set("k", "v2", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get("k"), "v2");
  EXPECT_TRUE(*eph_->Delete("k"));
  EXPECT_FALSE(*eph_->Delete("k"));
  EXPECT_EQ(eph_->Get("k").status().code(), StatusCode::kNotFound);
}

TEST_F(RedisEphemeralTest, BinaryKeysAndValuesRoundTrip) {
  std::string key("a\0b\xff", 4);
  std::string value("\0\x01\x02 \r\n\xfe", 7);
  KOS_ASSERT_OK(eph_->Set(key, value, absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get(key), value);
  EXPECT_EQ(eph_->Get(std::string("a", 1)).status().code(), StatusCode::kNotFound);
  KOS_ASSERT_OK(eph_->Set("empty", "", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get("empty"), "");
}

TEST_F(RedisEphemeralTest, SetIfAbsent) {
  EXPECT_TRUE(*eph_->SetIfAbsent("n", "first", absl::ZeroDuration()));
  EXPECT_FALSE(*eph_->SetIfAbsent("n", "second", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get("n"), "first");
}

TEST_F(RedisEphemeralTest, CompareAndSwap) {
  EXPECT_FALSE(*eph_->CompareAndSwap("c", std::string("x"), "y", absl::ZeroDuration()));
  EXPECT_EQ(eph_->Get("c").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(*eph_->CompareAndSwap("c", std::nullopt, "a", absl::ZeroDuration()));
  EXPECT_FALSE(*eph_->CompareAndSwap("c", std::nullopt, "b", absl::ZeroDuration()));
  EXPECT_FALSE(*eph_->CompareAndSwap("c", std::string("wrong"), "b", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get("c"), "a");
  EXPECT_TRUE(*eph_->CompareAndSwap("c", std::string("a"), "b", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get("c"), "b");
  // The empty string is a value, not absence.
  KOS_ASSERT_OK(eph_->Set("e", "", absl::ZeroDuration()));
  EXPECT_FALSE(*eph_->CompareAndSwap("e", std::nullopt, "z", absl::ZeroDuration()));
  EXPECT_TRUE(*eph_->CompareAndSwap("e", std::string(""), "z", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Get("e"), "z");
}

TEST_F(RedisEphemeralTest, IncrementIsExactAndTyped) {
  EXPECT_EQ(*eph_->Increment("i", 5, absl::ZeroDuration()), 5);
  EXPECT_EQ(*eph_->Increment("i", -7, absl::ZeroDuration()), -2);
  EXPECT_EQ(*eph_->Get("i"), "-2");
  // Beyond 2^53 a Lua number (a double) would round; the result must not.
  KOS_ASSERT_OK(eph_->Set("big", "9007199254740993", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Increment("big", 2, absl::ZeroDuration()), 9007199254740995);
  KOS_ASSERT_OK(eph_->Set("max", "9223372036854775806", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->Increment("max", 1, absl::ZeroDuration()), INT64_MAX);
  EXPECT_EQ(eph_->Increment("max", 1, absl::ZeroDuration()).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(*eph_->Get("max"), "9223372036854775807");
  KOS_ASSERT_OK(eph_->Set("s", "not a number", absl::ZeroDuration()));
  EXPECT_EQ(eph_->Increment("s", 1, absl::ZeroDuration()).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(*eph_->Get("s"), "not a number");
}

TEST_F(RedisEphemeralTest, TtlExpiresByServerClock) {
  KOS_ASSERT_OK(eph_->Set("t", "v", absl::Milliseconds(150)));
  KOS_ASSERT_OK(eph_->Set("forever", "v", absl::ZeroDuration()));
  absl::StatusOr<absl::Duration> ttl = eph_->TimeToLive("t");
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_GT(*ttl, absl::ZeroDuration());
  EXPECT_LE(*ttl, absl::Milliseconds(150));
  EXPECT_EQ(*eph_->TimeToLive("forever"), absl::InfiniteDuration());
  EXPECT_EQ(eph_->TimeToLive("missing").status().code(), StatusCode::kNotFound);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(eph_->Get("t").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(eph_->TimeToLive("t").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(*eph_->Delete("t"));
  // An expired key is absent for SetIfAbsent too.
  EXPECT_TRUE(*eph_->SetIfAbsent("t", "again", absl::ZeroDuration()));
}

TEST_F(RedisEphemeralTest, SetWithoutTtlClearsTheTtl) {
  KOS_ASSERT_OK(eph_->Set("t", "v", absl::Seconds(100)));
  KOS_ASSERT_OK(eph_->Set("t", "w", absl::ZeroDuration()));
  EXPECT_EQ(*eph_->TimeToLive("t"), absl::InfiniteDuration());
  EXPECT_TRUE(*eph_->CompareAndSwap("t", std::string("w"), "x", absl::Seconds(50)));
  absl::Duration ttl = *eph_->TimeToLive("t");
  EXPECT_GT(ttl, absl::Seconds(40));
  EXPECT_LE(ttl, absl::Seconds(50));
}

TEST_F(RedisEphemeralTest, SubMillisecondTtlStillExpires) {
  // Redis counts milliseconds: a tiny TTL must round up, never become "no expiry".
  KOS_ASSERT_OK(eph_->Set("tiny", "v", absl::Microseconds(10)));
  absl::StatusOr<absl::Duration> ttl = eph_->TimeToLive("tiny");
  if (ttl.ok()) {
    EXPECT_NE(*ttl, absl::InfiniteDuration());
  }
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(eph_->Get("tiny").status().code(), StatusCode::kNotFound);
}

TEST_F(RedisEphemeralTest, IncrementTtlAppliesOnlyOnCreate) {
  EXPECT_EQ(*eph_->Increment("rate", 1, absl::Milliseconds(200)), 1);
  EXPECT_EQ(*eph_->Increment("rate", 1, absl::Seconds(100)), 2);
  absl::Duration ttl = *eph_->TimeToLive("rate");
  EXPECT_LE(ttl, absl::Milliseconds(200));
  EXPECT_EQ(*eph_->Increment("plain", 1, absl::ZeroDuration()), 1);
  EXPECT_EQ(*eph_->TimeToLive("plain"), absl::InfiniteDuration());
  absl::SleepFor(absl::Milliseconds(350));
  // The window ended: the counter starts again.
  EXPECT_EQ(*eph_->Increment("rate", 1, absl::Milliseconds(200)), 1);
}

TEST_F(RedisEphemeralTest, LimitsAndBadInputAreInvalidArgument) {
  EphemeralOptions o;
  o.max_key_bytes = 8;
  o.max_value_bytes = 4;
  auto small = Open(o);
  ASSERT_TRUE(small.ok()) << small.status();
  Ephemeral& e = **small;
  EXPECT_EQ(e.Get("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Set("123456789", "v", absl::ZeroDuration()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Set("k", "12345", absl::ZeroDuration()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Set("k", "v", absl::Seconds(-1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.SetIfAbsent("k", "12345", absl::ZeroDuration()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(e.CompareAndSwap("k", std::nullopt, "12345", absl::ZeroDuration()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Increment("k", 1, absl::Seconds(-1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Delete("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.TimeToLive("123456789").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Get("k").status().code(), StatusCode::kNotFound);  // nothing was written
}

TEST_F(RedisEphemeralTest, PrefixesIsolateTenants) {
  KOS_ASSERT_OK(eph_->Set("shared", "mine", absl::ZeroDuration()));
  auto other = OpenEphemeral(WithOption(uri_, "prefix=" + prefix_ + "other:"));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)->Get("shared").status().code(), StatusCode::kNotFound);
}

TEST_F(RedisEphemeralTest, ConcurrentIncrementsAreExact) {
  constexpr int kThreads = 8, kEach = 200;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (!eph_->Increment("counter", 1, absl::Seconds(60)).ok()) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(*eph_->Get("counter"), absl::StrCat(kThreads * kEach));
}

TEST_F(RedisEphemeralTest, SetIfAbsentHasExactlyOneWinner) {
  constexpr int kThreads = 8, kRounds = 25;
  for (int round = 0; round < kRounds; ++round) {
    std::string key = absl::StrCat("nonce-", round);
    std::atomic<int> winners{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        absl::StatusOr<bool> won = eph_->SetIfAbsent(key, absl::StrCat(t), absl::Seconds(60));
        if (!won.ok()) ++errors;
        if (won.ok() && *won) ++winners;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(winners.load(), 1) << "round " << round;
  }
}

TEST_F(RedisEphemeralTest, CompareAndSwapRetriesLoseNoUpdate) {
  // A pool smaller than the thread count also exercises waiting for a connection.
  auto small_pool = Open({}, "pool_size=3");
  ASSERT_TRUE(small_pool.ok()) << small_pool.status();
  Ephemeral& e = **small_pool;
  KOS_ASSERT_OK(e.Set("cas", "0", absl::ZeroDuration()));
  constexpr int kThreads = 8, kEach = 30;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        for (;;) {
          absl::StatusOr<std::string> cur = e.Get("cas");
          if (!cur.ok()) {
            ++errors;
            break;
          }
          absl::StatusOr<bool> swapped = e.CompareAndSwap(
              "cas", *cur, absl::StrCat(std::stoi(*cur) + 1), absl::ZeroDuration());
          if (!swapped.ok()) {
            ++errors;
            break;
          }
          if (*swapped) break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(*e.Get("cas"), absl::StrCat(kThreads * kEach));
}

TEST_F(RedisEphemeralTest, WrongPasswordIsUnauthenticatedWithoutEcho) {
  // The test server has no password; AUTH is then refused, which must read
  // as an authentication failure that never repeats the password.
  std::string uri = uri_;
  ASSERT_EQ(uri.rfind("redis://", 0), 0u);
  uri.insert(8, ":Sup3rS3cretPw@");
  auto e = OpenEphemeral(uri);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnauthenticated) << e.status();
  EXPECT_EQ(e.status().message().find("Sup3rS3cretPw"), std::string::npos) << e.status();
}

// Kills, from a connection of its own, every client named `name`; returns how many.
int KillClientsNamed(const std::string& host, int port, const std::string& name) {
  redisContext* c = redisConnect(host.c_str(), port);
  if (c == nullptr || c->err) {
    if (c != nullptr) redisFree(c);
    return -1;
  }
  int killed = 0;
  auto* list = static_cast<redisReply*>(redisCommand(c, "CLIENT LIST"));
  if (list != nullptr && list->type == REDIS_REPLY_STRING) {
    for (absl::string_view line : absl::StrSplit(absl::string_view(list->str, list->len), '\n')) {
      if (!absl::StrContains(line, absl::StrCat(" name=", name, " "))) continue;
      size_t id_end = line.find(' ');
      std::string id(line.substr(3, id_end - 3));  // "id=N ..."
      auto* r = static_cast<redisReply*>(redisCommand(c, "CLIENT KILL ID %s", id.c_str()));
      if (r != nullptr && r->type == REDIS_REPLY_INTEGER) killed += static_cast<int>(r->integer);
      if (r != nullptr) freeReplyObject(r);
    }
  }
  if (list != nullptr) freeReplyObject(list);
  redisFree(c);
  return killed;
}

TEST_F(RedisEphemeralTest, PooledConnectionsKilledByTheServerAreReplaced) {
  std::string name = absl::StrCat("kostest-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  auto e = Open({}, "pool_size=2&client_name=" + name);
  ASSERT_TRUE(e.ok()) << e.status();
  KOS_ASSERT_OK((*e)->Set("k", "before", absl::ZeroDuration()));
  // The redis://127.0.0.1:PORT/.. URI the start script writes.
  std::string hostport = uri_.substr(8, uri_.find('/', 8) - 8);
  std::string host = hostport.substr(0, hostport.rfind(':'));
  int port = std::stoi(hostport.substr(hostport.rfind(':') + 1));
  ASSERT_GE(KillClientsNamed(host, port, name), 1);
  absl::SleepFor(absl::Milliseconds(50));  // let the FIN arrive
  // Every operation (not only idempotent ones) works on a fresh connection.
  EXPECT_EQ(*(*e)->Increment("n", 1, absl::ZeroDuration()), 1);
  EXPECT_EQ(*(*e)->Get("k"), "before");
}

// --- No server needed -------------------------------------------------------

TEST(RedisEphemeralUriTest, BadUrisAreInvalidArgument) {
  for (const char* uri :
       {"redis://", "redis://:6379/0", "redis://host:notaport/0", "redis://host:0/0",
        "redis://host:70000/0", "redis://host:6379/db", "redis://host:6379/0?timeout_ms=0",
        "redis://host/0?pool_size=0", "redis://host/0?pool_size=abc",
        "redis://host/0?no_such_option=1", "redis://[::1/0", "redis://ho st/0", "rediss://host/0",
        "redis://host/0?prefix=%zz", "redis://host/0?client_name=a%20b"}) {
    absl::StatusOr<std::unique_ptr<Ephemeral>> e = OpenEphemeral(uri);
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << uri << ": " << e.status();
  }
}

TEST(RedisEphemeralUriTest, ErrorsNeverHoldThePassword) {
  for (const char* uri :
       {"redis://:hunter2secret@host:notaport/0", "redis://user:hunter2secret@host/0?bogus=1",
        "redis://user:hunter2secret@127.0.0.1:1/0?connect_timeout_ms=300"}) {
    absl::StatusOr<std::unique_ptr<Ephemeral>> e = OpenEphemeral(uri);
    ASSERT_FALSE(e.ok()) << uri;
    EXPECT_EQ(e.status().message().find("hunter2secret"), std::string::npos) << e.status();
  }
}

// A loopback listener that never answers: connects succeed, replies never come.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0 && listen(fd_, 8) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(RedisEphemeralUriTest, SilentServerTimesOutAsUnavailable) {
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Ephemeral>> e = OpenEphemeral(
      absl::StrCat("redis://:pw-not-shown@127.0.0.1:", silent.port(), "/0?timeout_ms=200"));
  EXPECT_EQ(e.status().code(), StatusCode::kUnavailable) << e.status();
  EXPECT_NE(e.status().message().find("timed out"), std::string::npos) << e.status();
  EXPECT_EQ(e.status().message().find("pw-not-shown"), std::string::npos) << e.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(RedisEphemeralUriTest, UnreachableServerIsUnavailableQuickly) {
  absl::Time start = absl::Now();
  // Port 1 on loopback: nothing listens, the connection is refused.
  absl::StatusOr<std::unique_ptr<Ephemeral>> e =
      OpenEphemeral("redis://127.0.0.1:1/0?connect_timeout_ms=300");
  EXPECT_EQ(e.status().code(), StatusCode::kUnavailable) << e.status();
  EXPECT_NE(e.status().message().find("127.0.0.1:1"), std::string::npos) << e.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace kos
