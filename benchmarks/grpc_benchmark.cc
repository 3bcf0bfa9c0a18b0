// An authenticated unary gRPC call (Users.GetProfile: token validation, the
// "api" rate limit, an RBAC check and the user's Store read) from C++
// clients over loopback, beside two baselines measured in the same run:
//   BM_InProcessGetProfile  the same Kernel calls without gRPC;
//   BM_GrpcHealthCheck      a no-op gRPC call (the standard health service),
//                           i.e. the transport alone.
// One channel per client thread, so calls use separate HTTP/2 connections.
//
// The *Pipelined variants are how a busy service client talks to a server:
// one thread, C channels, and W calls in flight on each (gRPC's callback
// client API); each benchmark iteration is a batch of kBatch calls. The
// blocking one-call-at-a-time rows measure latency more than throughput.
#include <stdlib.h>
#include <time.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "grpc/server.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "kos/v1/auth.grpc.pb.h"
#include "kos/v1/users.grpc.pb.h"
#include "testing/test_util.h"

namespace {

namespace fs = std::filesystem;
namespace pb = ::kos::v1;

struct Env {
  kos::testing::TempDir dir;
  std::unique_ptr<kos::Kernel> kernel;
  std::unique_ptr<kos::server::GrpcServer> server;
  std::string address;
  std::string token;
};
Env* env = nullptr;

std::shared_ptr<grpc::Channel> NewChannel(int thread) {
  grpc::ChannelArguments args;
  // Distinct args keep channels from sharing one connection.
  args.SetInt("kos.bench.thread", thread);
  return grpc::CreateCustomChannel(env->address, grpc::InsecureChannelCredentials(), args);
}

bool Setup() {
  env = new Env;
  fs::copy(kos::testing::SourcePath("deploy/config"), env->dir.File("config"),
           fs::copy_options::recursive);
  kos::KernelOptions ko;
  ko.config_dir = env->dir.File("config");
  ko.data_dir = env->dir.File("data");
  ko.logs_dir = env->dir.File("logs");
  ko.env = {};
  // Argon2id at libsodium's minimum cost (PasswordHasherOptions::Minimum()
  // is not exported from libkos.so).
  ko.password_hashing.ops_limit = 1;
  ko.password_hashing.mem_limit = 8192;
  // The limiter still runs on every call; its limits are set out of reach.
  ko.rate_limits = {{"api", 1'000'000'000, absl::Minutes(1), 1'000'000'000},
                    {"auth", 1'000'000, absl::Minutes(1), 1'000'000}};
  auto k = kos::Kernel::Open(ko);
  if (!k.ok()) {
    fprintf(stderr, "kernel: %s\n", k.status().ToString().c_str());
    return false;
  }
  env->kernel = std::move(*k);
  std::string pw_file = env->dir.File("admin.pw");
  if (!env->kernel->EnsureAdmin("admin", pw_file).ok()) return false;
  std::string pw = kos::testing::ReadFileOrDie(pw_file);
  while (!pw.empty() && pw.back() == '\n') pw.pop_back();
  kos::server::GrpcServerOptions so;
  so.port = 0;
  so.kernel = env->kernel.get();
  auto s = kos::server::GrpcServer::Create(so);
  if (!s.ok() || !(*s)->Start().ok()) return false;
  env->server = std::move(*s);
  env->address = absl::StrCat("127.0.0.1:", env->server->port());
  auto login = env->kernel->auth()->Login("admin", pw, "127.0.0.1");
  if (!login.ok()) return false;
  env->token = login->access_token;
  return true;
}

void BM_InProcessGetProfile(benchmark::State& state) {
  kos::Kernel* k = env->kernel.get();
  for (auto _ : state) {
    auto p = k->auth()->Validate(env->token, "127.0.0.1");
    if (!p.ok() || !p->user.has_value()) {
      state.SkipWithError("validate failed");
      break;
    }
    std::string subject = absl::StrCat("user:", p->user->id);
    auto d = k->rate_limiter()->Decide("api", subject);
    if (!d.ok() || !d->allowed) {
      state.SkipWithError("rate limited");
      break;
    }
    if (!k->access()
             ->CheckWithRoles(subject, p->user->roles, absl::StrCat("users:", p->user->id), "read")
             .ok()) {
      state.SkipWithError("denied");
      break;
    }
    benchmark::DoNotOptimize(p->user->username);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_GrpcGetProfile(benchmark::State& state) {
  auto stub = pb::Users::NewStub(NewChannel(state.thread_index()));
  auto call = [&]() {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", env->token));
    pb::Profile p;
    return stub->GetProfile(&ctx, pb::GetProfileRequest(), &p);
  };
  if (!call().ok()) state.SkipWithError("warm-up call failed");
  for (auto _ : state) {
    grpc::Status st = call();
    if (!st.ok()) {
      state.SkipWithError(st.error_message().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_GrpcHealthCheck(benchmark::State& state) {
  auto channel = NewChannel(state.thread_index());
  const grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                         grpc::internal::RpcMethod::NORMAL_RPC);
  auto call = [&]() {
    grpc::ClientContext ctx;
    grpc::Slice empty("");
    grpc::ByteBuffer req(&empty, 1), resp;
    return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel.get(), method, &ctx, req, &resp);
  };
  if (!call().ok()) state.SkipWithError("warm-up call failed");
  for (auto _ : state) {
    grpc::Status st = call();
    if (!st.ok()) {
      state.SkipWithError(st.error_message().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// Keeps `window` calls in flight until `total` have completed. `start`
// begins one call and must invoke its argument exactly once when it ends.
// Shared with its calls' callbacks, so the last callback (which still holds
// mu_ while Wait() returns) never touches a destroyed Pump.
class Pump : public std::enable_shared_from_this<Pump> {
 public:
  using Start = std::function<void(std::function<void(bool ok)>)>;
  Pump(Start start, int total) : start_(std::move(start)), to_issue_(total) {}
  void Begin(int window) {
    for (int i = 0; i < window; ++i) Next();
  }
  // Returns the number of failed calls.
  int Wait() {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(
        +[](Pump* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->in_flight_ == 0; }, this));
    return failed_;
  }

 private:
  void Next() {
    if (to_issue_.fetch_sub(1) <= 0) return;
    {
      absl::MutexLock l(&mu_);
      ++in_flight_;
    }
    start_([self = shared_from_this()](bool ok) {
      self->Next();
      absl::MutexLock l(&self->mu_);
      if (!ok) ++self->failed_;
      --self->in_flight_;
    });
  }

  Start start_;
  std::atomic<int> to_issue_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
};

constexpr int kBatch = 2000;

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Spreads kBatch calls over `channels` channels, `window` in flight on each.
void RunPipelined(benchmark::State& state, const std::function<Pump::Start(int)>& make_start) {
  const int channels = static_cast<int>(state.range(0));
  const int window = static_cast<int>(state.range(1));
  std::vector<Pump::Start> starts;
  for (int c = 0; c < channels; ++c) starts.push_back(make_start(c));
  // The client and the server share this process, so its CPU time per call
  // is what one call costs the machine, whatever else is running on it.
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    std::vector<std::shared_ptr<Pump>> pumps;
    for (int c = 0; c < channels; ++c) {
      pumps.push_back(std::make_shared<Pump>(starts[c], kBatch / channels));
      pumps.back()->Begin(window);
    }
    int failed = 0;
    for (auto& p : pumps) failed += p->Wait();
    if (failed > 0) {
      state.SkipWithError("calls failed");
      break;
    }
  }
  const double calls = static_cast<double>(state.iterations() * (kBatch / channels) * channels);
  state.SetItemsProcessed(static_cast<int64_t>(calls));
  state.counters["in_flight"] = channels * window;
  if (calls > 0)
    state.counters["process_cpu_us_per_call"] = (ProcessCpuSeconds() - cpu_start) * 1e6 / calls;
}

void BM_GrpcGetProfilePipelined(benchmark::State& state) {
  const std::string bearer = absl::StrCat("Bearer ", env->token);
  RunPipelined(state, [&](int c) -> Pump::Start {
    auto stub = std::shared_ptr<pb::Users::Stub>(pb::Users::NewStub(NewChannel(100 + c)));
    return [stub, bearer](std::function<void(bool)> done) {
      struct Call {
        grpc::ClientContext ctx;
        pb::GetProfileRequest req;
        pb::Profile resp;
      };
      auto* call = new Call;
      call->ctx.AddMetadata("authorization", bearer);
      stub->async()->GetProfile(&call->ctx, &call->req, &call->resp, [call, done](grpc::Status st) {
        bool ok = st.ok() && !call->resp.id().empty();
        delete call;
        done(ok);
      });
    };
  });
}

void BM_GrpcHealthCheckPipelined(benchmark::State& state) {
  RunPipelined(state, [&](int c) -> Pump::Start {
    auto stub = std::make_shared<grpc::GenericStub>(NewChannel(200 + c));
    return [stub](std::function<void(bool)> done) {
      struct Call {
        grpc::ClientContext ctx;
        grpc::ByteBuffer req, resp;
      };
      auto* call = new Call;
      grpc::Slice empty("");
      call->req = grpc::ByteBuffer(&empty, 1);
      stub->UnaryCall(&call->ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &call->req,
                      &call->resp, [call, done](grpc::Status st) {
                        delete call;
                        done(st.ok());
                      });
    };
  });
}

BENCHMARK(BM_InProcessGetProfile)->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_GrpcHealthCheck)->Threads(1)->Threads(4)->Threads(8)->UseRealTime();
BENCHMARK(BM_GrpcGetProfile)->Threads(1)->Threads(4)->Threads(8)->UseRealTime();
BENCHMARK(BM_GrpcHealthCheckPipelined)
    ->ArgNames({"channels", "window"})
    ->Args({1, 32})
    ->Args({2, 32})
    ->UseRealTime();
BENCHMARK(BM_GrpcGetProfilePipelined)
    ->ArgNames({"channels", "window"})
    ->Args({1, 32})
    ->Args({2, 32})
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // As in the server binaries (servers/common/process.h): Debian's Abseil is
  // built without NDEBUG, which leaves Mutex deadlock detection on.
  if (getenv("KOS_BENCH_DEADLOCK_DETECTION") == nullptr) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!Setup()) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  env->server.reset();
  env->kernel->Shutdown().IgnoreError();
  delete env;
  return 0;
}
