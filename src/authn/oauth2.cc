#include "kos/oauth2.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kos/authenticator.h"
#include "kos/crypto.h"
#include "kos/id.h"
#include "kos/status.h"

namespace kos {
namespace {

const char* const kGrantTypes[] = {"password", "refresh_token", "client_credentials"};

bool KnownGrant(absl::string_view g) {
  for (const char* k : kGrantTypes) {
    if (g == k) return true;
  }
  return false;
}

bool Contains(const std::vector<std::string>& v, absl::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

absl::Status CheckClientId(absl::string_view id) {
  if (id.empty() || id.size() > 64)
    return absl::InvalidArgumentError("client id: 1..64 characters");
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != ':') {
      return absl::InvalidArgumentError("client id: only letters, digits and . _ - : allowed");
    }
  }
  return absl::OkStatus();
}

// RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
bool ValidScopeToken(absl::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  for (unsigned char c : t) {
    if (c < 0x21 || c > 0x7e || c == 0x22 || c == 0x5c) return false;
  }
  return true;
}

std::string HashSecret(absl::string_view secret) { return Base64UrlEncode(Sha256(secret)); }

std::string Encode(const OAuthClient& c, const std::string& secret_hash) {
  return DumpJson({{"id", c.id},
                   {"name", c.name},
                   {"confidential", c.confidential},
                   {"grant_types", c.grant_types},
                   {"allowed_scopes", c.allowed_scopes},
                   {"roles", c.roles},
                   {"disabled", c.disabled},
                   {"created_ms", absl::ToUnixMillis(c.created)},
                   {"secret_sha256", secret_hash}});
}

std::vector<std::string> Strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const Json& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

absl::Status Decode(absl::string_view text, OAuthClient* c, std::string* secret_hash) {
  auto j = ParseJson(text);
  if (!j.ok() || !j->is_object()) return absl::DataLossError("client record is not JSON");
  KOS_ASSIGN_OR_RETURN(c->id, GetString(*j, "id", "client"));
  KOS_ASSIGN_OR_RETURN(c->name, GetString(*j, "name", "client"));
  KOS_ASSIGN_OR_RETURN(c->confidential, GetBool(*j, "confidential", "client"));
  KOS_ASSIGN_OR_RETURN(c->disabled, GetBool(*j, "disabled", "client"));
  KOS_ASSIGN_OR_RETURN(*secret_hash, GetString(*j, "secret_sha256", "client"));
  KOS_ASSIGN_OR_RETURN(int64_t created, GetInt(*j, "created_ms", "client"));
  c->created = absl::FromUnixMillis(created);
  c->grant_types = Strings(*j, "grant_types");
  c->allowed_scopes = Strings(*j, "allowed_scopes");
  c->roles = Strings(*j, "roles");
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------
// OAuthClientRegistry
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OAuthClientRegistry>> OAuthClientRegistry::Open(
    const OAuthClientRegistryOptions& options) {
  if (options.store == nullptr)
    return absl::InvalidArgumentError("OAuthClientRegistry: store is required");
  if (options.clock == nullptr)
    return absl::InvalidArgumentError("OAuthClientRegistry: clock is required");
  KOS_RETURN_IF_ERROR(ValidateCollectionName(options.collection));
  KOS_RETURN_IF_ERROR(CryptoInit());
  return std::unique_ptr<OAuthClientRegistry>(new OAuthClientRegistry(options));
}

absl::StatusOr<CreatedOAuthClient> OAuthClientRegistry::Create(const NewOAuthClient& in) {
  CreatedOAuthClient out;
  OAuthClient& c = out.client;
  c.id = in.id.empty() ? absl::StrCat("client-", absl::AsciiStrToLower(NewId())) : in.id;
  KOS_RETURN_IF_ERROR(CheckClientId(c.id));
  c.name = in.name;
  c.confidential = in.confidential;
  c.grant_types = in.grant_types;
  c.allowed_scopes = in.allowed_scopes;
  c.roles = in.roles;
  c.created = options_.clock->Now();
  for (const std::string& g : c.grant_types) {
    if (!KnownGrant(g))
      return absl::InvalidArgumentError(absl::StrCat("unknown grant type '", g.substr(0, 64), "'"));
  }
  if (!c.confidential && Contains(c.grant_types, "client_credentials")) {
    return absl::InvalidArgumentError("a public client cannot use client_credentials");
  }
  for (const std::string& s : c.allowed_scopes) {
    if (!ValidScopeToken(s))
      return absl::InvalidArgumentError("allowed_scopes: invalid scope token");
  }
  std::string hash;
  if (c.confidential) {
    out.secret = Base64UrlEncode(RandomBytes(32));
    hash = HashSecret(out.secret);
  }
  auto res = options_.store->Put(options_.collection, c.id, Encode(c, hash), 0);
  if (absl::IsFailedPrecondition(res.status())) {
    return absl::AlreadyExistsError("client id is already taken");
  }
  KOS_RETURN_IF_ERROR(res.status());
  return out;
}

absl::StatusOr<OAuthClient> OAuthClientRegistry::Get(absl::string_view id) {
  if (!CheckClientId(id).ok()) return absl::NotFoundError("no such client");
  auto rec = options_.store->Get(options_.collection, id);
  if (absl::IsNotFound(rec.status())) return absl::NotFoundError("no such client");
  KOS_RETURN_IF_ERROR(rec.status());
  OAuthClient c;
  std::string hash;
  KOS_RETURN_IF_ERROR(Decode(rec->value, &c, &hash));
  return c;
}

absl::StatusOr<OAuthClient> OAuthClientRegistry::Authenticate(absl::string_view id,
                                                              absl::string_view secret) {
  const absl::Status invalid = absl::UnauthenticatedError("client authentication failed");
  // Hash first so unknown and known ids cost the same.
  std::string presented = HashSecret(secret);
  if (!CheckClientId(id).ok()) return invalid;
  auto rec = options_.store->Get(options_.collection, id);
  if (!rec.ok()) return absl::IsNotFound(rec.status()) ? invalid : rec.status();
  OAuthClient c;
  std::string hash;
  KOS_RETURN_IF_ERROR(Decode(rec->value, &c, &hash));
  if (!c.confidential || hash.empty() || !ConstantTimeEquals(presented, hash) || c.disabled) {
    return invalid;
  }
  return c;
}

absl::StatusOr<std::string> OAuthClientRegistry::RotateSecret(absl::string_view id) {
  if (!CheckClientId(id).ok()) return absl::NotFoundError("no such client");
  KOS_ASSIGN_OR_RETURN(Record rec, options_.store->Get(options_.collection, id));
  OAuthClient c;
  std::string hash;
  KOS_RETURN_IF_ERROR(Decode(rec.value, &c, &hash));
  if (!c.confidential) return absl::FailedPreconditionError("public clients have no secret");
  std::string secret = Base64UrlEncode(RandomBytes(32));
  KOS_RETURN_IF_ERROR(
      options_.store->Put(options_.collection, id, Encode(c, HashSecret(secret)), rec.version)
          .status());
  return secret;
}

absl::Status OAuthClientRegistry::SetDisabled(absl::string_view id, bool disabled) {
  if (!CheckClientId(id).ok()) return absl::NotFoundError("no such client");
  KOS_ASSIGN_OR_RETURN(Record rec, options_.store->Get(options_.collection, id));
  OAuthClient c;
  std::string hash;
  KOS_RETURN_IF_ERROR(Decode(rec.value, &c, &hash));
  c.disabled = disabled;
  return options_.store->Put(options_.collection, id, Encode(c, hash), rec.version).status();
}

absl::Status OAuthClientRegistry::Delete(absl::string_view id) {
  if (!CheckClientId(id).ok()) return absl::NotFoundError("no such client");
  KOS_RETURN_IF_ERROR(options_.store->Get(options_.collection, id).status());
  return options_.store->Delete(options_.collection, id);
}

// ---------------------------------------------------------------------------
// TokenEndpoint
// ---------------------------------------------------------------------------

namespace {

TokenEndpointResponse Error(absl::string_view code, absl::string_view description,
                            bool basic_auth_used = false) {
  TokenEndpointResponse r;
  r.http_status = code == "invalid_client" ? 401 : 400;
  r.body = {{"error", std::string(code)}, {"error_description", std::string(description)}};
  r.headers = {{"Cache-Control", "no-store"}, {"Pragma", "no-cache"}};
  if (r.http_status == 401) {
    r.headers.emplace_back("WWW-Authenticate",
                           basic_auth_used ? "Basic realm=\"kos\"" : "Bearer realm=\"kos\"");
  }
  return r;
}

TokenEndpointResponse Success(const TokenSet& t) {
  TokenEndpointResponse r;
  r.http_status = 200;
  r.body = {{"access_token", t.access_token},
            {"token_type", t.token_type},
            {"expires_in", absl::ToInt64Seconds(t.expires_in)}};
  if (!t.refresh_token.empty()) r.body["refresh_token"] = t.refresh_token;
  if (!t.scope.empty()) r.body["scope"] = t.scope;
  r.headers = {{"Cache-Control", "no-store"}, {"Pragma", "no-cache"}};
  return r;
}

// application/x-www-form-urlencoded decoding of one Basic credential part
// (RFC 6749 §2.3.1). False on a bad escape.
bool FormDecode(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size() || !absl::ascii_isxdigit(in[i + 1]) ||
          !absl::ascii_isxdigit(in[i + 2])) {
        return false;
      }
      auto hex = [](char h) {
        return absl::ascii_isdigit(h) ? h - '0' : absl::ascii_tolower(h) - 'a' + 10;
      };
      out->push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string Param(const std::map<std::string, std::string>& p, const char* key) {
  auto it = p.find(key);
  return it == p.end() ? std::string() : it->second;
}

// Parses and checks a requested scope against what is allowed. "" → all.
bool ResolveScope(absl::string_view requested, const std::vector<std::string>& allowed,
                  std::string* granted) {
  if (requested.empty()) {
    *granted = absl::StrJoin(allowed, " ");
    return true;
  }
  std::vector<std::string> out;
  for (absl::string_view t : absl::StrSplit(requested, ' ')) {
    if (!ValidScopeToken(t) || !Contains(allowed, t)) return false;
    if (!Contains(out, t)) out.emplace_back(t);
  }
  *granted = absl::StrJoin(out, " ");
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenEndpoint>> TokenEndpoint::Open(
    const TokenEndpointOptions& options) {
  if (options.authenticator == nullptr || options.clients == nullptr) {
    return absl::InvalidArgumentError("TokenEndpoint: authenticator and clients are required");
  }
  return std::unique_ptr<TokenEndpoint>(new TokenEndpoint(options));
}

TokenEndpointResponse TokenEndpoint::Handle(const std::map<std::string, std::string>& params,
                                            absl::string_view authorization,
                                            absl::string_view address) {
  for (const auto& [k, v] : params) {
    if (k.size() > 64 || v.size() > 4096) return Error("invalid_request", "parameter too long");
  }
  // --- client authentication (§2.3) ---
  std::string client_id = Param(params, "client_id");
  std::string client_secret = Param(params, "client_secret");
  bool basic = !authorization.empty();
  if (basic) {
    if (params.count("client_secret") != 0) {
      return Error("invalid_request", "more than one client authentication method");
    }
    if (!absl::StartsWithIgnoreCase(authorization, "Basic ")) {
      return Error("invalid_client", "unsupported authorization scheme", true);
    }
    // Basic uses standard base64 with padding; convert to the url alphabet
    // and strip padding for the strict decoder.
    std::string b64(absl::StripAsciiWhitespace(authorization.substr(6)));
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    for (char& c : b64) {
      if (c == '+')
        c = '-';
      else if (c == '/')
        c = '_';
    }
    absl::StatusOr<std::string> decoded = Base64UrlDecode(b64);
    size_t colon = decoded.ok() ? decoded->find(':') : std::string::npos;
    std::string id, secret;
    if (colon == std::string::npos || !FormDecode(decoded->substr(0, colon), &id) ||
        !FormDecode(decoded->substr(colon + 1), &secret)) {
      return Error("invalid_client", "malformed Basic credentials", true);
    }
    if (!client_id.empty() && client_id != id) {
      return Error("invalid_request", "client_id does not match the authenticated client");
    }
    client_id = std::move(id);
    client_secret = std::move(secret);
  }
  const std::string grant_type = Param(params, "grant_type");
  if (grant_type.empty()) return Error("invalid_request", "missing grant_type");
  if (client_id.empty()) return Error("invalid_client", "client authentication required", basic);

  OAuthClient client;
  bool has_secret = basic || params.count("client_secret") != 0;
  if (has_secret) {
    auto c = options_.clients->Authenticate(client_id, client_secret);
    if (!c.ok()) return Error("invalid_client", "client authentication failed", basic);
    client = std::move(*c);
  } else {
    // Public clients identify themselves without a secret; a confidential
    // client must authenticate.
    auto c = options_.clients->Get(client_id);
    if (!c.ok() || c->confidential || c->disabled) {
      return Error("invalid_client", "client authentication failed", basic);
    }
    client = std::move(*c);
  }

  if (!KnownGrant(grant_type)) {
    return Error("unsupported_grant_type", "grant_type is not supported");
  }
  if (!Contains(client.grant_types, grant_type)) {
    return Error("unauthorized_client", "client may not use this grant type");
  }

  Authenticator* auth = options_.authenticator;
  const std::string scope = Param(params, "scope");
  if (grant_type == "password") {
    const std::string username = Param(params, "username");
    const std::string password = Param(params, "password");
    if (username.empty() || params.count("password") == 0) {
      return Error("invalid_request", "username and password are required");
    }
    std::string granted;
    if (!ResolveScope(scope, client.allowed_scopes, &granted)) {
      return Error("invalid_scope", "requested scope is not allowed for this client");
    }
    LoginOptions lo;
    lo.client_id = client.id;
    lo.scope = granted;
    auto t = auth->Login(username, password, address, lo);
    if (absl::IsResourceExhausted(t.status())) {
      return Error("invalid_grant", "too many failed attempts; try again later");
    }
    if (!t.ok()) {
      return Error("invalid_grant", absl::IsUnauthenticated(t.status())
                                        ? "invalid resource owner credentials"
                                        : "login failed");
    }
    return Success(*t);
  }
  if (grant_type == "refresh_token") {
    const std::string rt = Param(params, "refresh_token");
    if (rt.empty()) return Error("invalid_request", "missing refresh_token");
    if (!scope.empty()) {
      // §6: the scope may only narrow; we do not narrow, so it must equal or
      // be contained in the original grant.
      auto session = auth->options().sessions->Peek(rt);
      if (!session.ok()) return Error("invalid_grant", "invalid refresh token");
      std::vector<std::string> original = absl::StrSplit(session->scope, ' ', absl::SkipEmpty());
      std::string ignored;
      if (!ResolveScope(scope, original, &ignored)) {
        return Error("invalid_scope", "scope exceeds the original grant");
      }
    }
    auto t = auth->Refresh(rt, address, client.id);
    if (!t.ok()) return Error("invalid_grant", "invalid, expired or reused refresh token");
    return Success(*t);
  }
  // client_credentials
  if (!client.confidential)
    return Error("unauthorized_client", "public clients cannot use this grant");
  std::string granted;
  if (!ResolveScope(scope, client.allowed_scopes, &granted)) {
    return Error("invalid_scope", "requested scope is not allowed for this client");
  }
  auto t = auth->IssueClientToken(client, granted);
  if (!t.ok()) return Error("invalid_request", "could not issue a token");
  return Success(*t);
}

}  // namespace kos
