#include "grpc/call_context.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "kos/status.h"

namespace kos::server::grpc_impl {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

std::string AddressOfPeer(absl::string_view peer) {
  absl::string_view addr = peer;
  if (absl::ConsumePrefix(&addr, "ipv4:")) {
    addr = addr.substr(0, addr.rfind(':'));
  } else if (absl::ConsumePrefix(&addr, "ipv6:")) {
    addr = addr.substr(0, addr.rfind(':'));
    // gRPC >= 1.48 URI-encodes the brackets (grpc/grpc#30852).
    if (!absl::ConsumePrefix(&addr, "[")) absl::ConsumePrefix(&addr, "%5B");
    if (!absl::ConsumeSuffix(&addr, "]")) absl::ConsumeSuffix(&addr, "%5D");
  } else {
    addr = "";
  }
  if (addr.empty() || addr.size() > 200) addr = "unknown";
  return std::string(addr);
}

std::string PeerAddress(const grpc::ServerContextBase& context) {
  return AddressOfPeer(context.peer());
}

std::string Gate::ClientAddress(const grpc::ServerContextBase& context) const {
  std::string peer = PeerAddress(context);
  if (proxies_.empty()) return peer;
  // Metadata may repeat a key; the values in order are one comma list, as
  // repeated X-Forwarded-For headers are in HTTP.
  std::string forwarded;
  auto [begin, end] = context.client_metadata().equal_range("x-forwarded-for");
  for (auto it = begin; it != end; ++it) {
    if (!forwarded.empty()) forwarded.append(", ");
    forwarded.append(it->second.data(), it->second.size());
  }
  return proxies_.ClientAddress(peer, forwarded);
}

std::string AddressKey(absl::string_view address) { return absl::StrCat("addr:", address); }

absl::StatusOr<std::string> BearerToken(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return absl::UnauthenticatedError("missing authorization metadata (Bearer token)");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata is not a Bearer token");
  }
  absl::string_view token = absl::StripAsciiWhitespace(value.substr(7));
  if (token.empty()) return absl::UnauthenticatedError("empty Bearer token");
  return std::string(token);
}

absl::Status Gate::RateLimit(absl::string_view rate_class, absl::string_view key) const {
  KOS_ASSIGN_OR_RETURN(RateLimitDecision d, kernel_->rate_limiter()->Decide(rate_class, key));
  if (d.allowed) return absl::OkStatus();
  int64_t secs = absl::ToInt64Seconds(absl::Ceil(d.retry_after, absl::Seconds(1)));
  return absl::ResourceExhaustedError(
      absl::StrCat("rate limit exceeded (", rate_class, "); retry after ", secs, " s"));
}

absl::StatusOr<Caller> Gate::Authenticate(grpc::ServerContextBase* context) const {
  absl::StatusOr<std::string> token = BearerToken(*context);
  const std::string client = ClientAddress(*context);
  absl::StatusOr<Principal> principal = token.ok() ? kernel_->auth()->Validate(*token, client)
                                                   : absl::StatusOr<Principal>(token.status());
  if (!principal.ok()) {
    // Bad credentials still count against the address, so guessing costs.
    KOS_RETURN_IF_ERROR(RateLimit("api", AddressKey(client)));
    return principal.status();
  }
  Caller c;
  if (principal->user.has_value()) {
    c.subject = absl::StrCat("user:", principal->user->id);
    c.roles = principal->user->roles;
  } else {
    c.subject = absl::StrCat("service:", principal->claims.subject);
    c.roles = principal->claims.roles;
  }
  c.user = std::move(principal->user);
  c.access_token = std::move(*token);
  KOS_RETURN_IF_ERROR(RateLimit("api", c.subject));
  return c;
}

absl::Status Gate::Check(const Caller& caller, absl::string_view resource,
                         absl::string_view action) const {
  return kernel_->access()->CheckWithRoles(caller.subject, caller.roles, resource, action);
}

absl::StatusOr<Caller> Gate::Authorize(grpc::ServerContextBase* context, absl::string_view resource,
                                       absl::string_view action) const {
  KOS_ASSIGN_OR_RETURN(Caller c, Authenticate(context));
  KOS_RETURN_IF_ERROR(Check(c, resource, action));
  return c;
}

}  // namespace kos::server::grpc_impl
