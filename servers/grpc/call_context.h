// What every kos.v1 method does before touching the Kernel: take the bearer
// token from the `authorization` metadata, validate it, apply the "api" rate
// limit, check RBAC; and the absl -> gRPC status mapping.
#ifndef KOS_SERVERS_GRPC_CALL_CONTEXT_H_
#define KOS_SERVERS_GRPC_CALL_CONTEXT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/client_address.h"
#include "grpcpp/grpcpp.h"
#include "kos/kernel.h"

namespace kos::server::grpc_impl {

// The authenticated caller of one RPC.
struct Caller {
  std::string subject;  // "user:<user id>" or "service:<OAuth2 client id>"
  std::vector<std::string> roles;
  std::optional<User> user;  // set for user tokens (read during validation)
  std::string access_token;
};

// absl::StatusCode and grpc::StatusCode share their numbers; the message is
// kept as is (library messages never carry secrets).
grpc::Status ToGrpc(const absl::Status& status);

// The IP address in a gRPC peer string: "ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000" or "ipv6:%5B::1%5D:5000" (gRPC 1.51) -> the address;
// anything else ("unix:/path") -> "unknown".
std::string AddressOfPeer(absl::string_view peer);
// The socket peer's IP address. Rate limits and login records use
// Gate::ClientAddress, which sees through trusted proxies.
std::string PeerAddress(const grpc::ServerContextBase& context);
// "addr:<address>", the rate-limit key of a client address.
std::string AddressKey(absl::string_view address);

// The token of `authorization: Bearer <token>`; UNAUTHENTICATED if absent.
absl::StatusOr<std::string> BearerToken(const grpc::ServerContextBase& context);

// The checks shared by every service. Thread-safe (the Kernel is).
class Gate {
 public:
  explicit Gate(Kernel* kernel, TrustedProxies proxies = {})
      : kernel_(kernel), proxies_(std::move(proxies)) {}
  Kernel* kernel() const { return kernel_; }

  // The client's address: the peer, or, when the peer is a trusted proxy,
  // the right-most untrusted hop of its `x-forwarded-for` metadata (the
  // header a gRPC proxy such as nginx's grpc_pass forwards).
  std::string ClientAddress(const grpc::ServerContextBase& context) const;

  // Validates the bearer token, then counts the call against the "api" rate
  // class of the caller (or of the peer address when the token is bad).
  absl::StatusOr<Caller> Authenticate(grpc::ServerContextBase* context) const;
  // Authenticate, then RBAC `action` on `resource`.
  absl::StatusOr<Caller> Authorize(grpc::ServerContextBase* context, absl::string_view resource,
                                   absl::string_view action) const;
  absl::Status Check(const Caller& caller, absl::string_view resource,
                     absl::string_view action) const;
  // RESOURCE_EXHAUSTED ("rate limit exceeded ...") when `key` is over `rate_class`.
  absl::Status RateLimit(absl::string_view rate_class, absl::string_view key) const;

 private:
  Kernel* kernel_;
  TrustedProxies proxies_;
};

// Runs `body` (returning absl::Status) and converts its status.
template <typename F>
grpc::Status Serve(F&& body) {
  return ToGrpc(body());
}

// The callback-API form of Serve for methods that never block for long:
// `body` runs on the gRPC thread that received the call, which saves the
// sync server's hand-off to a worker thread (two context switches a call).
template <typename F>
grpc::ServerUnaryReactor* Respond(grpc::CallbackServerContext* context, F&& body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(body()));
  return reactor;
}

}  // namespace kos::server::grpc_impl

#endif  // KOS_SERVERS_GRPC_CALL_CONTEXT_H_
