#include "kos/sessions.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "authn/decode_cache.h"
#include "kos/crypto.h"
#include "kos/json.h"
#include "kos/status.h"

namespace kos {
namespace {

constexpr size_t kRefreshTokenBytes = 32;
constexpr size_t kRefreshTokenChars = 43;  // base64url of 32 bytes
constexpr size_t kSessionIdChars = 22;     // base64url of 16 bytes

std::string EncodeSession(const Session& s) {
  return DumpJson({{"id", s.id},
                   {"user_id", s.user_id},
                   {"client_id", s.client_id},
                   {"address", s.address},
                   {"scope", s.scope},
                   {"created_ms", absl::ToUnixMillis(s.created)},
                   {"last_refresh_ms", absl::ToUnixMillis(s.last_refresh)},
                   {"expires_ms", absl::ToUnixMillis(s.expires)},
                   {"absolute_expiry_ms", absl::ToUnixMillis(s.absolute_expiry)}});
}

absl::StatusOr<Session> DecodeSession(absl::string_view text) {
  auto j = ParseJson(text);
  if (!j.ok() || !j->is_object()) return absl::DataLossError("session record is not JSON");
  Session s;
  KOS_ASSIGN_OR_RETURN(s.id, GetString(*j, "id", "session"));
  KOS_ASSIGN_OR_RETURN(s.user_id, GetString(*j, "user_id", "session"));
  KOS_ASSIGN_OR_RETURN(s.client_id, GetString(*j, "client_id", "session"));
  KOS_ASSIGN_OR_RETURN(s.address, GetString(*j, "address", "session"));
  KOS_ASSIGN_OR_RETURN(s.scope, GetString(*j, "scope", "session"));
  KOS_ASSIGN_OR_RETURN(int64_t created, GetInt(*j, "created_ms", "session"));
  KOS_ASSIGN_OR_RETURN(int64_t refreshed, GetInt(*j, "last_refresh_ms", "session"));
  KOS_ASSIGN_OR_RETURN(int64_t expires, GetInt(*j, "expires_ms", "session"));
  KOS_ASSIGN_OR_RETURN(int64_t absolute, GetInt(*j, "absolute_expiry_ms", "session"));
  s.created = absl::FromUnixMillis(created);
  s.last_refresh = absl::FromUnixMillis(refreshed);
  s.expires = absl::FromUnixMillis(expires);
  s.absolute_expiry = absl::FromUnixMillis(absolute);
  return s;
}

absl::Status InvalidRefresh() { return absl::UnauthenticatedError("invalid refresh token"); }

}  // namespace

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Open(
    const SessionOptions& options) {
  if (options.ephemeral == nullptr) {
    return absl::InvalidArgumentError("SessionManager: ephemeral is required");
  }
  if (options.clock == nullptr)
    return absl::InvalidArgumentError("SessionManager: clock is required");
  if (options.session_timeout <= absl::ZeroDuration() ||
      options.max_session_lifetime < options.session_timeout) {
    return absl::InvalidArgumentError(
        "SessionManager: session_timeout must be positive and <= max_session_lifetime");
  }
  KOS_RETURN_IF_ERROR(CryptoInit());
  return std::unique_ptr<SessionManager>(new SessionManager(options));
}

std::string SessionManager::SessionKey(absl::string_view id) const {
  return absl::StrCat(options_.key_prefix, "session:", id);
}

std::string SessionManager::RefreshKey(absl::string_view token) const {
  return absl::StrCat(options_.key_prefix, "rt:", Base64UrlEncode(Sha256(token)));
}

absl::StatusOr<std::string> SessionManager::NewRefreshToken(const Session& s) {
  absl::Duration ttl = s.absolute_expiry - options_.clock->Now();
  if (ttl <= absl::ZeroDuration()) return absl::UnauthenticatedError("session ended");
  std::string token = Base64UrlEncode(RandomBytes(kRefreshTokenBytes));
  std::string value = DumpJson({{"sid", s.id}, {"uid", s.user_id}, {"used", false}});
  // The used marker must outlive every token of the family so a late replay
  // is still recognised: keep the record until the session's hard limit.
  KOS_ASSIGN_OR_RETURN(bool fresh, options_.ephemeral->SetIfAbsent(RefreshKey(token), value, ttl));
  if (!fresh) return absl::InternalError("refresh token collision");
  return token;
}

absl::StatusOr<RefreshResult> SessionManager::Create(absl::string_view user_id,
                                                     absl::string_view client_id,
                                                     absl::string_view address,
                                                     absl::string_view scope) {
  if (user_id.empty()) return absl::InvalidArgumentError("session: user_id is required");
  absl::Time now = options_.clock->Now();
  Session s;
  s.id = Base64UrlEncode(RandomBytes(16));
  s.user_id = std::string(user_id);
  s.client_id = std::string(client_id);
  s.address = std::string(address.substr(0, 256));
  s.scope = std::string(scope);
  s.created = s.last_refresh = now;
  s.absolute_expiry = now + options_.max_session_lifetime;
  s.expires = std::min(now + options_.session_timeout, s.absolute_expiry);
  KOS_ASSIGN_OR_RETURN(bool fresh, options_.ephemeral->SetIfAbsent(
                                       SessionKey(s.id), EncodeSession(s), s.expires - now));
  if (!fresh) return absl::InternalError("session id collision");
  RefreshResult out;
  KOS_ASSIGN_OR_RETURN(out.refresh_token, NewRefreshToken(s));
  out.session = std::move(s);
  return out;
}

// Every authenticated request reads its session; see UserStore::Decoded.
class SessionManager::Decoded : public internal::DecodeCache<Session> {
 public:
  Decoded() : DecodeCache(8192) {}
};

SessionManager::SessionManager(const SessionOptions& options)
    : options_(options), decoded_(std::make_unique<Decoded>()) {}

SessionManager::~SessionManager() = default;

absl::StatusOr<Session> SessionManager::Get(absl::string_view session_id) {
  if (session_id.size() != kSessionIdChars) return absl::NotFoundError("no such session");
  auto v = options_.ephemeral->Get(SessionKey(session_id));
  if (absl::IsNotFound(v.status())) return absl::NotFoundError("no such session");
  KOS_RETURN_IF_ERROR(v.status());
  if (auto hit = decoded_->Find(session_id, *v)) return *std::move(hit);
  KOS_ASSIGN_OR_RETURN(Session s, DecodeSession(*v));
  decoded_->Put(session_id, *v, s);
  return s;
}

absl::Status SessionManager::Revoke(absl::string_view session_id) {
  if (session_id.size() != kSessionIdChars) return absl::OkStatus();
  decoded_->Erase(session_id);
  return options_.ephemeral->Delete(SessionKey(session_id)).status();
}

absl::StatusOr<Session> SessionManager::Peek(absl::string_view refresh_token) {
  if (refresh_token.size() != kRefreshTokenChars) return InvalidRefresh();
  auto v = options_.ephemeral->Get(RefreshKey(refresh_token));
  if (!v.ok()) return InvalidRefresh();
  auto j = ParseJson(*v);
  if (!j.ok() || !j->is_object() || j->value("used", true)) return InvalidRefresh();
  auto s = Get(j->value("sid", ""));
  if (!s.ok()) return InvalidRefresh();
  return s;
}

absl::StatusOr<RefreshResult> SessionManager::Rotate(absl::string_view refresh_token,
                                                     RefreshReuse* reuse_out) {
  if (reuse_out != nullptr) *reuse_out = RefreshReuse();
  if (refresh_token.size() != kRefreshTokenChars) return InvalidRefresh();
  auto raw = Base64UrlDecode(refresh_token);
  if (!raw.ok() || raw->size() != kRefreshTokenBytes) return InvalidRefresh();
  const std::string key = RefreshKey(refresh_token);
  auto value = options_.ephemeral->Get(key);
  if (absl::IsNotFound(value.status())) return InvalidRefresh();
  KOS_RETURN_IF_ERROR(value.status());
  auto j = ParseJson(*value);
  if (!j.ok() || !j->is_object()) return absl::DataLossError("refresh token record is not JSON");
  const std::string sid = j->value("sid", "");

  auto reuse = [&]() -> absl::Status {
    // RFC 6819 §5.2.2.3 / OAuth 2.0 Security BCP: a replayed refresh token
    // means one copy was stolen; we cannot tell which holder is honest, so
    // the whole family ends.
    KOS_RETURN_IF_ERROR(Revoke(sid));
    if (reuse_out != nullptr) {
      reuse_out->detected = true;
      reuse_out->family = sid;
      reuse_out->user_id = j->value("uid", "");
    }
    return absl::UnauthenticatedError("refresh token reuse detected; session revoked");
  };
  if (j->value("used", true)) return reuse();

  Json used = *j;
  used["used"] = true;
  KOS_ASSIGN_OR_RETURN(absl::Duration ttl, options_.ephemeral->TimeToLive(key));
  if (ttl == absl::InfiniteDuration()) ttl = absl::ZeroDuration();
  KOS_ASSIGN_OR_RETURN(bool swapped,
                       options_.ephemeral->CompareAndSwap(key, *value, DumpJson(used), ttl));
  // Lost the race: another request used the same token at the same moment.
  if (!swapped) return reuse();

  // Slide the session's idle expiry; CAS so a concurrent logout wins.
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto current = options_.ephemeral->Get(SessionKey(sid));
    if (!current.ok()) return absl::UnauthenticatedError("session ended");
    KOS_ASSIGN_OR_RETURN(Session s, DecodeSession(*current));
    absl::Time now = options_.clock->Now();
    s.last_refresh = now;
    s.expires = std::min(now + options_.session_timeout, s.absolute_expiry);
    if (s.expires <= now) return absl::UnauthenticatedError("session ended");
    KOS_ASSIGN_OR_RETURN(
        bool ok, options_.ephemeral->CompareAndSwap(SessionKey(sid), *current, EncodeSession(s),
                                                    s.expires - now));
    if (!ok) continue;
    RefreshResult out;
    KOS_ASSIGN_OR_RETURN(out.refresh_token, NewRefreshToken(s));
    out.session = std::move(s);
    return out;
  }
  return absl::UnavailableError("session changed concurrently; retry");
}

}  // namespace kos
