// kos.Authenticator (users, login, tokens) and kos.AccessController (RBAC).
#include <vector>

#include "common.h"
#include "handles.h"
#include "kos/authenticator.h"
#include "kos/crypto.h"
#include "kos/ephemeral.h"
#include "kos/rbac.h"
#include "kos/sessions.h"
#include "kos/tokens.h"
#include "kos/users.h"

namespace kos_py {
namespace {

// The whole in-process authentication stack, in dependency order.
struct AuthBox {
  std::shared_ptr<StoreBox> store;
  std::shared_ptr<kos::Clock> clock;
  std::unique_ptr<kos::Ephemeral> ephemeral;
  std::unique_ptr<kos::UserStore> users;
  std::unique_ptr<kos::SigningKeyring> keyring;
  std::unique_ptr<kos::AccessTokenService> tokens;
  std::unique_ptr<kos::SessionManager> sessions;
  std::unique_ptr<kos::Authenticator> auth;
};
using PyAuthenticator = Handle<AuthBox>;

py::dict UserToDict(const kos::User& u) {
  py::dict d;
  d["id"] = u.id;
  d["username"] = u.username;
  d["email"] = u.email;
  d["display_name"] = u.display_name;
  d["profile"] = FromJson(u.profile);
  d["preferences"] = FromJson(u.preferences);
  d["roles"] = u.roles;
  d["disabled"] = u.disabled;
  d["created"] = TimeToPy(u.created);
  d["updated"] = TimeToPy(u.updated);
  return d;
}

py::dict TokenSetToDict(const kos::TokenSet& t) {
  py::dict d;
  d["access_token"] = t.access_token;
  d["token_type"] = t.token_type;
  d["expires_in"] = absl::ToDoubleSeconds(t.expires_in);
  d["refresh_token"] = t.refresh_token;
  d["session_id"] = t.session_id;
  d["scope"] = t.scope;
  d["subject"] = t.subject;
  return d;
}

py::dict PrincipalToDict(const kos::Principal& p) {
  py::dict d;
  d["subject"] = p.claims.subject;
  d["issuer"] = p.claims.issuer;
  d["audience"] = p.claims.audience;
  d["roles"] = p.claims.roles;
  d["scope"] = p.claims.scope;
  d["session_id"] = p.claims.session_id;
  d["client_id"] = p.claims.client_id;
  d["expires"] = TimeToPy(p.claims.expires);
  d["issued_at"] = TimeToPy(p.claims.issued_at);
  d["kid"] = p.claims.kid;
  d["is_client"] = p.is_client();
  d["user"] = p.user ? py::object(UserToDict(*p.user)) : py::none();
  return d;
}

const char* EffectName(kos::AccessDecision::Effect e) {
  switch (e) {
    case kos::AccessDecision::Effect::kAllow:
      return "allow";
    case kos::AccessDecision::Effect::kDeny:
      return "deny";
    case kos::AccessDecision::Effect::kDefaultDeny:
      return "default_deny";
  }
  return "default_deny";
}

py::dict DecisionToDict(const kos::AccessDecision& a) {
  py::dict d;
  d["allowed"] = a.allowed();
  d["effect"] = EffectName(a.effect);
  d["subject"] = a.subject;
  d["resource"] = a.resource;
  d["action"] = a.action;
  d["source"] = a.source;
  d["rule"] = a.rule;
  d["policy_generation"] = a.policy_generation;
  d["explanation"] = a.ToString();
  return d;
}

}  // namespace

void BindAuth(py::module_& m) {
  py::class_<PyAuthenticator> cls(
      m, "Authenticator",
      "Users (Argon2id), login/refresh/logout and EdDSA JWT access tokens, on one Store, with "
      "sessions in an Ephemeral ('memory:' or 'redis://...'). Thread-safe; calls release the "
      "GIL (password hashing is deliberately slow).");
  cls.def(py::init([](const PyStore& store, const std::string& issuer, const std::string& audience,
                      const std::string& ephemeral_uri,
                      std::optional<std::string> key_encryption_key, bool fast_hashing,
                      double session_timeout, double token_lifetime, size_t min_password_length,
                      std::optional<PyClock> clock) {
            auto box = std::make_shared<AuthBox>();
            box->store = store.get();
            box->clock = clock ? ClockOrReal(clock) : box->store->clock;
            kos::Clock* c = box->clock.get();
            kos::Store* s = box->store->store.get();
            kos::EphemeralOptions eo;
            eo.clock = c;
            box->ephemeral = Unwrap(kos::OpenEphemeral(ephemeral_uri, eo));

            kos::UserStoreOptions uo;
            uo.store = s;
            uo.clock = c;
            uo.min_password_length = min_password_length;
            if (fast_hashing) {
              uo.hashing =
                  Unwrap(kos::PasswordHashing::Argon2id(kos::PasswordHasherOptions::Minimum()));
            }
            box->users = Unwrap(NoGil([&] { return kos::UserStore::Open(uo); }));

            kos::SigningKeyringOptions ko;
            ko.store = s;
            ko.clock = c;
            ko.key_encryption_key = std::make_shared<const kos::SecretBytes>(
                key_encryption_key ? kos::SecretBytes::CopyFrom(*key_encryption_key)
                                   : kos::SecretBytes::Random(32));
            box->keyring = Unwrap(kos::SigningKeyring::Open(ko));

            kos::AccessTokenOptions to;
            to.keyring = box->keyring.get();
            to.clock = c;
            to.issuer = issuer;
            to.audience = audience;
            to.lifetime = Seconds(token_lifetime);
            box->tokens = Unwrap(kos::AccessTokenService::Open(to));

            kos::SessionOptions so;
            so.ephemeral = box->ephemeral.get();
            so.clock = c;
            so.session_timeout = Seconds(session_timeout);
            box->sessions = Unwrap(kos::SessionManager::Open(so));

            kos::AuthenticatorOptions ao;
            ao.users = box->users.get();
            ao.sessions = box->sessions.get();
            ao.tokens = box->tokens.get();
            box->auth = Unwrap(kos::Authenticator::Open(ao));
            return PyAuthenticator{std::move(box), "Authenticator"};
          }),
          py::arg("store"), py::arg("issuer") = "kos", py::arg("audience") = "kos-api",
          py::arg("ephemeral_uri") = "memory:", py::arg("key_encryption_key") = py::none(),
          py::arg("fast_hashing") = false, py::arg("session_timeout") = 3600.0,
          py::arg("token_lifetime") = 900.0, py::arg("min_password_length") = 8,
          py::arg("clock") = py::none(),
          "`key_encryption_key` (32 bytes) seals the token signing keys in the store; without "
          "it a random one is used, so tokens survive only as long as this object. "
          "`fast_hashing` uses Argon2id at libsodium's minimum cost (tests only).")
      .def(
          "create_user",
          [](const PyAuthenticator& self, const std::string& username, const std::string& password,
             const std::string& email, const std::string& display_name,
             const std::vector<std::string>& roles) {
            auto box = self.get();
            kos::NewUser u;
            u.username = username;
            u.password = password;
            u.email = email;
            u.display_name = display_name;
            u.roles = roles;
            return UserToDict(Unwrap(NoGil([&] { return box->users->Create(u); })));
          },
          py::arg("username"), py::arg("password"), py::arg("email") = "",
          py::arg("display_name") = "", py::arg("roles") = std::vector<std::string>{},
          "AlreadyExistsError if the username or email is taken; InvalidArgumentError for a "
          "bad field (the password is never echoed).")
      .def(
          "get_user",
          [](const PyAuthenticator& self, const std::string& id) {
            auto box = self.get();
            return UserToDict(Unwrap(NoGil([&] { return box->users->Get(id); })));
          },
          py::arg("user_id"))
      .def(
          "get_user_by_username",
          [](const PyAuthenticator& self, const std::string& name) {
            auto box = self.get();
            return UserToDict(Unwrap(NoGil([&] { return box->users->GetByUsername(name); })));
          },
          py::arg("username"))
      .def(
          "set_roles",
          [](const PyAuthenticator& self, const std::string& id,
             const std::vector<std::string>& roles) {
            auto box = self.get();
            kos::UserUpdate u;
            u.roles = roles;
            return UserToDict(Unwrap(NoGil([&] { return box->users->Update(id, u); })));
          },
          py::arg("user_id"), py::arg("roles"))
      .def(
          "set_password",
          [](const PyAuthenticator& self, const std::string& id, const std::string& password) {
            auto box = self.get();
            Check(NoGil([&] { return box->users->SetPassword(id, password); }));
          },
          py::arg("user_id"), py::arg("password"))
      .def(
          "disable_user",
          [](const PyAuthenticator& self, const std::string& id) {
            auto box = self.get();
            Check(NoGil([&] { return box->users->Disable(id); }));
          },
          py::arg("user_id"))
      .def(
          "delete_user",
          [](const PyAuthenticator& self, const std::string& id) {
            auto box = self.get();
            Check(NoGil([&] { return box->users->Delete(id); }));
          },
          py::arg("user_id"))
      .def(
          "login",
          [](const PyAuthenticator& self, const std::string& username, const std::string& password,
             const std::string& address, const std::string& scope) {
            auto box = self.get();
            kos::LoginOptions lo;
            lo.scope = scope;
            return TokenSetToDict(
                Unwrap(NoGil([&] { return box->auth->Login(username, password, address, lo); })));
          },
          py::arg("username"), py::arg("password"), py::arg("address") = "", py::arg("scope") = "",
          "Returns a dict with access_token, refresh_token, expires_in, session_id, subject. "
          "UnauthenticatedError('invalid credentials') for any bad username/password.")
      .def(
          "validate",
          [](const PyAuthenticator& self, const std::string& token, const std::string& address) {
            auto box = self.get();
            return PrincipalToDict(
                Unwrap(NoGil([&] { return box->auth->Validate(token, address); })));
          },
          py::arg("access_token"), py::arg("address") = "",
          "Checks signature, claims, session and user; returns the principal as a dict. "
          "UnauthenticatedError otherwise.")
      .def(
          "refresh",
          [](const PyAuthenticator& self, const std::string& refresh_token,
             const std::string& address) {
            auto box = self.get();
            return TokenSetToDict(
                Unwrap(NoGil([&] { return box->auth->Refresh(refresh_token, address); })));
          },
          py::arg("refresh_token"), py::arg("address") = "",
          "Rotates the refresh token; a reused one revokes the session (UnauthenticatedError).")
      .def(
          "logout",
          [](const PyAuthenticator& self, const std::string& token) {
            auto box = self.get();
            Check(NoGil([&] { return box->auth->Logout(token); }));
          },
          py::arg("access_token"))
      .def(
          "jwks", [](const PyAuthenticator& self) { return FromJson(self.get()->keyring->Jwks()); },
          "The RFC 7517 JWK Set that verifies access tokens (e.g. with PyJWT).")
      .def("rotate_signing_key", [](const PyAuthenticator& self) {
        auto box = self.get();
        return Unwrap(NoGil([&] { return box->keyring->Rotate(); }));
      });
  BindContextManager(cls);

  py::class_<PyAccessController> ac(
      m, "AccessController",
      "Role-based access control: default deny, deny overrides allow, wildcard resource "
      "patterns. Thread-safe.");
  ac.def(py::init([](py::object policy, const std::string& policy_path) {
           auto box = std::make_shared<AccessControllerBox>();
           kos::AccessControllerOptions o;
           o.policy_path = policy_path;
           box->access = Unwrap(kos::AccessController::Open(o));
           if (!policy.is_none()) {
             if (py::isinstance<py::str>(policy)) {
               Check(box->access->LoadJson(policy.cast<std::string>()));
             } else {
               Check(box->access->Load(ToJson(policy)));
             }
           }
           return PyAccessController{std::move(box), "AccessController"};
         }),
         py::arg("policy") = py::none(), py::arg("policy_path") = "",
         "`policy` is a dict or JSON text in the auth-policies.json schema "
         "(docs/access-control.md); `policy_path` a file to load. Without either, everything "
         "is denied.")
      .def(
          "load",
          [](const PyAccessController& self, py::object policy) {
            auto box = self.get();
            if (py::isinstance<py::str>(policy)) {
              Check(box->access->LoadJson(policy.cast<std::string>()));
            } else {
              Check(box->access->Load(ToJson(policy)));
            }
          },
          py::arg("policy"),
          "Replaces the policy; on error (InvalidArgumentError naming the key) the old one stays.")
      .def(
          "load_file",
          [](const PyAccessController& self, const std::string& path) {
            auto box = self.get();
            Check(NoGil([&] { return box->access->LoadFile(path); }));
          },
          py::arg("path"))
      .def(
          "check",
          [](const PyAccessController& self, const std::string& subject,
             const std::string& resource, const std::string& action,
             const std::vector<std::string>& roles) {
            auto box = self.get();
            Check(box->access->CheckWithRoles(subject, roles, resource, action));
          },
          py::arg("subject"), py::arg("resource"), py::arg("action"),
          py::arg("roles") = std::vector<std::string>{},
          "Returns None if allowed; PermissionDeniedError otherwise; InvalidArgumentError for "
          "a malformed subject, resource or action. `roles` are extra roles (e.g. from a "
          "token).")
      .def(
          "allowed",
          [](const PyAccessController& self, const std::string& subject,
             const std::string& resource, const std::string& action,
             const std::vector<std::string>& roles) {
            auto box = self.get();
            absl::Status s = box->access->CheckWithRoles(subject, roles, resource, action);
            if (s.ok()) return true;
            if (s.code() == absl::StatusCode::kPermissionDenied) return false;
            ThrowStatus(s);
          },
          py::arg("subject"), py::arg("resource"), py::arg("action"),
          py::arg("roles") = std::vector<std::string>{})
      .def(
          "explain",
          [](const PyAccessController& self, const std::string& subject,
             const std::string& resource, const std::string& action,
             const std::vector<std::string>& roles) {
            auto box = self.get();
            return DecisionToDict(
                Unwrap(box->access->ExplainWithRoles(subject, roles, resource, action)));
          },
          py::arg("subject"), py::arg("resource"), py::arg("action"),
          py::arg("roles") = std::vector<std::string>{},
          "The decision and the rule that made it, as a dict.")
      .def_property_readonly("policy_generation", [](const PyAccessController& self) {
        return self.get()->access->policy_generation();
      });
  BindContextManager(ac);
}

}  // namespace kos_py
