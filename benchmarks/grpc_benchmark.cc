// An authenticated unary gRPC call (Users.GetProfile: token validation, the
// "api" rate limit, an RBAC check and the user's Store read) from C++
// clients over loopback, beside two baselines measured in the same run:
//   BM_InProcessGetProfile  the same Kernel calls without gRPC;
//   BM_GrpcHealthCheck      a no-op gRPC call (the standard health service),
//                           i.e. the transport alone.
// One channel per client thread, so calls use separate HTTP/2 connections.
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "grpc/server.h"
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

BENCHMARK(BM_InProcessGetProfile)->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_GrpcHealthCheck)->Threads(1)->Threads(4)->Threads(8)->UseRealTime();
BENCHMARK(BM_GrpcGetProfile)->Threads(1)->Threads(4)->Threads(8)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
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
