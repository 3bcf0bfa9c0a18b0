// OAuth 2.0 (RFC 6749) clients and the token endpoint as a library call.
//
// Clients are agents and services. A confidential client has a generated
// secret (32 random bytes, shown once, stored as a SHA-256 hash: a secret
// with 256 bits of entropy needs no slow hash) compared in constant time.
// Grant types: password (§4.3), refresh_token (§6), client_credentials (§4.4).
#ifndef KOS_OAUTH2_H_
#define KOS_OAUTH2_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"
#include "kos/json.h"
#include "kos/store.h"

namespace kos {

class Authenticator;

struct KOS_EXPORT OAuthClient {
  std::string id;            // 1..64 chars of [A-Za-z0-9._:-]
  std::string name;          // human-readable
  bool confidential = true;  // has a secret; public clients may only use password/refresh_token
  std::vector<std::string> grant_types;     // e.g. {"client_credentials"}
  std::vector<std::string> allowed_scopes;  // scopes it may request
  std::vector<std::string> roles;           // roles in its own (client-credentials) tokens
  bool disabled = false;
  absl::Time created = absl::InfinitePast();
};

struct KOS_EXPORT NewOAuthClient {
  std::string id;  // "" = generated
  std::string name;
  bool confidential = true;
  std::vector<std::string> grant_types;
  std::vector<std::string> allowed_scopes;
  std::vector<std::string> roles;
};

struct KOS_EXPORT CreatedOAuthClient {
  OAuthClient client;
  std::string secret;  // shown once; empty for public clients
};

struct KOS_EXPORT OAuthClientRegistryOptions {
  // Not owned; must outlive the registry. Required.
  Store* store = nullptr;
  // Not owned. Default: real clock.
  Clock* clock = Clock::Real();
  // Default "kos_oauth_clients".
  std::string collection = "kos_oauth_clients";
};

// OAuth2 client records. Thread-safe.
class KOS_EXPORT OAuthClientRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<OAuthClientRegistry>> Open(
      const OAuthClientRegistryOptions& options);

  // ALREADY_EXISTS for a taken id; INVALID_ARGUMENT for an unknown grant type
  // or a public client asking for client_credentials.
  absl::StatusOr<CreatedOAuthClient> Create(const NewOAuthClient& client);
  absl::StatusOr<OAuthClient> Get(absl::string_view id);
  // The client if `secret` is its secret (constant-time). UNAUTHENTICATED for
  // an unknown or disabled client or a wrong secret, all alike.
  absl::StatusOr<OAuthClient> Authenticate(absl::string_view id, absl::string_view secret);
  // A new secret (shown once); the old one stops working.
  absl::StatusOr<std::string> RotateSecret(absl::string_view id);
  absl::Status SetDisabled(absl::string_view id, bool disabled);
  absl::Status Delete(absl::string_view id);

 private:
  explicit OAuthClientRegistry(const OAuthClientRegistryOptions& options) : options_(options) {}
  const OAuthClientRegistryOptions options_;
};

struct KOS_EXPORT TokenEndpointOptions {
  // Not owned; both required.
  Authenticator* authenticator = nullptr;
  OAuthClientRegistry* clients = nullptr;
};

// What the HTTP layer sends back: status, JSON body, headers
// (Cache-Control: no-store, Pragma: no-cache, and WWW-Authenticate for 401).
struct KOS_EXPORT TokenEndpointResponse {
  int http_status = 200;
  Json body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool ok() const { return http_status == 200; }
};

// RFC 6749 token endpoint semantics. Thread-safe.
class KOS_EXPORT TokenEndpoint {
 public:
  static absl::StatusOr<std::unique_ptr<TokenEndpoint>> Open(const TokenEndpointOptions& options);

  // `params` are the decoded form parameters (the HTTP layer must refuse
  // repeated parameters, §3.2). `authorization` is the Authorization header
  // value, if any (HTTP Basic client authentication, §2.3.1). Errors come
  // back as {"error": invalid_request | invalid_client | invalid_grant |
  // unauthorized_client | unsupported_grant_type | invalid_scope,
  // "error_description": ...} with status 400 (401 for invalid_client).
  TokenEndpointResponse Handle(const std::map<std::string, std::string>& params,
                               absl::string_view authorization = "",
                               absl::string_view address = "");

 private:
  explicit TokenEndpoint(const TokenEndpointOptions& options) : options_(options) {}
  const TokenEndpointOptions options_;
};

}  // namespace kos

#endif  // KOS_OAUTH2_H_
