// kos-server: the reference HTTP server over libkos.
//
//   kos-server [--host 127.0.0.1] [--port 8080] [--data ./data] [--config ./config]
//              [--logs ./logs] [--store URI] [--threads N]
//
// Exit codes: 0 clean shutdown, 1 start-up error (bad config, cannot bind), 2 bad arguments.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "http/server.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: kos-server [--host H] [--port P] [--data DIR] [--config DIR] [--logs DIR]\n"
               "                  [--store URI] [--threads N]\n");
}

}  // namespace

int main(int argc, char** argv) {
  kos::server::ServerOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kos-server: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--host")
      o.host = next("--host");
    else if (a == "--port")
      o.port = std::atoi(next("--port"));
    else if (a == "--data")
      o.data_dir = next("--data");
    else if (a == "--config")
      o.config_dir = next("--config");
    else if (a == "--logs")
      o.logs_dir = next("--logs");
    else if (a == "--store")
      o.store_uri = next("--store");
    else if (a == "--threads")
      o.threads = std::atoi(next("--threads"));
    else if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else {
      std::fprintf(stderr, "kos-server: unknown argument '%s'\n", a.c_str());
      Usage();
      return 2;
    }
  }
  if (o.port < 0 || o.port > 65535 || o.threads < 1) {
    std::fprintf(stderr, "kos-server: --port must be 0..65535 and --threads >= 1\n");
    return 2;
  }

  // Signals are taken by one thread with sigwait, so shutdown runs outside a
  // signal handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = kos::server::HttpServer::Create(o);
  if (!server.ok()) {
    std::fprintf(stderr, "kos-server: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    (*server)->Stop();
  });
  std::fprintf(stdout, "kos-server: listening on http://%s:%d (data: %s, config: %s)\n",
               o.host.c_str(), o.port, o.data_dir.c_str(), o.config_dir.c_str());
  std::fflush(stdout);
  absl::Status st = (*server)->Run();
  if (!st.ok()) {
    std::fprintf(stderr, "kos-server: %s\n", std::string(st.message()).c_str());
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return 1;
  }
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::fprintf(stdout, "kos-server: stopped\n");
  return 0;
}
