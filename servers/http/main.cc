// kos-server: the reference HTTP server over libkos.
//
//   kos-server [--host 127.0.0.1] [--port 8080] [--data ./data] [--config ./config]
//              [--logs ./logs] [--store URI] [--threads N] [--worker-threads N]
//              [--admin-password-file FILE] [--tls-cert PEM --tls-key PEM]
//              [--rate-limit CLASS=LIMIT/PERIOD[,BURST]]... [--no-rate-limits]
//              [--trusted-proxy ADDRESS|CIDR]...
//              [--shutdown-grace SECONDS] [--max-body-bytes N] [--max-header-bytes N]
//              [--dev-handlers]
//
// SIGTERM/SIGINT: stop accepting, finish in-flight requests, give running
// tasks --shutdown-grace, flush the logs, exit 0.
// Exit codes: 0 clean shutdown, 1 start-up error (bad config, cannot bind), 2 bad arguments.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/process_tuning.h"
#include "common/stop_signal.h"
#include "http/server.h"

namespace {

void Usage() {
  std::fprintf(
      stderr,
      "usage: kos-server [--host H] [--port P (0 = any free port)] [--data DIR] [--config DIR]\n"
      "                  [--logs DIR] [--store URI] [--threads N] [--worker-threads N]\n"
      "                  [--admin-password-file FILE] [--tls-cert PEM --tls-key PEM]\n"
      "                  [--rate-limit CLASS=LIMIT/PERIOD[,BURST]]... [--no-rate-limits]\n"
      "                  [--trusted-proxy ADDRESS|CIDR]...\n"
      "                  [--shutdown-grace SECONDS] [--max-body-bytes N] [--max-header-bytes N]\n"
      "                  [--dev-handlers]\n"
      "rate-limit classes: global (per client address), auth, api; e.g. api=6000/1m\n"
      "--trusted-proxy: a reverse proxy (e.g. the gateway's nginx) whose X-Forwarded-For\n"
      "  names the client address; repeat for several (127.0.0.1, 10.0.0.0/8, ::1)\n");
}

// CLASS=LIMIT/PERIOD[,BURST], e.g. "api=100/1m" or "global=1000/1h,200".
bool ParseRateLimit(const std::string& text, std::vector<kos::RateLimitClass>* classes) {
  std::vector<std::string> kv = absl::StrSplit(text, absl::MaxSplits('=', 1));
  if (kv.size() != 2) return false;
  std::vector<std::string> rest = absl::StrSplit(kv[1], absl::MaxSplits(',', 1));
  std::vector<std::string> lp = absl::StrSplit(rest[0], absl::MaxSplits('/', 1));
  kos::RateLimitClass c;
  c.name = kv[0];
  if (lp.size() != 2 || !absl::SimpleAtoi(lp[0], &c.limit) || c.limit < 1 ||
      !absl::ParseDuration(lp[1], &c.period) || c.period <= absl::ZeroDuration())
    return false;
  if (rest.size() == 2 && (!absl::SimpleAtoi(rest[1], &c.burst) || c.burst < 1)) return false;
  for (auto& existing : *classes) {
    if (existing.name == c.name) {
      existing = c;
      return true;
    }
  }
  classes->push_back(c);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  kos::server::TuneProcessForServing();
  kos::server::ServerOptions o;
  std::string admin_password_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kos-server: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](const char* name) -> int64_t {
      int64_t v = 0;
      const char* text = next(name);
      if (!absl::SimpleAtoi(text, &v)) {
        std::fprintf(stderr, "kos-server: %s needs a number, got '%s'\n", name, text);
        std::exit(2);
      }
      return v;
    };
    if (a == "--host") {
      o.host = next("--host");
    } else if (a == "--port") {
      o.port = static_cast<int>(number("--port"));
    } else if (a == "--data") {
      o.data_dir = next("--data");
    } else if (a == "--config") {
      o.config_dir = next("--config");
    } else if (a == "--logs") {
      o.logs_dir = next("--logs");
    } else if (a == "--store") {
      o.store_uri = next("--store");
    } else if (a == "--threads") {
      o.threads = static_cast<int>(number("--threads"));
    } else if (a == "--admin-password-file") {
      admin_password_file = next("--admin-password-file");
    } else if (a == "--tls-cert") {
      o.tls_cert = next("--tls-cert");
    } else if (a == "--tls-key") {
      o.tls_key = next("--tls-key");
    } else if (a == "--rate-limit") {
      std::string spec = next("--rate-limit");
      if (!ParseRateLimit(spec, &o.rate_limits)) {
        std::fprintf(stderr, "kos-server: bad --rate-limit '%s' (CLASS=LIMIT/PERIOD[,BURST])\n",
                     spec.c_str());
        return 2;
      }
    } else if (a == "--trusted-proxy") {
      o.trusted_proxies.push_back(next("--trusted-proxy"));
    } else if (a == "--no-rate-limits") {
      o.rate_limits.clear();
    } else if (a == "--shutdown-grace") {
      o.shutdown_grace = absl::Seconds(number("--shutdown-grace"));
    } else if (a == "--worker-threads") {
      o.worker_threads = static_cast<int>(number("--worker-threads"));
    } else if (a == "--max-header-bytes") {
      o.max_header_bytes = static_cast<size_t>(number("--max-header-bytes"));
    } else if (a == "--max-body-bytes") {
      o.max_body_bytes = static_cast<size_t>(number("--max-body-bytes"));
    } else if (a == "--dev-handlers") {
      o.development_handlers = true;
    } else if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else {
      std::fprintf(stderr, "kos-server: unknown argument '%s'\n", a.c_str());
      Usage();
      return 2;
    }
  }
  if (o.port < 0 || o.port > 65535 || o.threads < 1 || o.threads > 1024) {
    std::fprintf(stderr, "kos-server: --port must be 0..65535 and --threads 1..1024\n");
    return 2;
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    std::fprintf(stderr, "kos-server: --tls-cert and --tls-key go together\n");
    return 2;
  }

  if (!kos::server::InstallStopSignals()) {
    std::perror("kos-server: pipe");
    return 1;
  }

  auto server = kos::server::HttpServer::Create(o);
  if (!server.ok()) {
    std::fprintf(stderr, "kos-server: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  bool created_admin = false;
  if (!admin_password_file.empty()) {
    auto created = (*server)->kernel()->EnsureAdmin("admin", admin_password_file);
    if (!created.ok()) {
      std::fprintf(stderr, "kos-server: admin user: %s\n",
                   std::string(created.status().message()).c_str());
      return 1;
    }
    created_admin = *created;
  }
  absl::Status bound = (*server)->Bind();
  if (!bound.ok()) {
    std::fprintf(stderr, "kos-server: %s\n", std::string(bound.message()).c_str());
    return 1;
  }
  std::thread waiter([&] {
    kos::server::WaitForStop();
    (*server)->Stop();
  });
  const char* scheme = (*server)->tls() ? "https" : "http";
  std::string base = std::string(scheme) + "://" + o.host + ":" + std::to_string((*server)->port());
  std::fprintf(stdout, "kos-server: listening on %s\n", base.c_str());
  std::fprintf(stdout,
               "kos-server: data %s, config %s, logs %s, %zu routes, API spec %s/openapi.json\n",
               o.data_dir.c_str(), o.config_dir.c_str(), o.logs_dir.c_str(),
               (*server)->routes().size(), base.c_str());
  if (!admin_password_file.empty()) {
    std::fprintf(stdout, "kos-server: %s user 'admin'; password in %s\n",
                 created_admin ? "created" : "existing", admin_password_file.c_str());
    std::fprintf(stdout,
                 "kos-server: log in with:\n"
                 "  curl -s%s -X POST %s/api/v1/auth/login -H 'Content-Type: application/json' "
                 "-d \"{\\\"username\\\":\\\"admin\\\",\\\"password\\\":\\\"$(cat %s)\\\"}\"\n",
                 (*server)->tls() ? "k" : "", base.c_str(), admin_password_file.c_str());
  }
  std::fflush(stdout);
  absl::Status st = (*server)->Run();
  kos::server::RequestStop();  // wakes the waiter if Run() ended without a signal
  waiter.join();
  if (!st.ok()) {
    std::fprintf(stderr, "kos-server: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  std::fprintf(stdout, "kos-server: stopped\n");
  std::fflush(stdout);
  return 0;
}
