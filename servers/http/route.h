// The route table: one Route per endpoint. The same table feeds the router
// (http/router.h) and generates /openapi.json, so the two cannot drift.
#ifndef KOS_SERVERS_HTTP_ROUTE_H_
#define KOS_SERVERS_HTTP_ROUTE_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "httplib.h"
#include "kos/json.h"
#include "kos/users.h"

namespace kos::server {

// Which rate-limit class (kos::RateLimiter) a route counts against, besides
// "global" per client address. kNone: only "global" (health, metrics).
enum class RateClass { kNone, kAuth, kApi };
const char* RateClassName(RateClass c);

// Who is calling, after authentication.
struct Caller {
  // RBAC subject: "user:<id>" for user tokens, "service:<client id>" for
  // client-credentials tokens, the API key's owner for API keys.
  std::string subject;
  std::vector<std::string> roles;
  std::optional<User> user;
  // "jwt" or "api_key".
  std::string method;
  // The bearer token as presented (for logout); never logged.
  std::string token;
};

struct Route;

// One request in flight: the parsed path parameters, JSON body and caller.
// Lives for the duration of the handler call. Not thread-safe.
struct Call {
  const httplib::Request& req;
  httplib::Response& res;
  const Route& route;
  std::map<std::string, std::string> params;
  Json body;  // the parsed body for routes with a JSON request schema
  std::optional<Caller> caller;
  std::string request_id;
  std::string address;  // client address

  const std::string& Param(const std::string& name) const;
  // Query parameter or `fallback`.
  std::string Query(const std::string& name, const std::string& fallback = "") const;
  // An integer query parameter in [lo, hi]; INVALID_ARGUMENT otherwise.
  absl::StatusOr<int64_t> QueryInt(const std::string& name, int64_t fallback, int64_t lo,
                                   int64_t hi) const;
  // Sends `body` as JSON with the route's success status (or `status`).
  void Reply(const Json& body, int status = 0);
  // Same, for a body already written as JSON text (hot routes skip the Json
  // document; see docs/benchmarks/http.md).
  void ReplyJsonText(std::string json, int status = 0);
  const std::string& Subject() const { return caller->subject; }
};

// A handler writes the response with Call::Reply (or streams) and returns OK,
// or returns the error that becomes the {"error":{...}} body.
using RouteHandler = std::function<absl::Status(Call&)>;
// Who owns the resource a request names ("" if unknown or absent). The owner
// may act on it unless a rule explicitly denies it.
using OwnerFn = std::function<std::string(Call&)>;

struct Route {
  std::string method;  // GET POST PUT PATCH DELETE
  // "/api/v1/tasks/{id}"; "{name...}" matches one or more segments.
  std::string path;
  RateClass rate_class = RateClass::kApi;
  bool auth = true;
  // RBAC check made before the handler: `resource` with {params} filled in
  // and `action`. Empty resource: the handler checks (see `access`).
  std::string resource;
  std::string action;
  // How access is decided, for the docs when `resource` is empty or an
  // owner rule applies.
  std::string access;
  OwnerFn owner;
  std::string tag;
  std::string summary;
  // Request body: a JSON schema (OpenAPI subset) for application/json
  // bodies; null for none. `raw_body` routes take any content type.
  Json request_schema;
  bool raw_body = false;
  // application/x-www-form-urlencoded (the OAuth2 token endpoint).
  bool form_body = false;
  Json response_schema;
  std::string response_content_type = "application/json";
  int success_status = 200;
  // The handler may block for long (password hashing, large uploads): it
  // runs on a worker thread instead of an I/O thread, so other connections
  // are not stalled. Streamed responses (content providers) always run on
  // a thread of their own, whatever this says.
  bool blocking = false;
  RouteHandler handler;
};

// A compact schema notation for the table:
//   "username:string, password:string, scope?:string, roles:[string], data:object"
// '?' marks an optional field; [T] an array of T; types: string integer number
// boolean object any.
Json Schema(absl::string_view fields);
// {"type":"array","items":<item>}.
Json ArrayOf(Json item);

// The regular expression equivalent of `path` (what http/router.h matches)
// and the parameter names in order of appearance.
std::string PathRegex(const std::string& path, std::vector<std::string>* names);
// The OpenAPI form of a path ("{name...}" becomes "{name}").
std::string OpenApiPath(const std::string& path);

}  // namespace kos::server

#endif  // KOS_SERVERS_HTTP_ROUTE_H_
