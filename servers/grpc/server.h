// The reference gRPC server: the kos.v1 services (proto/kos/v1) over one
// kos::Kernel, with the standard health service and server reflection.
#ifndef KOS_SERVERS_GRPC_SERVER_H_
#define KOS_SERVERS_GRPC_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kos/kernel.h"

namespace kos::server {

struct GrpcServerOptions {
  // Address to listen on. Default 127.0.0.1.
  std::string host = "127.0.0.1";
  // Port; 0 picks a free one (see GrpcServer::port()). Default 50051.
  int port = 50051;
  // The stack to serve. Not owned; must outlive the server. Default null:
  // the server opens (and owns, and shuts down) its own from kernel_options.
  // `kos serve` passes the Kernel it shares with the HTTP server.
  Kernel* kernel = nullptr;
  // Used only when `kernel` is null. Default: KernelOptions defaults.
  KernelOptions kernel_options;
  // PEM files for TLS; both empty (default): plaintext. Setting only one is
  // INVALID_ARGUMENT.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Largest message accepted, in bytes (artifact chunks are streamed, so
  // this bounds one chunk, not one artifact). Default 8 MiB.
  int max_message_bytes = 8 << 20;
  // Reverse proxies (addresses or CIDR blocks, e.g. the gateway's nginx)
  // whose `x-forwarded-for` metadata names the client for rate limits and
  // login records; from any other peer it is ignored. A bad entry is
  // INVALID_ARGUMENT from Create. Default: none.
  std::vector<std::string> trusted_proxies;
  // How long Stop() lets calls in flight finish before cancelling them.
  // Default 5 s.
  absl::Duration shutdown_grace = absl::Seconds(5);
};

// Owns the gRPC listener (and the Kernel unless one was given). Start()/Run()
// are called once; Stop() is thread-safe and may be called from a
// signal-handling thread at any time, also before Start().
class GrpcServer {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Create(const GrpcServerOptions& options);
  // Stops the listener; shuts down the Kernel if the server owns it.
  ~GrpcServer();

  // Binds and starts serving without blocking. UNAVAILABLE if the address
  // cannot be bound; INVALID_ARGUMENT for unreadable TLS files.
  absl::Status Start();
  // Start() (unless started) and then blocks until Stop().
  absl::Status Run();
  void Stop();
  // The port actually bound (useful with port 0); 0 before Start().
  int port() const;
  Kernel* kernel() const;

 private:
  struct State;
  explicit GrpcServer(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace kos::server

#endif  // KOS_SERVERS_GRPC_SERVER_H_
