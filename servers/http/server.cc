#include "http/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "http/api.h"
#include "http/http_status.h"
#include "http/openapi.h"
#include "httplib.h"
#include "kos/id.h"
#include "kos/json.h"
#include "kos/status.h"

namespace kos::server {

namespace {

// What the access logger (which cpp-httplib calls on the worker thread right
// after the handler) needs to know about the request it logs.
struct RequestScratch {
  const Route* route = nullptr;
  std::chrono::steady_clock::time_point start;
  std::string subject;
};
thread_local RequestScratch t_scratch;

void SendError(httplib::Response& res, const absl::Status& status) {
  res.status = HttpStatusFor(status.code());
  res.set_content(ErrorBody(status), "application/json");
  if (status.code() == absl::StatusCode::kUnauthenticated)
    res.set_header("WWW-Authenticate", "Bearer");
}

void SendErrorCode(httplib::Response& res, int http, const std::string& code,
                   const std::string& message) {
  res.status = http;
  res.set_content(DumpJson({{"error", {{"code", code}, {"message", message}}}}),
                  "application/json");
}

std::string MediaType(const httplib::Request& req) {
  std::string ct = req.get_header_value("Content-Type");
  size_t semi = ct.find(';');
  if (semi != std::string::npos) ct.resize(semi);
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(ct));
}

bool IsHex(absl::string_view s) {
  for (char c : s)
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  return true;
}

// W3C traceparent "00-<32 hex>-<16 hex>-<2 hex>", not all-zero ids.
bool ValidTraceparent(absl::string_view t) {
  if (t.size() != 55 || t[2] != '-' || t[35] != '-' || t[52] != '-') return false;
  absl::string_view version = t.substr(0, 2), trace = t.substr(3, 32), span = t.substr(36, 16),
                    flags = t.substr(53, 2);
  if (!IsHex(version) || !IsHex(trace) || !IsHex(span) || !IsHex(flags) || version == "ff")
    return false;
  return trace != std::string(32, '0') && span != std::string(16, '0');
}

const char* JsonTypeOf(const std::string& t) { return t.c_str(); }

bool TypeMatches(const std::string& type, const Json& v) {
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return true;
}

// Checks the body against the route's schema: an object, required fields
// present, the declared top-level types (nested values are the
// component's to check).
absl::Status CheckBody(const Json& schema, const Json& body) {
  if (!body.is_object())
    return absl::InvalidArgumentError(
        absl::StrCat("request body must be a JSON object, got ", JsonTypeName(body)));
  if (schema.contains("required")) {
    for (const auto& r : schema["required"]) {
      if (!body.contains(r.get<std::string>()) || body[r.get<std::string>()].is_null())
        return absl::InvalidArgumentError(
            absl::StrCat("missing required field '", r.get<std::string>(), "'"));
    }
  }
  if (schema.contains("properties")) {
    for (const auto& [name, prop] : schema["properties"].items()) {
      if (!body.contains(name) || body[name].is_null() || !prop.contains("type")) continue;
      std::string type = prop["type"].get<std::string>();
      if (!TypeMatches(type, body[name]))
        return absl::InvalidArgumentError(absl::StrCat(
            "field '", name, "': expected ", JsonTypeOf(type), ", got ", JsonTypeName(body[name])));
    }
  }
  return absl::OkStatus();
}

void SetRateHeaders(httplib::Response& res, const RateLimitDecision& d) {
  res.set_header("X-RateLimit-Limit", std::to_string(d.limit));
  res.set_header("X-RateLimit-Remaining", std::to_string(d.remaining));
  res.set_header(
      "X-RateLimit-Reset",
      std::to_string(static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(d.reset_after)))));
}

}  // namespace

struct HttpServer::State {
  ServerOptions options;
  std::unique_ptr<Kernel> kernel;
  Api api;
  std::unique_ptr<httplib::Server> http;
  std::vector<Route> routes;
  std::string openapi;
  std::unique_ptr<Logger> access_log;
  std::unique_ptr<Logger> log;
  std::atomic<int> bound_port{0};
  std::atomic<bool> bound{false};
  bool rate_limited = true;
  absl::Time started = absl::Now();

  absl::StatusOr<Caller> Authenticate(const httplib::Request& req);
  // Counts the request against `cls` for `key`; false (and a 429 written)
  // if it is over the limit.
  bool Limit(absl::string_view cls, const std::string& key, httplib::Response& res, bool headers);
  void Serve(const Route& route, const std::vector<std::string>& names, const httplib::Request& req,
             httplib::Response& res);
};

absl::StatusOr<Caller> HttpServer::State::Authenticate(const httplib::Request& req) {
  std::string token;
  std::string authz = req.get_header_value("Authorization");
  if (!authz.empty()) {
    if (authz.size() < 7 || !absl::EqualsIgnoreCase(authz.substr(0, 7), "Bearer "))
      return absl::UnauthenticatedError("Authorization must be 'Bearer <token>'");
    token = std::string(absl::StripAsciiWhitespace(authz.substr(7)));
  } else if (req.has_header("X-API-Key")) {
    token = req.get_header_value("X-API-Key");
  }
  if (token.empty()) return absl::UnauthenticatedError("missing bearer token or API key");
  Caller c;
  c.token = token;
  if (absl::StartsWith(token, "kos_")) {
    KOS_ASSIGN_OR_RETURN(ApiKey key, kernel->api_keys()->Verify(token));
    c.subject = key.owner;
    c.method = "api_key";
    return c;
  }
  KOS_ASSIGN_OR_RETURN(Principal p, kernel->auth()->Validate(token, req.remote_addr));
  c.method = "jwt";
  if (p.user) {
    c.subject = absl::StrCat("user:", p.user->id);
    c.roles = p.user->roles;
    c.user = std::move(p.user);
  } else {
    c.subject = absl::StrCat("service:",
                             p.claims.client_id.empty() ? p.claims.subject : p.claims.client_id);
    c.roles = p.claims.roles;
  }
  return c;
}

bool HttpServer::State::Limit(absl::string_view cls, const std::string& key, httplib::Response& res,
                              bool headers) {
  if (!rate_limited) return true;
  auto d = kernel->rate_limiter()->Decide(cls, key.size() > 256 ? key.substr(0, 256) : key);
  if (!d.ok()) {
    // The limiter's store is down: refuse rather than run unlimited.
    SendError(res, absl::UnavailableError("rate limiter unavailable"));
    return false;
  }
  if (headers || !d->allowed) SetRateHeaders(res, *d);
  if (d->allowed) return true;
  int64_t retry =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(d->retry_after))));
  res.set_header("Retry-After", std::to_string(retry));
  SendError(res, absl::ResourceExhaustedError(
                     absl::StrCat("rate limit '", cls, "' exceeded; retry after ", retry, " s")));
  return false;
}

void HttpServer::State::Serve(const Route& route, const std::vector<std::string>& names,
                              const httplib::Request& req, httplib::Response& res) {
  t_scratch.route = &route;
  Call call{req,
            res,
            route,
            {},
            Json(),
            std::nullopt,
            res.get_header_value("X-Request-Id"),
            req.remote_addr};
  for (size_t i = 0; i < names.size() && i + 1 < req.matches.size(); ++i)
    call.params[names[i]] = req.matches[i + 1].str();

  if (route.auth) {
    auto caller = Authenticate(req);
    if (!caller.ok()) {
      SendError(res, caller.status());
      return;
    }
    call.caller = std::move(*caller);
    t_scratch.subject = call.caller->subject;
    std::string id = call.caller->subject;
    size_t colon = id.find(':');
    call.params["caller_id"] = colon == std::string::npos ? id : id.substr(colon + 1);
  }
  if (route.rate_class != RateClass::kNone) {
    std::string key = route.rate_class == RateClass::kApi && call.caller
                          ? call.caller->subject
                          : absl::StrCat("addr:", req.remote_addr);
    if (!Limit(RateClassName(route.rate_class), key, res, true)) return;
  }

  if (!route.request_schema.is_null() && !route.raw_body) {
    std::string media = MediaType(req);
    if (route.form_body) {
      if (media != "application/x-www-form-urlencoded") {
        SendErrorCode(res, 415, "UNSUPPORTED_MEDIA_TYPE",
                      "Content-Type must be application/x-www-form-urlencoded");
        return;
      }
    } else if (req.body.empty() && !route.request_schema.contains("required")) {
      call.body = Json::object();
    } else {
      if (req.body.empty()) {
        SendError(res, absl::InvalidArgumentError("request body required (a JSON object)"));
        return;
      }
      if (media != "application/json" && !absl::EndsWith(media, "+json")) {
        SendErrorCode(res, 415, "UNSUPPORTED_MEDIA_TYPE",
                      absl::StrCat("Content-Type must be application/json, got '",
                                   media.empty() ? "(none)" : media, "'"));
        return;
      }
      auto parsed = ParseJson(req.body);
      if (!parsed.ok()) {
        SendError(res, absl::InvalidArgumentError(
                           absl::StrCat("malformed JSON body: ", parsed.status().message())));
        return;
      }
      call.body = std::move(*parsed);
      absl::Status st = CheckBody(route.request_schema, call.body);
      if (!st.ok()) {
        SendError(res, st);
        return;
      }
    }
  }

  if (!route.resource.empty()) {
    std::string resource = route.resource;
    for (const auto& [name, value] : call.params) {
      std::string token = absl::StrCat("{", name, "}");
      size_t pos;
      while ((pos = resource.find(token)) != std::string::npos)
        resource.replace(pos, token.size(), value);
    }
    std::string owner = route.owner ? route.owner(call) : "";
    absl::Status st = api.Authorize(call, resource, route.action, owner);
    if (!st.ok()) {
      SendError(res, st);
      return;
    }
  }
  absl::Status st = route.handler(call);
  if (!st.ok()) {
    res.headers.erase("Content-Type");
    SendError(res, st);
  }
}

HttpServer::HttpServer(std::unique_ptr<State> state) : s_(std::move(state)) {}

HttpServer::~HttpServer() {
  Stop();
  if (s_->kernel) s_->kernel->Shutdown(s_->options.shutdown_grace).IgnoreError();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const ServerOptions& options) {
  auto s = std::make_unique<State>();
  s->options = options;
  KernelOptions ko;
  ko.config_dir = options.config_dir;
  ko.data_dir = options.data_dir;
  ko.logs_dir = options.logs_dir;
  ko.store_uri = options.store_uri;
  ko.password_hashing = options.password_hashing;
  ko.development_handlers = options.development_handlers;
  s->rate_limited = !options.rate_limits.empty();
  if (s->rate_limited) ko.rate_limits = options.rate_limits;
  KOS_ASSIGN_OR_RETURN(s->kernel, Kernel::Open(ko));
  s->api.kernel = s->kernel.get();
  s->access_log =
      std::make_unique<Logger>(s->kernel->telemetry()->logger(LogStream::kSystem, "http.access"));
  s->log = std::make_unique<Logger>(s->kernel->telemetry()->logger(LogStream::kSystem, "http"));
  bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (tls) {
    if (options.tls_cert.empty() || options.tls_key.empty())
      return absl::InvalidArgumentError("TLS needs both a certificate and a key");
    auto ssl =
        std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!ssl->is_valid())
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load TLS certificate '", options.tls_cert, "' or key '", options.tls_key, "'"));
    s->http = std::move(ssl);
  } else {
    s->http = std::make_unique<httplib::Server>();
  }
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(s)));
  server->InstallRoutes();
  return server;
}

void HttpServer::InstallRoutes() {
  State* s = s_.get();
  auto& http = *s->http;
  http.new_task_queue = [s] { return new httplib::ThreadPool(s->options.threads); };
  http.set_payload_max_length(s->options.max_body_bytes);
  http.set_keep_alive_max_count(1000);
  http.set_keep_alive_timeout(5);
  auto secs = [](absl::Duration d) { return static_cast<time_t>(absl::ToInt64Seconds(d)); };
  auto usecs = [](absl::Duration d) {
    return static_cast<time_t>(absl::ToInt64Microseconds(d) % 1000000);
  };
  http.set_read_timeout(secs(s->options.read_timeout), usecs(s->options.read_timeout));
  http.set_write_timeout(secs(s->options.write_timeout), usecs(s->options.write_timeout));
  // Small JSON responses must not wait for Nagle's algorithm.
  http.set_socket_options([](socket_t sock) {
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });

  http.set_pre_routing_handler([s](const httplib::Request& req, httplib::Response& res) {
    t_scratch = RequestScratch{nullptr, std::chrono::steady_clock::now(), ""};
    std::string id = req.get_header_value("X-Request-Id");
    bool printable = !id.empty() && id.size() <= 128;
    for (char c : id)
      if (c < 0x21 || c > 0x7e) printable = false;
    res.set_header("X-Request-Id", printable ? id : NewId());
    std::string tp = req.get_header_value("traceparent");
    if (ValidTraceparent(tp)) res.set_header("traceparent", tp);
    if (s->rate_limited &&
        !s->Limit("global", absl::StrCat("addr:", req.remote_addr), res, false)) {
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  AddSystemRoutes(&s->api, &s->routes);
  AddAuthRoutes(&s->api, &s->routes);
  AddUserRoutes(&s->api, &s->routes);
  AddTaskRoutes(&s->api, &s->routes);
  AddMemoryRoutes(&s->api, &s->routes);
  AddPromptRoutes(&s->api, &s->routes);
  AddArtifactRoutes(&s->api, &s->routes);
  AddVaultRoutes(&s->api, &s->routes);
  // The spec is a route too; its handler serves the table it belongs to.
  Route spec;
  spec.method = "GET";
  spec.path = "/openapi.json";
  spec.rate_class = RateClass::kNone;
  spec.auth = false;
  spec.tag = "system";
  spec.summary = "This API as an OpenAPI 3.0 document, generated from the route table";
  spec.response_schema = Schema("openapi:string, info:object, paths:object");
  spec.handler = [s](Call& call) {
    call.res.status = 200;
    call.res.set_content(s->openapi, "application/json");
    return absl::OkStatus();
  };
  s->routes.push_back(std::move(spec));
  s->openapi = DumpJson(BuildOpenApi(s->routes));

  for (const Route& route : s->routes) {
    std::vector<std::string> names;
    std::string regex = PathRegex(route.path, &names);
    const Route* r = &route;
    httplib::Server::Handler h = [s, r, names](const httplib::Request& req,
                                               httplib::Response& res) {
      s->Serve(*r, names, req, res);
    };
    if (route.method == "GET")
      http.Get(regex, h);
    else if (route.method == "POST")
      http.Post(regex, h);
    else if (route.method == "PUT")
      http.Put(regex, h);
    else if (route.method == "PATCH")
      http.Patch(regex, h);
    else if (route.method == "DELETE")
      http.Delete(regex, h);
  }

  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    // Only fill in bodies for errors no handler described.
    if (!res.body.empty()) return;
    absl::Status st;
    if (res.status == 404)
      st = absl::NotFoundError(absl::StrCat("no route for ", req.method, " ", req.path));
    else if (res.status == 413)
      st = absl::InvalidArgumentError("request body too large");
    else if (res.status == 400)
      st = absl::InvalidArgumentError("malformed HTTP request");
    else
      st = absl::UnknownError(absl::StrCat("HTTP ", res.status));
    std::string code = res.status == 413 ? "PAYLOAD_TOO_LARGE" : StatusCodeName(st.code());
    res.set_content(DumpJson({{"error", {{"code", code}, {"message", std::string(st.message())}}}}),
                    "application/json");
  });
  http.set_exception_handler([s](const httplib::Request& req, httplib::Response& res,
                                 std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const nlohmann::json::exception& e) {
      // A body field of an unexpected type deep inside a handler: the
      // client's mistake, not the server's.
      res.headers.erase("Content-Type");
      SendError(res, absl::InvalidArgumentError(absl::StrCat("invalid request body: ", e.what())));
      return;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    s->log->Error("http.handler_exception",
                  {{"path", req.path}, {"method", req.method}, {"what", what}});
    res.headers.erase("Content-Type");
    SendError(res, absl::InternalError("internal error"));
  });
  http.set_logger([s](const httplib::Request& req, const httplib::Response& res) {
    MetricsRegistry* m = s->kernel->telemetry()->metrics();
    std::string route = t_scratch.route ? t_scratch.route->path : "unmatched";
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_scratch.start).count();
    auto c = m->GetCounter(
        "kos_http_requests_total", "HTTP requests by route, method and status.",
        {{"route", route}, {"method", req.method}, {"code", std::to_string(res.status)}});
    if (c.ok()) (*c)->Increment();
    auto h = m->GetHistogram("kos_http_request_duration_seconds", "HTTP request latency by route.",
                             {{"route", route}, {"method", req.method}});
    if (h.ok()) (*h)->Observe(seconds);
    s->access_log->Info("http.access", {{"method", req.method},
                                        {"path", req.path},
                                        {"route", route},
                                        {"status", res.status},
                                        {"duration_ms", seconds * 1000},
                                        {"request_id", res.get_header_value("X-Request-Id")},
                                        {"traceparent", res.get_header_value("traceparent")},
                                        {"subject", t_scratch.subject},
                                        {"remote", req.remote_addr}});
  });
}

absl::Status HttpServer::Bind() {
  if (s_->bound) return absl::OkStatus();
  int port = s_->options.port;
  if (port == 0) {
    port = s_->http->bind_to_any_port(s_->options.host);
    if (port <= 0) return absl::UnavailableError(absl::StrCat("cannot bind ", s_->options.host));
  } else if (!s_->http->bind_to_port(s_->options.host, port)) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", s_->options.host, ":", port, " (in use, or not permitted)"));
  }
  s_->bound_port = port;
  s_->bound = true;
  return absl::OkStatus();
}

absl::Status HttpServer::Run() {
  KOS_RETURN_IF_ERROR(Bind());
  s_->log->Info("server.listening", {{"host", s_->options.host},
                                     {"port", s_->bound_port.load()},
                                     {"tls", tls()},
                                     {"routes", s_->routes.size()}});
  bool ok = s_->http->listen_after_bind();
  // listen_after_bind returns once the pool has drained: every in-flight
  // request has been answered. Now the running tasks get their grace.
  s_->log->Info("server.draining");
  absl::Status st = s_->kernel->Shutdown(s_->options.shutdown_grace);
  s_->log->Info("server.stopped", {{"kernel_shutdown", st.ToString()}});
  s_->kernel->telemetry()->Flush();
  if (!st.ok()) return st;
  return ok || s_->api.stopping ? absl::OkStatus()
                                : absl::UnavailableError("listener stopped with an error");
}

void HttpServer::Stop() {
  s_->api.stopping = true;
  s_->http->stop();
}
int HttpServer::port() const { return s_->bound_port.load(); }
bool HttpServer::listening() const { return s_->http->is_running(); }
bool HttpServer::tls() const { return !s_->options.tls_cert.empty(); }
Kernel* HttpServer::kernel() const { return s_->kernel.get(); }
const std::vector<Route>& HttpServer::routes() const { return s_->routes; }

}  // namespace kos::server
