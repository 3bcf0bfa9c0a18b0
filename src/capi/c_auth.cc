// C API: kos_auth_options_*, kos_authenticator_*/kos_auth_* (kos/authenticator.h)
// and kos_access_controller_* (kos/rbac.h).
#include "capi/c_internal.h"

using kos::capi::CopyOut;
using kos::capi::Guard;
using kos::capi::JsonArg;
using kos::capi::Report;
using kos::capi::Require;
using kos::capi::SetError;
using kos::capi::Str;
using kos::capi::TimeJson;

struct kos_auth_options_t {
  std::string issuer = "kos";
  std::string audience = "kos-api";
  int64_t token_lifetime_seconds = 900;
  int64_t session_timeout_seconds = 3600;
  std::string ephemeral_uri = "memory:";
  std::shared_ptr<const kos::SecretBytes> kek;
  kos_vault_t* vault = nullptr;
  bool fast_hashing = false;
};

// Declared in reverse order of destruction: each part outlives its users.
struct kos_authenticator_t {
  std::unique_ptr<kos::Ephemeral> ephemeral;
  std::unique_ptr<kos::UserStore> users;
  std::unique_ptr<kos::SigningKeyring> keyring;
  std::unique_ptr<kos::AccessTokenService> tokens;
  std::unique_ptr<kos::SessionManager> sessions;
  std::unique_ptr<kos::Authenticator> rep;
};

namespace {

kos::Json TokensJson(const kos::TokenSet& t) {
  return {{"access_token", t.access_token},
          {"token_type", t.token_type},
          {"expires_in", absl::ToInt64Seconds(t.expires_in)},
          {"refresh_token", t.refresh_token},
          {"session_id", t.session_id},
          {"scope", t.scope},
          {"subject", t.subject}};
}

kos::Json PrincipalJson(const kos::Principal& p) {
  kos::Json j = {{"subject", p.claims.subject},     {"session_id", p.claims.session_id},
                 {"client_id", p.claims.client_id}, {"roles", p.claims.roles},
                 {"scope", p.claims.scope},         {"expires", TimeJson(p.claims.expires)},
                 {"is_client", p.is_client()}};
  if (p.user.has_value()) {
    j["user"] = {{"id", p.user->id},
                 {"username", p.user->username},
                 {"email", p.user->email},
                 {"display_name", p.user->display_name},
                 {"roles", p.user->roles}};
  }
  return j;
}

const char* EffectName(kos::AccessDecision::Effect e) {
  switch (e) {
    case kos::AccessDecision::Effect::kAllow:
      return "allow";
    case kos::AccessDecision::Effect::kDeny:
      return "deny";
    case kos::AccessDecision::Effect::kDefaultDeny:
      break;
  }
  return "default_deny";
}

}  // namespace

extern "C" {

kos_auth_options_t* kos_auth_options_create(void) {
  return Guard(__func__, nullptr, static_cast<kos_auth_options_t*>(nullptr),
               [] { return new kos_auth_options_t(); });
}

void kos_auth_options_destroy(kos_auth_options_t* options) { delete options; }

void kos_auth_options_set_issuer(kos_auth_options_t* options, const char* issuer) {
  Guard(__func__, nullptr, 0, [&] {
    if (options != nullptr) options->issuer = std::string(Str(issuer));
    return 0;
  });
}

void kos_auth_options_set_audience(kos_auth_options_t* options, const char* audience) {
  Guard(__func__, nullptr, 0, [&] {
    if (options != nullptr) options->audience = std::string(Str(audience));
    return 0;
  });
}

void kos_auth_options_set_token_lifetime(kos_auth_options_t* options, int64_t seconds) {
  if (options != nullptr) options->token_lifetime_seconds = seconds;
}

void kos_auth_options_set_session_timeout(kos_auth_options_t* options, int64_t seconds) {
  if (options != nullptr) options->session_timeout_seconds = seconds;
}

void kos_auth_options_set_ephemeral_uri(kos_auth_options_t* options, const char* uri) {
  Guard(__func__, nullptr, 0, [&] {
    if (options != nullptr) options->ephemeral_uri = std::string(Str(uri));
    return 0;
  });
}

kos_code_t kos_auth_options_set_key_encryption_key(kos_auth_options_t* options,
                                                   const unsigned char* key, size_t key_len,
                                                   char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(options, "options", errptr)) return KOS_INVALID_ARGUMENT;
    if (key == nullptr || key_len != kos::kAeadKeyBytes) {
      return Report(errptr, absl::InvalidArgumentError("key-encryption key must be 32 bytes"));
    }
    options->kek = std::make_shared<const kos::SecretBytes>(
        kos::SecretBytes::CopyFrom(absl::string_view(reinterpret_cast<const char*>(key), key_len)));
    return KOS_OK;
  });
}

void kos_auth_options_set_vault(kos_auth_options_t* options, kos_vault_t* vault) {
  if (options != nullptr) options->vault = vault;
}

void kos_auth_options_set_fast_password_hashing(kos_auth_options_t* options, int enabled) {
  if (options != nullptr) options->fast_hashing = enabled != 0;
}

kos_authenticator_t* kos_authenticator_open(kos_store_t* store, const kos_auth_options_t* options,
                                            char** errptr) {
  return Guard(
      __func__, errptr, static_cast<kos_authenticator_t*>(nullptr), [&]() -> kos_authenticator_t* {
        if (!Require(store, "store", errptr)) return nullptr;
        kos_auth_options_t defaults;
        const kos_auth_options_t& o = options != nullptr ? *options : defaults;
        if (o.kek == nullptr && o.vault == nullptr) {
          SetError(errptr, absl::InvalidArgumentError(
                               "a key-encryption key or a vault is required to protect the "
                               "token signing keys"));
          return nullptr;
        }
        if (o.token_lifetime_seconds <= 0 || o.session_timeout_seconds <= 0) {
          SetError(errptr, absl::InvalidArgumentError(
                               "token lifetime and session timeout must be positive"));
          return nullptr;
        }
        auto a = std::make_unique<kos_authenticator_t>();
        auto eph = kos::OpenEphemeral(o.ephemeral_uri);
        if (!eph.ok()) return SetError(errptr, eph.status()), nullptr;
        a->ephemeral = std::move(*eph);

        kos::UserStoreOptions uo;
        uo.store = store->rep.get();
        if (o.fast_hashing) {
          auto h = kos::PasswordHashing::Argon2id(kos::PasswordHasherOptions::Minimum());
          if (!h.ok()) return SetError(errptr, h.status()), nullptr;
          uo.hashing = std::move(*h);
        }
        auto users = kos::UserStore::Open(uo);
        if (!users.ok()) return SetError(errptr, users.status()), nullptr;
        a->users = std::move(*users);

        kos::SigningKeyringOptions ko;
        ko.store = store->rep.get();
        ko.key_encryption_key = o.kek;
        if (o.vault != nullptr) ko.vault = o.vault->rep.get();
        auto keyring = kos::SigningKeyring::Open(ko);
        if (!keyring.ok()) return SetError(errptr, keyring.status()), nullptr;
        a->keyring = std::move(*keyring);

        kos::AccessTokenOptions to;
        to.keyring = a->keyring.get();
        to.issuer = o.issuer;
        to.audience = o.audience;
        to.lifetime = absl::Seconds(o.token_lifetime_seconds);
        auto tokens = kos::AccessTokenService::Open(to);
        if (!tokens.ok()) return SetError(errptr, tokens.status()), nullptr;
        a->tokens = std::move(*tokens);

        kos::SessionOptions so;
        so.ephemeral = a->ephemeral.get();
        so.session_timeout = absl::Seconds(o.session_timeout_seconds);
        auto sessions = kos::SessionManager::Open(so);
        if (!sessions.ok()) return SetError(errptr, sessions.status()), nullptr;
        a->sessions = std::move(*sessions);

        kos::AuthenticatorOptions ao;
        ao.users = a->users.get();
        ao.sessions = a->sessions.get();
        ao.tokens = a->tokens.get();
        auto auth = kos::Authenticator::Open(ao);
        if (!auth.ok()) return SetError(errptr, auth.status()), nullptr;
        a->rep = std::move(*auth);
        return a.release();
      });
}

void kos_authenticator_close(kos_authenticator_t* auth) {
  Guard(__func__, nullptr, 0, [&] {
    delete auth;
    return 0;
  });
}

char* kos_auth_create_user(kos_authenticator_t* auth, const char* username, const char* password,
                           const char* email, const char* roles_json, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(auth, "auth", errptr)) return nullptr;
    auto roles = JsonArg(roles_json, "roles_json", kos::Json::array());
    if (!roles.ok()) return SetError(errptr, roles.status()), nullptr;
    kos::NewUser nu;
    nu.username = std::string(Str(username));
    nu.password = std::string(Str(password));
    nu.email = std::string(Str(email));
    if (!roles->is_array()) {
      SetError(errptr, absl::InvalidArgumentError("roles_json: expected an array of strings"));
      return nullptr;
    }
    for (const auto& r : *roles) {
      if (!r.is_string()) {
        SetError(errptr, absl::InvalidArgumentError("roles_json: expected an array of strings"));
        return nullptr;
      }
      nu.roles.push_back(r.get<std::string>());
    }
    auto user = auth->users->Create(nu);
    if (!user.ok()) return SetError(errptr, user.status()), nullptr;
    return CopyOut(user->id, nullptr, errptr);
  });
}

char* kos_auth_login(kos_authenticator_t* auth, const char* username, const char* password,
                     const char* address, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(auth, "auth", errptr)) return nullptr;
    auto t = auth->rep->Login(Str(username), Str(password), Str(address));
    if (!t.ok()) return SetError(errptr, t.status()), nullptr;
    return CopyOut(kos::DumpJson(TokensJson(*t)), nullptr, errptr);
  });
}

char* kos_auth_validate(kos_authenticator_t* auth, const char* access_token, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(auth, "auth", errptr)) return nullptr;
    auto p = auth->rep->Validate(Str(access_token));
    if (!p.ok()) return SetError(errptr, p.status()), nullptr;
    return CopyOut(kos::DumpJson(PrincipalJson(*p)), nullptr, errptr);
  });
}

char* kos_auth_refresh(kos_authenticator_t* auth, const char* refresh_token, const char* address,
                       char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(auth, "auth", errptr)) return nullptr;
    auto t = auth->rep->Refresh(Str(refresh_token), Str(address));
    if (!t.ok()) return SetError(errptr, t.status()), nullptr;
    return CopyOut(kos::DumpJson(TokensJson(*t)), nullptr, errptr);
  });
}

kos_code_t kos_auth_logout(kos_authenticator_t* auth, const char* access_token, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(auth, "auth", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, auth->rep->Logout(Str(access_token)));
  });
}

kos_access_controller_t* kos_access_controller_open(const char* policy_json, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_access_controller_t*>(nullptr),
               [&]() -> kos_access_controller_t* {
                 auto ac = kos::AccessController::Open();
                 if (!ac.ok()) return SetError(errptr, ac.status()), nullptr;
                 if (policy_json != nullptr) {
                   absl::Status s = (*ac)->LoadJson(policy_json);
                   if (!s.ok()) return SetError(errptr, s), nullptr;
                 }
                 return new kos_access_controller_t{std::move(*ac)};
               });
}

void kos_access_controller_close(kos_access_controller_t* ac) { delete ac; }

kos_code_t kos_access_controller_load_json(kos_access_controller_t* ac, const char* policy_json,
                                           char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(ac, "access controller", errptr)) return KOS_INVALID_ARGUMENT;
    if (!Require(policy_json, "policy_json", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, ac->rep->LoadJson(policy_json));
  });
}

kos_code_t kos_access_controller_load_file(kos_access_controller_t* ac, const char* path,
                                           char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(ac, "access controller", errptr)) return KOS_INVALID_ARGUMENT;
    if (!Require(path, "path", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, ac->rep->LoadFile(path));
  });
}

kos_code_t kos_access_controller_check(const kos_access_controller_t* ac, const char* subject,
                                       const char* resource, const char* action, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(ac, "access controller", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, ac->rep->Check(Str(subject), Str(resource), Str(action)));
  });
}

char* kos_access_controller_explain(const kos_access_controller_t* ac, const char* subject,
                                    const char* resource, const char* action, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(ac, "access controller", errptr)) return nullptr;
    auto d = ac->rep->Explain(Str(subject), Str(resource), Str(action));
    if (!d.ok()) return SetError(errptr, d.status()), nullptr;
    kos::Json j = {{"allowed", d->allowed()}, {"effect", EffectName(d->effect)},
                   {"subject", d->subject},   {"resource", d->resource},
                   {"action", d->action},     {"source", d->source},
                   {"rule", d->rule},         {"policy_generation", d->policy_generation},
                   {"text", d->ToString()}};
    return CopyOut(kos::DumpJson(j), nullptr, errptr);
  });
}

}  // extern "C"
