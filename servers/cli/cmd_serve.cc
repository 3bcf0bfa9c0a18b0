// kos serve: the HTTP server and, when built, the gRPC server over one
// shared Kernel (the HTTP server owns it; the gRPC server borrows it).
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli.h"
#if KOS_CLI_HAVE_HTTP
#include "common/stop_signal.h"
#include "http/server.h"
#endif
#if KOS_CLI_HAVE_GRPC
#include "grpc/server.h"
#endif

namespace kos::cli {
namespace {

struct ServeArgs {
  std::string host = "127.0.0.1";
  int port = 8080;
  int grpc_port = 50051;
  bool no_grpc = false;
  int threads = 16;
  std::string tls_cert;
  std::string tls_key;
  std::string admin_password_file;
  std::vector<std::string> trusted_proxies;
};

#if KOS_CLI_HAVE_HTTP
int RunServe(Globals& g, const ServeArgs& a) {
  if (!server::InstallStopSignals()) return FailWith(kExitFailed, "serve: cannot create a pipe");

  server::ServerOptions ho;
  ho.host = a.host;
  ho.port = a.port;
  ho.threads = a.threads;
  ho.data_dir = g.data_dir;
  ho.config_dir = g.config_dir;
  ho.logs_dir = g.logs_dir;
  ho.store_uri = g.store_uri;
  ho.tls_cert = a.tls_cert;
  ho.tls_key = a.tls_key;
  ho.trusted_proxies = a.trusted_proxies;
  ho.development_handlers = g.dev_handlers;
  if (g.fast_hash) ho.password_hashing = PasswordHasherOptions::Minimum();
  auto http = server::HttpServer::Create(ho);
  if (!http.ok()) return Fail(http.status(), "serve");
  if (!a.admin_password_file.empty()) {
    auto created = (*http)->kernel()->EnsureAdmin("admin", a.admin_password_file);
    if (!created.ok()) return Fail(created.status(), "serve: --admin-password-file");
    if (*created) {
      std::printf("kos: created user admin; password in %s\n", a.admin_password_file.c_str());
    }
  }
  if (auto s = (*http)->Bind(); !s.ok()) return Fail(s, "serve: http");
  std::printf("kos: listening on %s://%s:%d\n", (*http)->tls() ? "https" : "http", a.host.c_str(),
              (*http)->port());
#if KOS_CLI_HAVE_GRPC
  std::unique_ptr<server::GrpcServer> grpc;
  if (!a.no_grpc) {
    server::GrpcServerOptions go;
    go.host = a.host;
    go.port = a.grpc_port;
    go.kernel = (*http)->kernel();
    go.tls_cert_file = a.tls_cert;
    go.tls_key_file = a.tls_key;
    go.trusted_proxies = a.trusted_proxies;
    auto gs = server::GrpcServer::Create(go);
    if (!gs.ok()) return Fail(gs.status(), "serve: grpc");
    grpc = std::move(*gs);
    if (auto s = grpc->Start(); !s.ok()) return Fail(s, "serve: grpc");
    std::printf("kos: grpc listening on %s:%d\n", a.host.c_str(), grpc->port());
  }
#else
  if (!a.no_grpc) std::printf("kos: built without the gRPC server; serving HTTP only\n");
#endif
  std::fflush(stdout);

  std::thread waiter([&] {
    server::WaitForStop();
#if KOS_CLI_HAVE_GRPC
    // gRPC borrows the HTTP server's kernel: it stops first.
    if (grpc) grpc->Stop();
#endif
    (*http)->Stop();
  });
  absl::Status st = (*http)->Run();
  if (!st.ok()) {
#if KOS_CLI_HAVE_GRPC
    if (grpc) grpc->Stop();
#endif
    server::RequestStop();
    waiter.join();
    return Fail(st, "serve");
  }
  server::RequestStop();  // wakes the waiter if Run() ended without a signal
  waiter.join();
  std::printf("kos: stopped\n");
  return kExitOk;
}
#else
int RunServe(Globals&, const ServeArgs&) {
  return FailWith(kExitFailed, "this kos was built without the HTTP server");
}
#endif

}  // namespace

void AddServeCommand(CLI::App& app, Globals& g) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* c =
      app.add_subcommand("serve",
                         "Run the HTTP server (and the gRPC server when built) over one kernel; "
                         "SIGINT/SIGTERM stop it");
  c->add_option("--host", a->host, "Address to bind");
  c->add_option("--port", a->port, "HTTP port (0: pick a free one)")->check(CLI::Range(0, 65535));
  c->add_option("--grpc-port", a->grpc_port, "gRPC port (0: pick a free one)")
      ->check(CLI::Range(0, 65535));
  c->add_flag("--no-grpc", a->no_grpc, "Serve HTTP only");
  c->add_option("--threads", a->threads, "HTTP worker threads")->check(CLI::Range(1, 1024));
  c->add_option("--tls-cert", a->tls_cert, "PEM certificate chain (with --tls-key: TLS)");
  c->add_option("--tls-key", a->tls_key, "PEM private key");
  c->add_option("--trusted-proxy", a->trusted_proxies,
                "Reverse proxy (address or CIDR) whose X-Forwarded-For (HTTP header, gRPC "
                "metadata) names the client; repeatable");
  c->add_option("--admin-password-file", a->admin_password_file,
                "Create user admin (role admin) if absent; its password is written here (0600)");
  c->callback([&g, a] { g.exit_code = RunServe(g, *a); });
}

}  // namespace kos::cli
