// kos-grpc-server: the reference gRPC server over libkos (proto/kos/v1).
//
//   kos-grpc-server [--host 127.0.0.1] [--port 50051] [--data ./data] [--config ./config]
//                   [--logs ./logs] [--admin-password-file FILE]
//                   [--tls-cert FILE --tls-key FILE] [--development-handlers]
//                   [--trusted-proxy ADDRESS|CIDR]...
//
// --trusted-proxy: a reverse proxy (e.g. nginx's grpc_pass) whose
// x-forwarded-for metadata names the client for rate limits and login
// records; repeatable. From any other peer that metadata is ignored.
// --development-handlers registers the kernel's echo handler for native
// agents without one (KernelOptions::development_handlers), so tasks run
// end to end before an application registers real handlers.
// Prints "kos-grpc-server: listening on HOST:PORT" once bound (with the real
// port for --port 0). SIGTERM/SIGINT: calls in flight get a grace period,
// then the kernel shuts down. Exit codes: 0 clean shutdown, 1 start-up error
// (bad config, cannot bind), 2 bad arguments.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/process_tuning.h"
#include "common/stop_signal.h"
#include "grpc/server.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: kos-grpc-server [--host H] [--port P] [--data DIR] [--config DIR]\n"
               "                       [--logs DIR] [--admin-password-file FILE]\n"
               "                       [--tls-cert FILE --tls-key FILE] [--development-handlers]\n"
               "                       [--trusted-proxy ADDRESS|CIDR]...\n");
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "kos-grpc-server: %s\n", std::string(st.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  kos::server::TuneProcessForServing();
  kos::server::GrpcServerOptions o;
  o.kernel_options.config_dir = "config";
  o.kernel_options.data_dir = "data";
  o.kernel_options.logs_dir = "logs";
  std::string admin_password_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kos-grpc-server: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--host") {
      o.host = next("--host");
    } else if (a == "--port") {
      char* end = nullptr;
      const char* v = next("--port");
      long p = std::strtol(v, &end, 10);
      if (*v == '\0' || *end != '\0' || p < 0 || p > 65535) {
        std::fprintf(stderr, "kos-grpc-server: --port must be 0..65535\n");
        return 2;
      }
      o.port = static_cast<int>(p);
    } else if (a == "--data") {
      o.kernel_options.data_dir = next("--data");
    } else if (a == "--config") {
      o.kernel_options.config_dir = next("--config");
    } else if (a == "--logs") {
      o.kernel_options.logs_dir = next("--logs");
    } else if (a == "--admin-password-file") {
      admin_password_file = next("--admin-password-file");
    } else if (a == "--tls-cert") {
      o.tls_cert_file = next("--tls-cert");
    } else if (a == "--tls-key") {
      o.tls_key_file = next("--tls-key");
    } else if (a == "--development-handlers") {
      o.kernel_options.development_handlers = true;
    } else if (a == "--trusted-proxy") {
      o.trusted_proxies.push_back(next("--trusted-proxy"));
    } else if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else {
      std::fprintf(stderr, "kos-grpc-server: unknown argument '%s'\n", a.c_str());
      Usage();
      return 2;
    }
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    std::fprintf(stderr, "kos-grpc-server: --tls-cert and --tls-key go together\n");
    return 2;
  }

  if (!kos::server::InstallStopSignals()) {
    std::perror("kos-grpc-server: pipe");
    return 1;
  }

  auto server = kos::server::GrpcServer::Create(o);
  if (!server.ok()) return Fail(server.status());
  if (!admin_password_file.empty()) {
    auto created = (*server)->kernel()->EnsureAdmin("admin", admin_password_file);
    if (!created.ok()) return Fail(created.status());
    if (*created) {
      std::fprintf(stdout, "kos-grpc-server: created user admin; password in %s\n",
                   admin_password_file.c_str());
    }
  }
  absl::Status st = (*server)->Start();
  if (!st.ok()) return Fail(st);
  std::thread waiter([&] {
    kos::server::WaitForStop();
    (*server)->Stop();
  });
  std::fprintf(stdout, "kos-grpc-server: listening on %s:%d%s\n", o.host.c_str(), (*server)->port(),
               o.tls_cert_file.empty() ? "" : " (TLS)");
  std::fflush(stdout);
  st = (*server)->Run();
  kos::server::RequestStop();  // wakes the waiter if no signal came
  waiter.join();
  if (!st.ok()) return Fail(st);
  // Destroying the server shuts the kernel down (it owns it).
  server->reset();
  std::fprintf(stdout, "kos-grpc-server: stopped\n");
  return 0;
}
