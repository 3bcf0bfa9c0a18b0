// Authentication (login, refresh, OAuth2 token endpoint, JWKS) and users.
#include "absl/strings/str_cat.h"
#include "http/api.h"
#include "kos/status.h"

namespace kos::server {

namespace {

Json TokenJson(const TokenSet& t) {
  Json j = {{"access_token", t.access_token},
            {"token_type", t.token_type},
            {"expires_in", absl::ToInt64Seconds(t.expires_in)}};
  if (!t.refresh_token.empty()) j["refresh_token"] = t.refresh_token;
  if (!t.scope.empty()) j["scope"] = t.scope;
  return j;
}

Json UserJson(const User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"email", u.email},
          {"display_name", u.display_name},
          {"profile", u.profile},
          {"roles", u.roles},
          {"disabled", u.disabled},
          {"created", TimeString(u.created)},
          {"updated", TimeString(u.updated)}};
}

const Json& TokenSchema() {
  static const Json* s = new Json(
      Schema("access_token:string, refresh_token?:string, token_type:string, expires_in:integer"));
  return *s;
}

const Json& UserSchema() {
  static const Json* s = new Json(
      Schema("id:string, username:string, email:string, display_name:string, profile:object, "
             "roles:[string], disabled:boolean, created:string, updated:string"));
  return *s;
}

absl::StatusOr<std::vector<std::string>> StringList(const Json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  if (!j[key].is_array())
    return absl::InvalidArgumentError(absl::StrCat("field '", key, "' must be an array"));
  for (const auto& v : j[key]) {
    if (!v.is_string())
      return absl::InvalidArgumentError(absl::StrCat("field '", key, "' must hold strings"));
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

void AddAuthRoutes(Api* api, std::vector<Route>* routes) {
  Kernel* k = api->kernel;
  Route r;
  r.tag = "auth";

  r.method = "POST";
  r.path = "/api/v1/auth/login";
  r.auth = false;
  r.rate_class = RateClass::kAuth;
  r.summary = "Log in with username and password; returns an access and a refresh token";
  r.access = "public (rate class auth; failed logins feed the lockout)";
  r.request_schema = Schema("username:string, password:string, scope?:string");
  r.response_schema = TokenSchema();
  r.handler = [k](Call& call) -> absl::Status {
    LoginOptions lo;
    KOS_ASSIGN_OR_RETURN(lo.scope, BodyString(call, "scope", false));
    KOS_ASSIGN_OR_RETURN(
        TokenSet t, k->auth()->Login(call.body["username"].get<std::string>(),
                                     call.body["password"].get<std::string>(), call.address, lo));
    call.res.set_header("Cache-Control", "no-store");
    call.Reply(TokenJson(t));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/auth/refresh";
  r.summary =
      "Rotate a refresh token; returns new tokens (a reused refresh token ends its session)";
  r.request_schema = Schema("refresh_token:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(
        TokenSet t,
        k->auth()->Refresh(call.body["refresh_token"].get<std::string>(), call.address));
    call.res.set_header("Cache-Control", "no-store");
    call.Reply(TokenJson(t));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/auth/token";
  r.summary =
      "OAuth2 token endpoint (RFC 6749): grant_type password, refresh_token or "
      "client_credentials, form-encoded; client authentication by HTTP Basic or "
      "client_id/client_secret";
  r.access = "public (rate class auth); errors follow RFC 6749 §5.2, not the {\"error\":{}} shape";
  r.form_body = true;
  r.request_schema = Schema(
      "grant_type:string, username?:string, password?:string, refresh_token?:string, "
      "client_id?:string, client_secret?:string, scope?:string");
  r.handler = [k](Call& call) -> absl::Status {
    std::map<std::string, std::string> params;
    for (const auto& [key, value] : call.req.params) {
      if (call.req.get_param_value_count(key) > 1) {
        call.Reply({{"error", "invalid_request"},
                    {"error_description", absl::StrCat("parameter '", key, "' repeated")}},
                   400);
        return absl::OkStatus();
      }
      params[key] = value;
    }
    TokenEndpointResponse out = k->token_endpoint()->Handle(
        params, call.req.get_header_value("Authorization"), call.address);
    for (const auto& [h, v] : out.headers) call.res.set_header(h, v);
    call.Reply(out.body, out.http_status);
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.form_body = false;
  r.access.clear();

  r.method = "GET";
  r.request_schema = nullptr;
  r.rate_class = RateClass::kNone;
  r.summary = "The JSON Web Key Set that verifies access tokens";
  r.response_schema = Schema("keys:[object]");
  r.handler = [k](Call& call) {
    call.res.set_header("Cache-Control", "public, max-age=300");
    call.Reply(k->keyring()->Jwks());
    return absl::OkStatus();
  };
  r.path = "/.well-known/jwks.json";
  routes->push_back(r);
  r.path = "/api/v1/.well-known/jwks.json";
  routes->push_back(r);

  r.auth = true;
  r.rate_class = RateClass::kApi;
  r.method = "POST";
  r.path = "/api/v1/auth/logout";
  r.summary = "End the session of the presented access token";
  r.access = "any authenticated user token";
  r.response_schema = Schema("status:string");
  r.handler = [k](Call& call) -> absl::Status {
    if (call.caller->method != "jwt" || !call.caller->user)
      return absl::InvalidArgumentError("logout needs a user access token");
    KOS_RETURN_IF_ERROR(k->auth()->Logout(call.caller->token));
    call.Reply({{"status", "logged_out"}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "GET";
  r.path = "/api/v1/auth/validate";
  r.summary = "Validate the presented credential; returns the principal";
  r.access = "any authenticated caller";
  r.response_schema = Schema("valid:boolean, subject:string, roles:[string], method:string");
  r.handler = [](Call& call) {
    Json j = {{"valid", true},
              {"subject", call.caller->subject},
              {"roles", call.caller->roles},
              {"method", call.caller->method}};
    if (call.caller->user) j["username"] = call.caller->user->username;
    call.Reply(j);
    return absl::OkStatus();
  };
  routes->push_back(r);
}

void AddUserRoutes(Api* api, std::vector<Route>* routes) {
  Kernel* k = api->kernel;
  Route r;
  r.tag = "users";
  OwnerFn self = [](Call& call) { return call.Subject(); };
  auto need_user = [](Call& call) -> absl::Status {
    if (!call.caller->user)
      return absl::InvalidArgumentError("this route needs a user token (not a client or API key)");
    return absl::OkStatus();
  };

  r.method = "GET";
  r.path = "/api/v1/users/me/profile";
  r.resource = "users:{caller_id}";
  r.action = "read";
  r.owner = self;
  r.summary = "The caller's profile (read fresh from the store)";
  r.response_schema =
      Schema("id:string, username:string, display_name:string, profile:object, roles:[string]");
  r.handler = [need_user](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(need_user(call));
    // Authentication read the user from the Store during this request (to
    // check it exists and is enabled); reading it a second time would only
    // cost another SQLite round trip.
    // Written as text, in the key order a Json object would dump: building
    // the document was a tenth of this route's CPU (docs/benchmarks/http.md).
    const User& u = *call.caller->user;
    std::string body = "{\"display_name\":";
    body.reserve(256);
    AppendJsonString(&body, u.display_name);
    body.append(",\"email\":");
    AppendJsonString(&body, u.email);
    body.append(",\"id\":");
    AppendJsonString(&body, u.id);
    body.append(",\"profile\":");
    body.append(DumpJson(u.profile));
    body.append(",\"roles\":[");
    for (size_t i = 0; i < u.roles.size(); ++i) {
      if (i > 0) body.push_back(',');
      AppendJsonString(&body, u.roles[i]);
    }
    body.append("],\"username\":");
    AppendJsonString(&body, u.username);
    body.push_back('}');
    call.ReplyJsonText(std::move(body));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "PUT";
  r.action = "write";
  r.summary = "Update the caller's display name, email and profile attributes";
  r.request_schema = Schema("display_name?:string, email?:string, profile?:object");
  r.response_schema = UserSchema();
  r.handler = [k, need_user](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(need_user(call));
    UserUpdate up;
    if (call.body.contains("display_name"))
      up.display_name = call.body["display_name"].get<std::string>();
    if (call.body.contains("email")) up.email = call.body["email"].get<std::string>();
    if (call.body.contains("profile")) up.profile = call.body["profile"];
    KOS_ASSIGN_OR_RETURN(User u, k->users()->Update(call.caller->user->id, up));
    call.Reply(UserJson(u));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "GET";
  r.path = "/api/v1/users/me/preferences";
  r.action = "read";
  r.summary = "The caller's preferences (free JSON)";
  r.request_schema = nullptr;
  r.response_schema = {{"type", "object"}};
  r.handler = [k, need_user](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(need_user(call));
    KOS_ASSIGN_OR_RETURN(User u, k->users()->Get(call.caller->user->id));
    call.Reply(u.preferences);
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "PUT";
  r.action = "write";
  r.summary = "Replace the caller's preferences with the body (a JSON object)";
  r.request_schema = {{"type", "object"}, {"additionalProperties", true}};
  r.handler = [k, need_user](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(need_user(call));
    UserUpdate up;
    up.preferences = call.body;
    KOS_ASSIGN_OR_RETURN(User u, k->users()->Update(call.caller->user->id, up));
    call.Reply(u.preferences);
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "GET";
  r.path = "/api/v1/users/me/permissions";
  r.action = "read";
  r.summary =
      "The caller's roles and the decisions for common permissions (every agent's "
      "execute, plus ?check=resource:action, repeatable)";
  r.request_schema = nullptr;
  r.response_schema = Schema("subject:string, roles:[string], permissions:[object]");
  r.handler = [k](Call& call) -> absl::Status {
    std::vector<std::pair<std::string, std::string>> checks;
    for (const AgentProfile& p : k->agents())
      checks.push_back({absl::StrCat("agents:", p.name), "execute"});
    checks.push_back({"audit:log", "read"});
    checks.push_back({"users:all", "read"});
    size_t n = call.req.get_param_value_count("check");
    if (n > 50) return absl::InvalidArgumentError("at most 50 'check' parameters");
    for (size_t i = 0; i < n; ++i) {
      std::string c = call.req.get_param_value("check", i);
      size_t colon = c.rfind(':');
      if (colon == std::string::npos || colon == 0)
        return absl::InvalidArgumentError("check must be 'resource:action'");
      checks.push_back({c.substr(0, colon), c.substr(colon + 1)});
    }
    Json perms = Json::array();
    for (const auto& [res, act] : checks) {
      KOS_ASSIGN_OR_RETURN(AccessDecision d, k->access()->ExplainWithRoles(
                                                 call.Subject(), call.caller->roles, res, act));
      perms.push_back({{"resource", res},
                       {"action", act},
                       {"allowed", d.allowed()},
                       {"rule", d.rule},
                       {"source", d.source}});
    }
    call.Reply(
        {{"subject", call.Subject()}, {"roles", call.caller->roles}, {"permissions", perms}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.owner = nullptr;

  r.path = "/api/v1/users";
  r.resource = "users:all";
  r.action = "read";
  r.summary = "List users (admin); ?limit=&page_token=";
  r.response_schema = Schema("users:[object], next_page_token:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(int64_t limit, call.QueryInt("limit", 100, 1, 1000));
    ScanOptions so;
    so.limit = limit;
    so.page_token = call.Query("page_token");
    KOS_ASSIGN_OR_RETURN(ScanPage page, k->store()->Scan("kos_user_names", so));
    Json users = Json::array();
    for (const Record& rec : page.records) {
      auto u = k->users()->Get(rec.value);
      if (u.ok()) users.push_back(UserJson(*u));
    }
    call.Reply({{"users", users}, {"next_page_token", page.next_page_token}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "POST";
  r.action = "write";
  r.success_status = 201;
  r.blocking = true;  // hashes the password
  r.summary = "Create a user (admin)";
  r.request_schema = Schema(
      "username:string, password:string, email?:string, display_name?:string, "
      "roles?:[string], profile?:object");
  r.response_schema = UserSchema();
  r.handler = [k](Call& call) -> absl::Status {
    NewUser nu;
    nu.username = call.body["username"].get<std::string>();
    nu.password = call.body["password"].get<std::string>();
    KOS_ASSIGN_OR_RETURN(nu.email, BodyString(call, "email", false));
    KOS_ASSIGN_OR_RETURN(nu.display_name, BodyString(call, "display_name", false));
    KOS_ASSIGN_OR_RETURN(nu.roles, StringList(call.body, "roles"));
    if (call.body.contains("profile")) nu.profile = call.body["profile"];
    auto u = k->users()->Create(nu);
    std::fill(nu.password.begin(), nu.password.end(), '\0');
    if (!u.ok()) return u.status();
    call.Reply(UserJson(*u));
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.success_status = 200;
  r.blocking = false;

  r.method = "GET";
  r.path = "/api/v1/users/{id}";
  r.resource = "users:{id}";
  r.action = "read";
  r.owner = [](Call& call) { return absl::StrCat("user:", call.Param("id")); };
  r.summary = "One user (admin, or the user itself)";
  r.request_schema = nullptr;
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(User u, k->users()->Get(call.Param("id")));
    call.Reply(UserJson(u));
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.owner = nullptr;

  r.method = "PATCH";
  r.action = "write";
  r.blocking = true;  // may hash a new password
  r.summary = "Change a user's fields, roles, disabled flag or password (admin)";
  r.request_schema = Schema(
      "username?:string, email?:string, display_name?:string, profile?:object, "
      "preferences?:object, roles?:[string], disabled?:boolean, password?:string");
  r.handler = [k](Call& call) -> absl::Status {
    const std::string& id = call.Param("id");
    const Json& b = call.body;
    UserUpdate up;
    if (b.contains("username")) up.username = b["username"].get<std::string>();
    if (b.contains("email")) up.email = b["email"].get<std::string>();
    if (b.contains("display_name")) up.display_name = b["display_name"].get<std::string>();
    if (b.contains("profile")) up.profile = b["profile"];
    if (b.contains("preferences")) up.preferences = b["preferences"];
    if (b.contains("roles")) {
      KOS_ASSIGN_OR_RETURN(up.roles, StringList(b, "roles"));
    }
    if (b.contains("disabled")) up.disabled = b["disabled"].get<bool>();
    if (b.contains("password")) {
      KOS_RETURN_IF_ERROR(k->users()->SetPassword(id, b["password"].get<std::string>()));
    }
    KOS_ASSIGN_OR_RETURN(User u, k->users()->Update(id, up));
    call.Reply(UserJson(u));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "DELETE";
  r.action = "delete";
  r.blocking = false;
  r.summary = "Delete a user (admin)";
  r.request_schema = nullptr;
  r.response_schema = Schema("deleted:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(k->users()->Delete(call.Param("id")));
    call.Reply({{"deleted", call.Param("id")}});
    return absl::OkStatus();
  };
  routes->push_back(r);
}

}  // namespace kos::server
