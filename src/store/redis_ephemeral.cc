// Redis Ephemeral: `redis://[[user]:password@]host[:port][/db][?options]`.
//
// hiredis contexts are not thread-safe, so each call borrows one from a small
// pool. Every operation is one Redis command or one Lua script, so it is
// atomic on its key across threads, processes and replicas. TTLs are kept by
// the Redis server's clock: the injected EphemeralOptions::clock is not used.
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "kos/status.h"
#include "store/backends.h"
#include "store/redis_uri.h"

namespace kos::internal {
namespace {

// Swaps only when the current value matches; ARGV: expect_present(0|1),
// expected, value, ttl_ms (0: none). A missing key reads as false in Lua.
constexpr char kCasScript[] = R"lua(
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
)lua";

// INCRBY does exact 64-bit arithmetic (Lua numbers are doubles, so the result
// is read back with GET rather than through Lua). The TTL applies only when
// this call creates the key. ARGV: delta, ttl_ms (0: none).
constexpr char kIncrementScript[] = R"lua(
local existed = redis.call('EXISTS', KEYS[1])
redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('GET', KEYS[1])
)lua";

// A socket write to a server that closed the connection raises SIGPIPE, whose
// default action kills the process; a library must not. Blocks SIGPIPE on this
// thread for the scope and swallows one that the scope itself raised.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// Maps a Redis error reply to a status code. `what` names the operation.
absl::Status ErrorReply(absl::string_view msg, absl::string_view what) {
  std::string m = absl::StrCat("Redis ", what, ": ", msg.substr(0, 300));
  if (absl::StrContains(msg, "WRONGTYPE") || absl::StrContains(msg, "not an integer")) {
    return absl::FailedPreconditionError(m);
  }
  if (absl::StrContains(msg, "overflow")) return absl::OutOfRangeError(m);
  if (absl::StartsWith(msg, "NOAUTH") || absl::StartsWith(msg, "WRONGPASS")) {
    return absl::UnauthenticatedError(m);
  }
  if (absl::StartsWith(msg, "NOPERM")) return absl::PermissionDeniedError(m);
  if (absl::StartsWith(msg, "OOM") || absl::StrContains(msg, "OOM command not allowed")) {
    return absl::ResourceExhaustedError(m);
  }
  if (absl::StartsWith(msg, "LOADING") || absl::StartsWith(msg, "BUSY") ||
      absl::StartsWith(msg, "READONLY") || absl::StartsWith(msg, "MASTERDOWN") ||
      absl::StartsWith(msg, "TRYAGAIN")) {
    return absl::UnavailableError(m);
  }
  return absl::InternalError(m);
}

// An idle connection has nothing to read unless the server closed it (restart,
// idle timeout, CLIENT KILL): then it is readable (EOF) or hung up. Checking
// first lets a call use a fresh connection instead of failing on a dead one.
bool ClosedByServer(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) != 0;
}

// Thread-safe pool of connected, authenticated contexts.
class RedisPool {
 public:
  explicit RedisPool(RedisConfig config) : config_(std::move(config)) {}
  ~RedisPool() {
    absl::MutexLock l(&mu_);
    for (redisContext* c : idle_) redisFree(c);
  }

  const RedisConfig& config() const { return config_; }

  // Borrows a context, connecting a new one if none is idle and the pool has
  // room; waits for one otherwise.
  absl::StatusOr<redisContext*> Acquire() {
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !idle_.empty() || open_ < config_.pool_size;
      };
      absl::Duration wait = config_.connect_timeout + config_.timeout;
      if (!mu_.AwaitWithTimeout(absl::Condition(&ready), wait)) {
        return absl::UnavailableError(
            absl::StrCat("all ", config_.pool_size, " Redis connections to ", config_.Address(),
                         " stayed busy for ", absl::FormatDuration(wait)));
      }
      while (!idle_.empty()) {
        redisContext* c = idle_.back();
        idle_.pop_back();
        if (!ClosedByServer(c->fd)) return c;
        redisFree(c);
        --open_;
      }
      ++open_;
    }
    absl::StatusOr<redisContext*> c = Connect();
    if (!c.ok()) {
      absl::MutexLock l(&mu_);
      --open_;
    }
    return c;
  }

  // Returns a context. A broken one is closed, and so are the idle ones: a
  // broken connection usually means the server restarted, which broke them too.
  void Release(redisContext* c, bool broken) {
    std::vector<redisContext*> drop;
    {
      absl::MutexLock l(&mu_);
      if (broken || c->err != 0) {
        drop.swap(idle_);
        drop.push_back(c);
        open_ -= static_cast<int>(drop.size());
      } else {
        idle_.push_back(c);
      }
    }
    for (redisContext* d : drop) redisFree(d);
  }

 private:
  absl::StatusOr<redisContext*> Connect() {
    ScopedSigpipeBlock no_sigpipe;
    redisContext* c = redisConnectWithTimeout(config_.host.c_str(), config_.port,
                                              absl::ToTimeval(config_.connect_timeout));
    if (c == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to Redis at ", config_.Address(), ": out of memory"));
    }
    if (c->err != 0) {
      std::string why = c->errstr;
      redisFree(c);
      return absl::UnavailableError(
          absl::StrCat("cannot connect to Redis at ", config_.Address(), ": ", why));
    }
    redisSetTimeout(c, absl::ToTimeval(config_.timeout));
    absl::Status s = Handshake(c);
    if (!s.ok()) {
      redisFree(c);
      return s;
    }
    return c;
  }

  absl::Status Handshake(redisContext* c) {
    std::vector<std::string> auth;
    if (!config_.password.empty()) {
      auth.push_back("AUTH");
      if (!config_.user.empty()) auth.push_back(config_.user);
      auth.push_back(config_.password);
      Reply r = Command(c, auth);
      if (!r) return IoError(c, "AUTH");
      if (r->type == REDIS_REPLY_ERROR) {
        // The server's text may echo nothing secret, but say only what failed.
        return absl::UnauthenticatedError(
            absl::StrCat("Redis at ", config_.Address(), " rejected the credentials"));
      }
    }
    if (config_.db != 0) {
      Reply r = Command(c, {"SELECT", absl::StrCat(config_.db)});
      if (!r) return IoError(c, "SELECT");
      if (r->type == REDIS_REPLY_ERROR) {
        return absl::InvalidArgumentError(absl::StrCat("Redis at ", config_.Address(),
                                                       " refused database ", config_.db, ": ",
                                                       absl::string_view(r->str, r->len)));
      }
    }
    Reply r = Command(c, {"CLIENT", "SETNAME", config_.client_name});
    if (!r) return IoError(c, "CLIENT SETNAME");
    return absl::OkStatus();
  }

 public:
  static Reply Command(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    ScopedSigpipeBlock no_sigpipe;
    return Reply(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
  }

  absl::Status IoError(redisContext* c, absl::string_view what) const {
    std::string why = c->err != 0 ? std::string(c->errstr) : "no reply";
    if (c->err == REDIS_ERR_IO && (why.find("temporarily unavailable") != std::string::npos ||
                                   why.find("timed out") != std::string::npos)) {
      why = absl::StrCat("timed out after ", absl::FormatDuration(config_.timeout));
    }
    return absl::UnavailableError(
        absl::StrCat("Redis ", what, " at ", config_.Address(), " failed: ", why));
  }

 private:
  const RedisConfig config_;
  absl::Mutex mu_;
  std::vector<redisContext*> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + borrowed
};

class RedisEphemeral final : public Ephemeral {
 public:
  RedisEphemeral(const EphemeralOptions& options, RedisConfig config)
      : options_(options), pool_(std::move(config)) {}

  // Connects once so a wrong address or password fails at open, and loads
  // the scripts so calls can send their SHA instead of their text.
  absl::Status Init() {
    KOS_ASSIGN_OR_RETURN(Reply r, Run("SCRIPT LOAD", {"SCRIPT", "LOAD", kCasScript}));
    if (r->type != REDIS_REPLY_STRING) return absl::InternalError("Redis SCRIPT LOAD: no SHA");
    cas_sha_.assign(r->str, r->len);
    KOS_ASSIGN_OR_RETURN(r, Run("SCRIPT LOAD", {"SCRIPT", "LOAD", kIncrementScript}));
    if (r->type != REDIS_REPLY_STRING) return absl::InternalError("Redis SCRIPT LOAD: no SHA");
    incr_sha_.assign(r->str, r->len);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Get(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(CheckKey(key));
    KOS_ASSIGN_OR_RETURN(Reply r, Run("GET", {"GET", FullKey(key)}));
    if (r->type == REDIS_REPLY_NIL) return NotFound(key);
    if (r->type != REDIS_REPLY_STRING) return Unexpected("GET", r.get());
    return std::string(r->str, r->len);
  }

  absl::Status Set(absl::string_view key, absl::string_view value, absl::Duration ttl) override {
    KOS_RETURN_IF_ERROR(CheckWrite(key, value, ttl));
    std::vector<std::string> args = {"SET", FullKey(key), std::string(value)};
    AddPx(ttl, &args);
    KOS_ASSIGN_OR_RETURN(Reply r, Run("SET", args));
    if (r->type != REDIS_REPLY_STATUS) return Unexpected("SET", r.get());
    return absl::OkStatus();
  }

  absl::StatusOr<bool> SetIfAbsent(absl::string_view key, absl::string_view value,
                                   absl::Duration ttl) override {
    KOS_RETURN_IF_ERROR(CheckWrite(key, value, ttl));
    std::vector<std::string> args = {"SET", FullKey(key), std::string(value), "NX"};
    AddPx(ttl, &args);
    KOS_ASSIGN_OR_RETURN(Reply r, Run("SET NX", args));
    if (r->type == REDIS_REPLY_NIL) return false;
    if (r->type != REDIS_REPLY_STATUS) return Unexpected("SET NX", r.get());
    return true;
  }

  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view value, absl::Duration ttl) override {
    KOS_RETURN_IF_ERROR(CheckWrite(key, value, ttl));
    KOS_ASSIGN_OR_RETURN(Reply r,
                         Script(cas_sha_, kCasScript, FullKey(key),
                                {expected ? "1" : "0", expected ? std::string(*expected) : "",
                                 std::string(value), TtlMillis(ttl)}));
    if (r->type != REDIS_REPLY_INTEGER) return Unexpected("compare-and-swap", r.get());
    return r->integer == 1;
  }

  absl::StatusOr<bool> Delete(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(CheckKey(key));
    KOS_ASSIGN_OR_RETURN(Reply r, Run("DEL", {"DEL", FullKey(key)}));
    if (r->type != REDIS_REPLY_INTEGER) return Unexpected("DEL", r.get());
    return r->integer > 0;
  }

  absl::StatusOr<int64_t> Increment(absl::string_view key, int64_t delta,
                                    absl::Duration ttl) override {
    KOS_RETURN_IF_ERROR(CheckWrite(key, "", ttl));
    KOS_ASSIGN_OR_RETURN(Reply r, Script(incr_sha_, kIncrementScript, FullKey(key),
                                         {absl::StrCat(delta), TtlMillis(ttl)}));
    int64_t v;
    if (r->type != REDIS_REPLY_STRING || !absl::SimpleAtoi(absl::string_view(r->str, r->len), &v)) {
      return Unexpected("increment", r.get());
    }
    return v;
  }

  absl::StatusOr<absl::Duration> TimeToLive(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(CheckKey(key));
    KOS_ASSIGN_OR_RETURN(Reply r, Run("PTTL", {"PTTL", FullKey(key)}));
    if (r->type != REDIS_REPLY_INTEGER) return Unexpected("PTTL", r.get());
    if (r->integer == -2) return NotFound(key);
    if (r->integer == -1) return absl::InfiniteDuration();
    return absl::Milliseconds(r->integer);
  }

 private:
  // Runs one command on a pooled connection. An error reply becomes a status;
  // a lost connection becomes UNAVAILABLE and is not retried, since a write
  // may already have been applied (the next call reconnects).
  absl::StatusOr<Reply> Run(absl::string_view what, const std::vector<std::string>& args) {
    KOS_ASSIGN_OR_RETURN(redisContext * c, pool_.Acquire());
    Reply r = RedisPool::Command(c, args);
    if (!r) {
      absl::Status s = pool_.IoError(c, what);
      pool_.Release(c, /*broken=*/true);
      return s;
    }
    pool_.Release(c, /*broken=*/false);
    if (r->type == REDIS_REPLY_ERROR) {
      return ErrorReply(absl::string_view(r->str, r->len), what);
    }
    return r;
  }

  // EVALSHA, falling back to EVAL when the server lost its script cache
  // (restart, SCRIPT FLUSH, failover); EVAL caches the script again.
  absl::StatusOr<Reply> Script(const std::string& sha, const char* body, const std::string& key,
                               std::vector<std::string> argv) {
    std::vector<std::string> args = {"EVALSHA", sha, "1", key};
    args.insert(args.end(), argv.begin(), argv.end());
    absl::StatusOr<Reply> r = Run("EVALSHA", args);
    if (r.ok() || !absl::StrContains(r.status().message(), "NOSCRIPT")) return r;
    args[0] = "EVAL";
    args[1] = body;
    return Run("EVAL", args);
  }

  std::string FullKey(absl::string_view key) const {
    return absl::StrCat(pool_.config().key_prefix, key);
  }

  // Redis keeps millisecond TTLs: round up so a positive TTL never becomes
  // "no expiry". Beyond ~35,000 years a TTL means "never" (and would
  // overflow Redis's expiry arithmetic).
  static std::string TtlMillis(absl::Duration ttl) {
    if (ttl <= absl::ZeroDuration() || ttl == absl::InfiniteDuration()) return "0";
    int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(ttl, absl::Milliseconds(1)));
    if (ms > (int64_t{1} << 50)) return "0";
    return absl::StrCat(ms);
  }

  static void AddPx(absl::Duration ttl, std::vector<std::string>* args) {
    std::string ms = TtlMillis(ttl);
    if (ms != "0") {
      args->push_back("PX");
      args->push_back(std::move(ms));
    }
  }

  absl::Status CheckKey(absl::string_view key) const { return ValidateEphemeralKey(key, options_); }
  absl::Status CheckWrite(absl::string_view key, absl::string_view value,
                          absl::Duration ttl) const {
    return ValidateEphemeralWrite(key, value, ttl, options_);
  }
  static absl::Status NotFound(absl::string_view key) { return EphemeralNotFound(key); }

  static absl::Status Unexpected(absl::string_view what, const redisReply* r) {
    return absl::InternalError(absl::StrCat("unexpected Redis reply type ", r->type, " to ", what));
  }

  const EphemeralOptions options_;
  RedisPool pool_;
  std::string cas_sha_;   // set once by Init()
  std::string incr_sha_;  // set once by Init()
};

}  // namespace

absl::StatusOr<std::unique_ptr<Ephemeral>> OpenRedisEphemeral(absl::string_view uri,
                                                              const EphemeralOptions& options) {
  KOS_ASSIGN_OR_RETURN(RedisConfig config, ParseRedisUri(uri));
  auto e = std::make_unique<RedisEphemeral>(options, std::move(config));
  KOS_RETURN_IF_ERROR(e->Init());
  return e;
}

}  // namespace kos::internal
