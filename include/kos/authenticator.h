// Authenticator: the login / logout / refresh / validate facade over users,
// sessions, refresh tokens and access tokens.
//
// Security signals (failed logins, refresh-token reuse, bad signatures) go
// out through AuthnHooks; a server wires them to kos::IntrusionDetector
// (lockout with backoff, security events). Without hooks nothing is locked.
#ifndef KOS_AUTHENTICATOR_H_
#define KOS_AUTHENTICATOR_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"
#include "kos/intrusion.h"
#include "kos/oauth2.h"
#include "kos/sessions.h"
#include "kos/tokens.h"
#include "kos/users.h"

namespace kos {

// Callbacks for security signals. Each may be empty. Called synchronously on
// the caller's thread; must be thread-safe and must not call back into the
// Authenticator.
struct KOS_EXPORT AuthnHooks {
  // Remaining lockout of the normalized username or the client address
  // (either may be empty); zero or negative means not locked. Consulted
  // before any password is checked.
  std::function<absl::Duration(absl::string_view account, absl::string_view address)> lockout;
  // A login failed (unknown user, wrong password, disabled account).
  std::function<void(absl::string_view account, absl::string_view address)> login_failure;
  // A login succeeded (resets per-account failure counters).
  std::function<void(absl::string_view account, absl::string_view address)> login_success;
  // An already-used refresh token came back; its family (session) was revoked.
  std::function<void(absl::string_view user_id, absl::string_view family,
                     absl::string_view address)>
      refresh_reuse;
  // An access token's signature failed or named an unknown key.
  std::function<void(absl::string_view kid, absl::string_view address)> signature_failure;
};

// Hooks that feed an IntrusionDetector (not owned; must outlive the hooks):
// lockout consults IsLocked for the account and the address; failures,
// successes, refresh-token reuse and signature failures are recorded. If the
// detector cannot answer (its Ephemeral is down), lockout fails closed and
// reports a one-minute lockout.
KOS_EXPORT AuthnHooks IntrusionHooks(IntrusionDetector* detector);

struct KOS_EXPORT AuthenticatorOptions {
  // Not owned; must outlive the Authenticator. Required.
  UserStore* users = nullptr;
  // Not owned. Required.
  SessionManager* sessions = nullptr;
  // Not owned. Required.
  AccessTokenService* tokens = nullptr;
  // OAuth2 clients, to validate client-credentials tokens (tokens without a
  // session). Not owned. Default null: such tokens are refused.
  OAuthClientRegistry* clients = nullptr;
  // Client id recorded for logins that do not come through OAuth2.
  // Default "kos".
  std::string default_client_id = "kos";
  // Security signal sinks. Default: none.
  AuthnHooks hooks;
};

// Tokens handed to a client after login or refresh.
struct KOS_EXPORT TokenSet {
  std::string access_token;
  std::string token_type = "Bearer";
  absl::Duration expires_in = absl::ZeroDuration();
  std::string refresh_token;  // empty for client-credentials grants
  std::string session_id;     // empty for client-credentials grants
  std::string scope;
  std::string subject;  // user id or client id
};

// The result of validating an access token.
struct KOS_EXPORT Principal {
  AccessTokenClaims claims;
  std::optional<User> user;  // set for user tokens
  bool is_client() const { return claims.session_id.empty(); }
};

struct KOS_EXPORT LoginOptions {
  std::string client_id;  // "" = AuthenticatorOptions::default_client_id
  std::string scope;      // space-separated scopes to record in the tokens
};

// Login, logout, refresh and validation. Thread-safe.
class KOS_EXPORT Authenticator {
 public:
  static absl::StatusOr<std::unique_ptr<Authenticator>> Open(const AuthenticatorOptions& options);

  // UNAUTHENTICATED ("invalid credentials") for an unknown user, a wrong
  // password or a disabled account, all alike; RESOURCE_EXHAUSTED while the
  // account or address is locked out (hooks.lockout).
  absl::StatusOr<TokenSet> Login(absl::string_view username, absl::string_view password,
                                 absl::string_view address, const LoginOptions& login = {});
  // Ends the session named by a valid access token.
  absl::Status Logout(absl::string_view access_token);
  absl::Status LogoutSession(absl::string_view session_id);
  // Rotates the refresh token and issues a new access token with the user's
  // current roles. UNAUTHENTICATED for an invalid, reused or expired token,
  // an ended session or a deleted/disabled user. `client_id`, if not empty,
  // must match the session's client.
  absl::StatusOr<TokenSet> Refresh(absl::string_view refresh_token, absl::string_view address,
                                   absl::string_view client_id = "");
  // Signature, claims, and liveness: the session must exist, the user must
  // exist and be enabled (or the client, for client tokens).
  // UNAUTHENTICATED with a short reason; never echoes the token.
  absl::StatusOr<Principal> Validate(absl::string_view access_token, absl::string_view address = "",
                                     TokenFailure* failure = nullptr);

  // An access token for an OAuth2 client itself (client-credentials grant).
  absl::StatusOr<TokenSet> IssueClientToken(const OAuthClient& client, absl::string_view scope);

  const AuthenticatorOptions& options() const { return options_; }

 private:
  explicit Authenticator(const AuthenticatorOptions& options) : options_(options) {}
  absl::StatusOr<TokenSet> IssueForSession(const User& user, const Session& session,
                                           std::string refresh_token);
  const AuthenticatorOptions options_;
};

}  // namespace kos

#endif  // KOS_AUTHENTICATOR_H_
