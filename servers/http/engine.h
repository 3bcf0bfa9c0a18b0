// An event-driven HTTP/1.1 engine (Boost.Asio + Boost.Beast's request
// parser) in front of the route table: a few I/O threads, each with its own
// io_context, serve many keep-alive connections; ordinary handlers run
// inline on the I/O thread (no thread hand-off per request), handlers that
// may block run on a small worker pool, and streamed responses (httplib
// content providers: SSE, artifact downloads) on a thread of their own.
// Requests and responses are cpp-httplib's structs, so the handlers stay as
// they were under cpp-httplib's server.
#ifndef KOS_SERVERS_HTTP_ENGINE_H_
#define KOS_SERVERS_HTTP_ENGINE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "httplib.h"

namespace kos::server {

struct Route;

// One request and its response, plus what the server's logger needs. Owned
// by the engine from the parsed request until the response has been sent.
struct Exchange {
  httplib::Request req;
  httplib::Response res;
  std::chrono::steady_clock::time_point start;
  const Route* route = nullptr;  // set by the handler; nullptr: unmatched
  std::string subject;           // the authenticated caller, for the log
  std::string peer;              // the socket's address when req.remote_addr was taken from a proxy
  bool keep_alive = true;
  bool head = false;  // HEAD: headers only
};

struct EngineOptions {
  // Address and port to bind; port 0 picks a free one. Defaults 127.0.0.1:0.
  std::string host = "127.0.0.1";
  int port = 0;
  // Event-loop threads. Default 2.
  int io_threads = 2;
  // Threads for handlers that may block (password hashing, uploads).
  // Default 4.
  int worker_threads = 4;
  // Largest request body (413 beyond). Default 8 MiB.
  size_t max_body_bytes = 8 << 20;
  // Largest request line plus headers (431 beyond). Default 16 KiB.
  size_t max_header_bytes = 16 << 10;
  // A request must arrive whole within read_timeout of its first byte, and
  // a response must drain within write_timeout; otherwise the connection is
  // dropped (slow clients, slowloris). Defaults 10 s each.
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  // An idle keep-alive connection is closed after this. It must stay above
  // the gateway's upstream keepalive_timeout (deploy/nginx.conf: 4 s).
  // Default 5 s.
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  // PEM certificate chain and key: both set = TLS. Default plain.
  std::string tls_cert;
  std::string tls_key;
};

struct EngineHooks {
  // Serves `x` (fills x.res). Returns false, having done nothing, when the
  // request must not run on an I/O thread; it is then called again on a
  // worker thread with `offloaded` true. Must not throw.
  std::function<bool(Exchange& x, bool offloaded)> handle;
  // Called once per served request, after its response was handed to the
  // socket (for a stream: when it starts).
  std::function<void(const Exchange& x)> log;
  // Fills the body of an error the engine answers by itself (malformed
  // request 400, body too large 413, headers too large 431).
  std::function<void(int status, const std::string& message, httplib::Response& res)> error;
};

// Run() blocks until Stop(); Stop() is thread-safe and may be called from
// any thread, also before Run().
class HttpEngine {
 public:
  // Fails if the TLS certificate or key cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpEngine>> Create(const EngineOptions& options,
                                                            EngineHooks hooks);
  ~HttpEngine();

  // Binds and listens (so port() is known before Run()).
  absl::Status Bind();
  // Serves until Stop(): then stops accepting, closes idle connections,
  // finishes in-flight requests and streams, and returns.
  absl::Status Run();
  void Stop();
  int port() const;
  bool running() const;
  bool tls() const;

  struct Impl;

 private:
  explicit HttpEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kos::server

#endif  // KOS_SERVERS_HTTP_ENGINE_H_
