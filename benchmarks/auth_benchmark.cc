// RBAC checks and rate-limiter decisions, each beside a naive baseline run in
// the same process:
//   BM_RbacCheck            AccessController::Check over 1,000 rules
//   BM_RbacFnmatchBaseline  the same rules as strings, linear scan with fnmatch(3)
//   BM_RateLimiterGcra      RateLimiter::Decide on the in-process Ephemeral
//   BM_MutexTokenBucket     a mutex-protected std::unordered_map token bucket
#include <fnmatch.h>

#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "kos/clock.h"
#include "kos/ephemeral.h"
#include "kos/rate_limiter.h"
#include "kos/rbac.h"

namespace kos {
namespace {

constexpr int kRules = 1000;
constexpr int kTypes = 10;
constexpr int kRequests = 4096;

struct RbacFixture {
  std::vector<std::string> allow, deny;
  struct Request {
    std::string resource, action, joined;
  };
  std::vector<Request> requests;
  std::unique_ptr<AccessController> ac;
  int allowed = 0;

  RbacFixture() {
    // 900 allow + 100 deny rules over 10 resource types; `*` only inside
    // components so fnmatch(FNM_PATHNAME) agrees with the kos grammar.
    for (int i = 0; i < kRules; ++i) {
      int t = i % kTypes;
      if (i % 10 == 9) {
        deny.push_back(absl::StrCat("type", t, ":ns/u", i - 1, "/secret*:*"));
      } else {
        allow.push_back(absl::StrCat("type", t, ":ns/u", i, "/*:", i % 3 == 0 ? "write" : "read"));
      }
    }
    std::string json = R"({"roles":{"r":{"allow":[)";
    for (size_t i = 0; i < allow.size(); ++i)
      absl::StrAppend(&json, i ? "," : "", "\"", allow[i], "\"");
    json += R"(],"deny":[)";
    for (size_t i = 0; i < deny.size(); ++i)
      absl::StrAppend(&json, i ? "," : "", "\"", deny[i], "\"");
    json += R"(]}},"bindings":{"user:bench":["r"]}})";
    ac = *AccessController::Open();
    if (!ac->LoadJson(json).ok()) std::abort();
    std::mt19937 rng(42);
    for (int i = 0; i < kRequests; ++i) {
      int u = static_cast<int>(rng() % (kRules + 100));  // ~9% unknown users: default deny
      int t = u % kTypes;
      std::string leaf = rng() % 8 == 0 ? "secret-notes" : "doc";
      Request r{absl::StrCat("type", t, ":ns/u", u, "/", leaf), rng() % 2 ? "read" : "write", ""};
      r.joined = absl::StrCat(r.resource, ":", r.action);
      requests.push_back(std::move(r));
    }
    // Both implementations must agree on every request, or the comparison is
    // meaningless.
    for (const Request& r : requests) {
      bool a = ac->Check("user:bench", r.resource, r.action).ok();
      if (a != Naive(r.joined)) std::abort();
      allowed += a;
    }
  }

  bool Naive(const std::string& joined) const {
    for (const std::string& p : deny) {
      if (fnmatch(p.c_str(), joined.c_str(), FNM_PATHNAME) == 0) return false;
    }
    for (const std::string& p : allow) {
      if (fnmatch(p.c_str(), joined.c_str(), FNM_PATHNAME) == 0) return true;
    }
    return false;
  }
};

RbacFixture& Rbac() {
  static RbacFixture* f = new RbacFixture();
  return *f;
}

void BM_RbacCheck(benchmark::State& state) {
  RbacFixture& f = Rbac();
  size_t i = state.thread_index() * 997;
  int64_t allowed = 0;
  for (auto _ : state) {
    const auto& r = f.requests[i++ % kRequests];
    allowed += f.ac->Check("user:bench", r.resource, r.action).ok();
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
  state.counters["allowed_share"] = benchmark::Counter(static_cast<double>(f.allowed) / kRequests,
                                                       benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_RbacCheck)->ThreadRange(1, 2)->UseRealTime();

void BM_RbacFnmatchBaseline(benchmark::State& state) {
  RbacFixture& f = Rbac();
  size_t i = state.thread_index() * 997;
  int64_t allowed = 0;
  for (auto _ : state) {
    allowed += f.Naive(f.requests[i++ % kRequests].joined);
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RbacFnmatchBaseline)->ThreadRange(1, 2)->UseRealTime();

// ---- rate limiter ----

constexpr int kKeys = 1000;

std::vector<std::string>& Keys() {
  static auto* keys = [] {
    auto* k = new std::vector<std::string>();
    for (int i = 0; i < kKeys; ++i) k->push_back(absl::StrCat("user:u", i));
    return k;
  }();
  return *keys;
}

struct GcraFixture {
  std::unique_ptr<Ephemeral> ephemeral = *OpenEphemeral("memory:");
  std::unique_ptr<RateLimiter> limiter;
  GcraFixture() {
    RateLimiterOptions o;
    o.ephemeral = ephemeral.get();
    // High enough that most decisions allow, the path that writes.
    o.classes = {RateLimitClass{"bench", 1'000'000, absl::Seconds(1), 1'000'000}};
    limiter = *RateLimiter::Open(o);
  }
};

void BM_RateLimiterGcra(benchmark::State& state) {
  static GcraFixture* f = new GcraFixture();
  size_t i = state.thread_index() * 131;
  int64_t allowed = 0;
  for (auto _ : state) {
    allowed += f->limiter->Decide("bench", Keys()[i++ % kKeys])->allowed;
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RateLimiterGcra)->ThreadRange(1, 2)->UseRealTime();

// The baseline a service would write by hand: one mutex, one map of buckets,
// floating-point refill. No TTLs, no shared-backend semantics.
class MutexTokenBucket {
 public:
  MutexTokenBucket(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst) {}
  bool Allow(const std::string& key) {
    double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
    std::lock_guard<std::mutex> l(mu_);
    Bucket& b = buckets_[key];
    if (b.last == 0) {
      b.tokens = burst_;
      b.last = now;
    }
    b.tokens = std::min(burst_, b.tokens + (now - b.last) * rate_);
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

 private:
  struct Bucket {
    double tokens = 0;
    double last = 0;
  };
  const double rate_, burst_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

void BM_MutexTokenBucket(benchmark::State& state) {
  static MutexTokenBucket* bucket = new MutexTokenBucket(1'000'000, 1'000'000);
  size_t i = state.thread_index() * 131;
  int64_t allowed = 0;
  for (auto _ : state) {
    // Same key construction as the limiter does, so only the algorithm and
    // storage differ.
    allowed += bucket->Allow(absl::StrCat("kos:rl:bench:", Keys()[i++ % kKeys]));
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MutexTokenBucket)->ThreadRange(1, 2)->UseRealTime();

}  // namespace
}  // namespace kos

BENCHMARK_MAIN();
