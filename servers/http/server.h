// The reference HTTP server: the route table (http/route.h) over one
// kos::Kernel, served by the event-driven engine in http/engine.h (plain or
// TLS).
#ifndef KOS_SERVERS_HTTP_SERVER_H_
#define KOS_SERVERS_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "http/route.h"
#include "kos/crypto.h"
#include "kos/kernel.h"
#include "kos/rate_limiter.h"

namespace kos::server {

struct ServerOptions {
  // Address to bind. Default 127.0.0.1.
  std::string host = "127.0.0.1";
  // Port; 0 picks a free one (see HttpServer::port()). Default 8080.
  int port = 8080;
  // I/O (event-loop) threads; each serves many keep-alive connections and
  // runs ordinary handlers inline, so more threads than cores only adds
  // context switches. Default 2.
  int threads = 2;
  // Threads for handlers marked Route::blocking (password hashing,
  // uploads). Streamed responses get a thread each. Default 4.
  int worker_threads = 4;
  // Kernel directories (kos/kernel.h). Defaults data / config / logs.
  std::string data_dir = "data";
  std::string config_dir = "config";
  std::string logs_dir = "logs";
  // Store URI; "" = sqlite in data_dir. Default "".
  std::string store_uri;
  // Largest request body accepted (413 beyond). Default 8 MiB.
  size_t max_body_bytes = 8 << 20;
  // Largest request line plus headers (431 beyond), 1 KiB..1 MiB. Default 16 KiB.
  size_t max_header_bytes = 16 << 10;
  // Socket read/write timeouts: a client that stalls longer is dropped.
  // Default 10 s each.
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  // PEM certificate chain and private key; both set = HTTPS. Default: plain HTTP.
  std::string tls_cert;
  std::string tls_key;
  // Reverse proxies (addresses or CIDR blocks, e.g. "127.0.0.1",
  // "10.0.0.0/8") whose X-Forwarded-For names the client for rate limits,
  // token checks and the access log. Default none: the socket peer is the client.
  std::vector<std::string> trusted_proxies;
  // How long running tasks get to finish on shutdown. Default 10 s.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Rate-limit classes "global" (per client address), "auth" and "api".
  // Default: kos::DefaultRateLimitClasses(). Empty: no rate limiting.
  std::vector<RateLimitClass> rate_limits = DefaultRateLimitClasses();
  // Passed to the kernel (tests lower the hashing cost and enable the
  // development echo handlers). Defaults as in KernelOptions.
  PasswordHasherOptions password_hashing;
  bool development_handlers = false;
};

// Owns the kernel and the listener. Run() blocks until Stop(); Stop() is
// thread-safe and may be called from a signal-handling thread.
class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(const ServerOptions& options);
  ~HttpServer();

  // Binds and serves until Stop(); then lets in-flight requests finish,
  // shuts the kernel down (running tasks get shutdown_grace) and flushes
  // the logs. Returns the bind error if any.
  absl::Status Run();
  // Binds without serving (so port() is known before Run()).
  absl::Status Bind();
  void Stop();
  // The port actually bound (useful with port 0), valid once bound.
  int port() const;
  bool listening() const;
  bool tls() const;

  Kernel* kernel() const;
  const std::vector<Route>& routes() const;

 private:
  struct State;
  explicit HttpServer(std::unique_ptr<State> state);
  void InstallRoutes();
  std::unique_ptr<State> s_;
};

}  // namespace kos::server

#endif  // KOS_SERVERS_HTTP_SERVER_H_
