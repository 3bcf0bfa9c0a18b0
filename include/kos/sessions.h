// Login sessions and refresh tokens, kept in kos::Ephemeral.
//
// A session lives for `session_timeout` (config security.sessionTimeout)
// after its last refresh, and never beyond `max_session_lifetime`. Revoking
// it (logout) deletes it, so access tokens naming it (claim "sid") fail
// validation at once.
//
// Refresh tokens are 32 random bytes, base64url (43 characters), stored only
// as SHA-256 hashes. Each is single use: presenting it returns a new one (the
// same family: the session). Presenting one that was already used revokes the
// whole family (the session and every token in it) and reports reuse.
#ifndef KOS_SESSIONS_H_
#define KOS_SESSIONS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/ephemeral.h"
#include "kos/export.h"

namespace kos {

struct KOS_EXPORT Session {
  std::string id;  // random, 22 base64url characters; the refresh-token family
  std::string user_id;
  std::string client_id;  // OAuth2 client or "kos" for direct logins
  std::string address;    // client address at login
  std::string scope;      // space-separated scopes granted at login
  absl::Time created = absl::InfinitePast();
  absl::Time last_refresh = absl::InfinitePast();
  absl::Time expires = absl::InfinitePast();          // idle expiry
  absl::Time absolute_expiry = absl::InfinitePast();  // hard limit
};

struct KOS_EXPORT SessionOptions {
  // Where sessions and refresh-token hashes live. Not owned; must outlive the
  // manager. Required.
  Ephemeral* ephemeral = nullptr;
  // Source of time. Not owned. Default: real clock. Must be the clock the
  // Ephemeral uses, so both agree on expiry.
  Clock* clock = Clock::Real();
  // Idle timeout: a session ends this long after login or its last refresh
  // (security.sessionTimeout). Default 1 hour.
  absl::Duration session_timeout = absl::Hours(1);
  // No refresh extends a session beyond this after login. Default 7 days.
  absl::Duration max_session_lifetime = absl::Hours(24 * 7);
  // Prefix of every Ephemeral key. Default "kos:authn:".
  std::string key_prefix = "kos:authn:";
};

struct KOS_EXPORT RefreshResult {
  Session session;            // the session, with its new idle expiry
  std::string refresh_token;  // the replacement; show once
};

// Filled by Rotate() when an already-used refresh token came back.
struct KOS_EXPORT RefreshReuse {
  bool detected = false;
  std::string family;   // the revoked session id
  std::string user_id;  // its user
};

// Sessions and refresh-token families. Thread-safe.
class KOS_EXPORT SessionManager {
 public:
  static absl::StatusOr<std::unique_ptr<SessionManager>> Open(const SessionOptions& options);
  ~SessionManager();

  // A new session and the first refresh token of its family.
  absl::StatusOr<RefreshResult> Create(absl::string_view user_id, absl::string_view client_id,
                                       absl::string_view address, absl::string_view scope);
  // NOT_FOUND if the session expired or was revoked.
  absl::StatusOr<Session> Get(absl::string_view session_id);
  // Ends the session (logout). Refresh tokens of its family stop working and
  // access tokens naming it fail validation. OK if already gone.
  absl::Status Revoke(absl::string_view session_id);

  // Exchanges a refresh token for a new one and extends the session.
  // UNAUTHENTICATED for an unknown, expired or reused token, or an ended
  // session. When the token had already been used, the session is revoked
  // and `*reuse` (if given) says so: report it as a security event.
  absl::StatusOr<RefreshResult> Rotate(absl::string_view refresh_token,
                                       RefreshReuse* reuse = nullptr);
  // The session a refresh token belongs to, without using it. UNAUTHENTICATED
  // if unknown or already used.
  absl::StatusOr<Session> Peek(absl::string_view refresh_token);

  const SessionOptions& options() const { return options_; }

 private:
  explicit SessionManager(const SessionOptions& options);
  class Decoded;
  std::string SessionKey(absl::string_view id) const;
  std::string RefreshKey(absl::string_view token) const;
  absl::StatusOr<std::string> NewRefreshToken(const Session& s);

  const SessionOptions options_;
  // Decoded sessions by id, valid while the stored bytes are unchanged.
  std::unique_ptr<Decoded> decoded_;
};

}  // namespace kos

#endif  // KOS_SESSIONS_H_
