#include "grpc/server.h"

#include <atomic>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpc/call_context.h"
#include "grpc/services.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "kos/status.h"

namespace kos::server {

using grpc_impl::Gate;

struct GrpcServer::State {
  GrpcServerOptions options;
  std::unique_ptr<Kernel> owned_kernel;
  Kernel* kernel = nullptr;
  std::unique_ptr<Gate> gate;
  std::vector<std::unique_ptr<grpc::Service>> services;
  std::atomic<bool> stopping{false};
  std::atomic<int> port{0};
  absl::Mutex mu;
  std::unique_ptr<grpc::Server> server ABSL_GUARDED_BY(mu);
  bool started ABSL_GUARDED_BY(mu) = false;
};

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string HostPort(const std::string& host, int port) {
  if (absl::StrContains(host, ':') && !absl::StartsWith(host, "[")) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace

GrpcServer::GrpcServer(std::unique_ptr<State> state) : s_(std::move(state)) {}

GrpcServer::~GrpcServer() {
  Stop();
  std::unique_ptr<grpc::Server> server;
  {
    absl::MutexLock lock(&s_->mu);
    server = std::move(s_->server);
  }
  if (server) server->Wait();
  server.reset();
  if (s_->owned_kernel) s_->owned_kernel->Shutdown().IgnoreError();
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Create(const GrpcServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " out of range"));
  }
  KOS_ASSIGN_OR_RETURN(TrustedProxies proxies, TrustedProxies::Parse(options.trusted_proxies));
  auto s = std::make_unique<State>();
  s->options = options;
  if (options.kernel != nullptr) {
    s->kernel = options.kernel;
  } else {
    KOS_ASSIGN_OR_RETURN(s->owned_kernel, Kernel::Open(options.kernel_options));
    s->kernel = s->owned_kernel.get();
  }
  s->gate = std::make_unique<Gate>(s->kernel, std::move(proxies));
  const Gate* g = s->gate.get();
  s->services.push_back(grpc_impl::NewAuthService(g));
  s->services.push_back(grpc_impl::NewUsersService(g));
  s->services.push_back(grpc_impl::NewAgentsService(g));
  s->services.push_back(grpc_impl::NewTasksService(g, &s->stopping));
  s->services.push_back(grpc_impl::NewMemoryService(g));
  s->services.push_back(grpc_impl::NewPromptsService(g));
  s->services.push_back(grpc_impl::NewVaultService(g));
  s->services.push_back(grpc_impl::NewArtifactsService(g));
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(s)));
}

absl::Status GrpcServer::Start() {
  absl::MutexLock lock(&s_->mu);
  if (s_->started) return absl::FailedPreconditionError("server already started");
  if (s_->stopping) return absl::CancelledError("server stopped before it started");
  const GrpcServerOptions& o = s_->options;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (o.tls_cert_file.empty()) {
    creds = grpc::InsecureServerCredentials();
  } else {
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    KOS_ASSIGN_OR_RETURN(pair.private_key, ReadFile(o.tls_key_file, "TLS key"));
    KOS_ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(o.tls_cert_file, "TLS certificate"));
    ssl.pem_key_cert_pairs.push_back(std::move(pair));
    creds = grpc::SslServerCredentials(ssl);
  }
  // Both are process-wide switches read by the builder; setting them again
  // is harmless.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(HostPort(o.host, o.port), creds, &selected);
  builder.SetMaxReceiveMessageSize(o.max_message_bytes);
  builder.SetMaxSendMessageSize(o.max_message_bytes);
  for (auto& svc : s_->services) builder.RegisterService(svc.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", HostPort(o.host, o.port), " (in use, or not permitted)"));
  }
  s_->server = std::move(server);
  s_->port = selected;
  s_->started = true;
  return absl::OkStatus();
}

absl::Status GrpcServer::Run() {
  bool started;
  {
    absl::MutexLock lock(&s_->mu);
    started = s_->started;
  }
  if (!started) {
    absl::Status st = Start();
    if (st.code() == absl::StatusCode::kCancelled) return absl::OkStatus();
    KOS_RETURN_IF_ERROR(st);
  }
  grpc::Server* server;
  {
    absl::MutexLock lock(&s_->mu);
    server = s_->server.get();
  }
  // Returns once Stop() has shut the server down; the server object lives
  // until the destructor.
  server->Wait();
  return absl::OkStatus();
}

void GrpcServer::Stop() {
  s_->stopping = true;
  grpc::Server* server;
  {
    absl::MutexLock lock(&s_->mu);
    server = s_->server.get();
  }
  if (server != nullptr) {
    server->Shutdown(std::chrono::system_clock::now() +
                     absl::ToChronoMilliseconds(s_->options.shutdown_grace));
  }
}

int GrpcServer::port() const { return s_->port.load(); }
Kernel* GrpcServer::kernel() const { return s_->kernel; }

}  // namespace kos::server
