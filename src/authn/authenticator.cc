#include "kos/authenticator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kos/status.h"

namespace kos {

AuthnHooks IntrusionHooks(IntrusionDetector* detector) {
  AuthnHooks h;
  if (detector == nullptr) return h;
  h.lockout = [detector](absl::string_view account, absl::string_view address) {
    absl::Duration longest = absl::ZeroDuration();
    for (auto [scope, id] : {std::make_pair(LockScope::kAccount, account),
                             std::make_pair(LockScope::kAddress, address)}) {
      if (id.empty()) continue;
      auto d = detector->IsLocked(scope, id);
      // Fail closed: without the detector we cannot rule out a lockout.
      if (!d.ok()) return absl::Minutes(1);
      longest = std::max(longest, *d);
    }
    return longest;
  };
  h.login_failure = [detector](absl::string_view account, absl::string_view address) {
    if (account.empty() && address.empty()) return;
    (void)detector->RecordLoginFailure(account, address.substr(0, 256));
  };
  h.login_success = [detector](absl::string_view account, absl::string_view address) {
    (void)detector->RecordLoginSuccess(account, address.substr(0, 256));
  };
  h.refresh_reuse = [detector](absl::string_view user, absl::string_view family,
                               absl::string_view address) {
    (void)detector->RecordRefreshTokenReuse(user, family, address.substr(0, 256));
  };
  h.signature_failure = [detector](absl::string_view kid, absl::string_view address) {
    (void)detector->RecordSignatureFailure(kid.empty() ? "access_token" : kid,
                                           "access token signature or key id refused",
                                           address.substr(0, 256));
  };
  return h;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Open(
    const AuthenticatorOptions& options) {
  if (options.users == nullptr || options.sessions == nullptr || options.tokens == nullptr) {
    return absl::InvalidArgumentError("Authenticator: users, sessions and tokens are required");
  }
  return std::unique_ptr<Authenticator>(new Authenticator(options));
}

absl::StatusOr<TokenSet> Authenticator::IssueForSession(const User& user, const Session& session,
                                                        std::string refresh_token) {
  AccessTokenClaims c;
  c.subject = user.id;
  c.session_id = session.id;
  c.client_id = session.client_id;
  c.roles = user.roles;
  c.scope = session.scope;
  KOS_ASSIGN_OR_RETURN(std::string at, options_.tokens->Issue(c));
  TokenSet t;
  t.access_token = std::move(at);
  t.expires_in = options_.tokens->options().lifetime;
  t.refresh_token = std::move(refresh_token);
  t.session_id = session.id;
  t.scope = session.scope;
  t.subject = user.id;
  return t;
}

absl::StatusOr<TokenSet> Authenticator::Login(absl::string_view username,
                                              absl::string_view password, absl::string_view address,
                                              const LoginOptions& login) {
  const std::string account = NormalizeUsername(username).substr(0, 256);
  const AuthnHooks& h = options_.hooks;
  if (h.lockout && h.lockout(account, address) > absl::ZeroDuration()) {
    return absl::ResourceExhaustedError("too many failed login attempts; try again later");
  }
  auto user = options_.users->VerifyPassword(username, password);
  if (!user.ok()) {
    if (absl::IsUnauthenticated(user.status()) && h.login_failure)
      h.login_failure(account, address);
    return user.status();
  }
  if (h.login_success) h.login_success(account, address);
  std::string client_id = login.client_id.empty() ? options_.default_client_id : login.client_id;
  KOS_ASSIGN_OR_RETURN(RefreshResult r,
                       options_.sessions->Create(user->id, client_id, address, login.scope));
  return IssueForSession(*user, r.session, std::move(r.refresh_token));
}

absl::Status Authenticator::Logout(absl::string_view access_token) {
  KOS_ASSIGN_OR_RETURN(Principal p, Validate(access_token));
  if (p.is_client()) return absl::FailedPreconditionError("client tokens have no session");
  return options_.sessions->Revoke(p.claims.session_id);
}

absl::Status Authenticator::LogoutSession(absl::string_view session_id) {
  return options_.sessions->Revoke(session_id);
}

absl::StatusOr<TokenSet> Authenticator::Refresh(absl::string_view refresh_token,
                                                absl::string_view address,
                                                absl::string_view client_id) {
  if (!client_id.empty()) {
    // A token bound to another client is refused without being consumed.
    auto peek = options_.sessions->Peek(refresh_token);
    if (peek.ok() && peek->client_id != client_id) {
      return absl::UnauthenticatedError("refresh token was issued to another client");
    }
  }
  RefreshReuse reuse;
  auto r = options_.sessions->Rotate(refresh_token, &reuse);
  if (!r.ok()) {
    if (reuse.detected && options_.hooks.refresh_reuse) {
      options_.hooks.refresh_reuse(reuse.user_id, reuse.family, address);
    }
    return r.status();
  }
  if (!client_id.empty() && r->session.client_id != client_id) {
    return absl::UnauthenticatedError("refresh token was issued to another client");
  }
  auto user = options_.users->Get(r->session.user_id);
  if (!user.ok() || user->disabled) {
    (void)options_.sessions->Revoke(r->session.id);
    return absl::UnauthenticatedError("user no longer active");
  }
  return IssueForSession(*user, r->session, std::move(r->refresh_token));
}

absl::StatusOr<Principal> Authenticator::Validate(absl::string_view access_token,
                                                  absl::string_view address,
                                                  TokenFailure* failure) {
  TokenFailure dummy;
  TokenFailure& why = failure != nullptr ? *failure : dummy;
  auto claims = options_.tokens->Verify(access_token, &why);
  if (!claims.ok()) {
    if ((why == TokenFailure::kSignature || why == TokenFailure::kUnknownKey) &&
        options_.hooks.signature_failure) {
      // The kid is attacker-chosen text: report it only as a bounded string.
      auto parsed = ParseCompactJws(access_token, options_.tokens->options().limits);
      std::string kid;
      if (parsed.ok() && parsed->header.contains("kid") && parsed->header["kid"].is_string()) {
        kid = parsed->header["kid"].get<std::string>().substr(0, 64);
      }
      options_.hooks.signature_failure(kid, address);
    }
    return claims.status();
  }
  Principal p;
  p.claims = std::move(*claims);
  auto revoked = [&](absl::string_view reason) {
    why = TokenFailure::kRevoked;
    return absl::UnauthenticatedError(absl::StrCat("access token: ", reason));
  };
  if (p.claims.session_id.empty()) {
    if (options_.clients == nullptr) return revoked("client tokens not accepted");
    auto client = options_.clients->Get(p.claims.subject);
    if (!client.ok() || client->disabled) return revoked("client no longer active");
    return p;
  }
  auto session = options_.sessions->Get(p.claims.session_id);
  if (!session.ok()) return revoked("session ended");
  if (session->user_id != p.claims.subject) return revoked("session does not match subject");
  auto user = options_.users->Get(p.claims.subject);
  if (!user.ok()) return revoked("user no longer exists");
  if (user->disabled) return revoked("user disabled");
  p.user = std::move(*user);
  return p;
}

absl::StatusOr<TokenSet> Authenticator::IssueClientToken(const OAuthClient& client,
                                                         absl::string_view scope) {
  AccessTokenClaims c;
  c.subject = client.id;
  c.client_id = client.id;
  c.roles = client.roles;
  c.scope = std::string(scope);
  KOS_ASSIGN_OR_RETURN(std::string at, options_.tokens->Issue(c));
  TokenSet t;
  t.access_token = std::move(at);
  t.expires_in = options_.tokens->options().lifetime;
  t.scope = std::string(scope);
  t.subject = client.id;
  return t;
}

}  // namespace kos
