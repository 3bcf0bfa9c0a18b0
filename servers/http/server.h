// The reference HTTP server: cpp-httplib routes over one kos stack.
#ifndef KOS_SERVERS_HTTP_SERVER_H_
#define KOS_SERVERS_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kos/config.h"
#include "kos/logger.h"
#include "kos/metrics.h"
#include "kos/store.h"

namespace kos::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  // Worker threads serving connections (cpp-httplib's pool).
  int threads = 16;
  // Where the store lives unless store_uri is set: <data_dir>/kos.db.
  std::string data_dir = "data";
  std::string store_uri;
  // config/ directory (system.json etc.). Missing files mean defaults.
  std::string config_dir = "config";
  // logs/ directory; JSONL streams go to <logs_dir>/system/.
  std::string logs_dir = "logs";
  // Largest request body accepted (413 beyond).
  size_t max_body_bytes = 8 << 20;
};

// Owns the stack and the listener. Run() blocks until Stop(); Stop() is
// thread-safe and may be called from a signal-handling thread.
class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(const ServerOptions& options);
  ~HttpServer();

  // Binds and serves until Stop(). Returns the bind error if any.
  absl::Status Run();
  void Stop();
  // The port actually bound (useful with port 0), valid once listening.
  int port() const;
  bool listening() const;

 private:
  struct State;
  explicit HttpServer(std::unique_ptr<State> state);
  void InstallRoutes();
  std::unique_ptr<State> s_;
};

}  // namespace kos::server

#endif  // KOS_SERVERS_HTTP_SERVER_H_
