#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/client_address.h"
#include "http/api.h"
#include "http/engine.h"
#include "http/http_status.h"
#include "http/openapi.h"
#include "http/router.h"
#include "httplib.h"
#include "kos/id.h"
#include "kos/json.h"
#include "kos/status.h"

namespace kos::server {

namespace {

// An X-Request-Id for a request that brought none: a ULID (kos/id.h format)
// whose 80-bit tail is seeded once per thread from NewId() and then counted
// up, so a request costs no getrandom() syscall (NewId() makes one per call).
// Threads start from independent random tails, so ids stay unique.
std::string NextRequestId() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  thread_local std::string tail = NewId().substr(10);
  for (int i = 15; i >= 0; --i) {  // base-32 increment with carry
    const char* at = std::find(kAlphabet, kAlphabet + 32, tail[i]);
    int digit = static_cast<int>(at - kAlphabet) + 1;
    tail[i] = kAlphabet[digit & 31];
    if (digit < 32) break;
  }
  uint64_t ms = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())) & ((1ULL << 48) - 1);
  std::string id(26, '0');
  for (int i = 9; i >= 0; --i, ms >>= 5) id[i] = kAlphabet[ms & 31];
  id.replace(10, 16, tail);
  return id;
}

// The per-request metrics, looked up once per (route, method, status) and
// thread: MetricsRegistry::GetCounter/GetHistogram take the registry's mutex
// and copy and sort the label vector on every call. The registry never
// frees a metric, and the engine's threads (the only callers) end before
// the State they were made for, so the cached pointers stay valid.
struct RequestMetrics {
  Counter* requests = nullptr;
  Histogram* duration = nullptr;
};
const RequestMetrics& MetricsFor(MetricsRegistry* m, const Route* route, const std::string& method,
                                 int status) {
  using Key = std::tuple<const MetricsRegistry*, const Route*, std::string, int>;
  thread_local std::map<Key, RequestMetrics> cache;
  Key key{m, route, method, status};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::string path = route ? route->path : "unmatched";
  RequestMetrics rm;
  auto c = m->GetCounter("kos_http_requests_total", "HTTP requests by route, method and status.",
                         {{"route", path}, {"method", method}, {"code", std::to_string(status)}});
  if (c.ok()) rm.requests = *c;
  auto h = m->GetHistogram("kos_http_request_duration_seconds", "HTTP request latency by route.",
                           {{"route", path}, {"method", method}});
  if (h.ok()) rm.duration = *h;
  // Bounded: routes x methods x statuses, all from the fixed route table
  // (unmatched paths share one entry per method; the engine only passes
  // methods Beast knows).
  return cache.emplace(std::move(key), rm).first->second;
}

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
  std::unique_ptr<HttpEngine> engine;
  std::vector<Route> routes;
  Router router;
  std::string openapi;
  std::unique_ptr<Logger> access_log;
  std::unique_ptr<Logger> log;
  std::atomic<int> bound_port{0};
  std::atomic<bool> bound{false};
  bool rate_limited = true;
  TrustedProxies proxies;
  absl::Time started = absl::Now();

  absl::StatusOr<Caller> Authenticate(const httplib::Request& req);
  // Counts the request against `cls` for `key`; false (and a 429 written)
  // if it is over the limit.
  bool Limit(absl::string_view cls, const std::string& key, httplib::Response& res, bool headers);
  void Serve(const Route& route, PathParams& params, Exchange& x);
  // The engine's hooks (http/engine.h).
  bool Handle(Exchange& x, bool offloaded);
  void Log(const Exchange& x);
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

void HttpServer::State::Serve(const Route& route, PathParams& params, Exchange& x) {
  const httplib::Request& req = x.req;
  httplib::Response& res = x.res;
  Call call{req,
            res,
            route,
            {},
            Json(),
            std::nullopt,
            res.get_header_value("X-Request-Id"),
            req.remote_addr};
  for (auto& [name, value] : params) call.params[name] = std::move(value);

  if (route.auth) {
    auto caller = Authenticate(req);
    if (!caller.ok()) {
      SendError(res, caller.status());
      return;
    }
    call.caller = std::move(*caller);
    x.subject = call.caller->subject;
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
  // The engine would clamp these; a typo deserves an error instead.
  for (auto [name, value] : {std::pair<const char*, int>{"threads", options.threads},
                             {"worker_threads", options.worker_threads}}) {
    if (value < 1 || value > 1024) {
      return absl::InvalidArgumentError(
          absl::StrCat("server option ", name, " must be 1..1024, got ", value));
    }
  }
  if (options.max_header_bytes < 1024 || options.max_header_bytes > (1u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server option max_header_bytes must be 1024..1048576, got ", options.max_header_bytes));
  }
  KOS_ASSIGN_OR_RETURN(s->proxies, TrustedProxies::Parse(options.trusted_proxies));
  s->rate_limited = !options.rate_limits.empty();
  if (s->rate_limited) ko.rate_limits = options.rate_limits;
  KOS_ASSIGN_OR_RETURN(s->kernel, Kernel::Open(ko));
  s->api.kernel = s->kernel.get();
  s->access_log =
      std::make_unique<Logger>(s->kernel->telemetry()->logger(LogStream::kSystem, "http.access"));
  s->log = std::make_unique<Logger>(s->kernel->telemetry()->logger(LogStream::kSystem, "http"));
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(s)));
  server->InstallRoutes();
  State* st = server->s_.get();
  EngineOptions eo;
  eo.host = options.host;
  eo.port = options.port;
  eo.io_threads = options.threads;
  eo.worker_threads = options.worker_threads;
  eo.max_body_bytes = options.max_body_bytes;
  eo.max_header_bytes = options.max_header_bytes;
  eo.read_timeout = options.read_timeout;
  eo.write_timeout = options.write_timeout;
  eo.tls_cert = options.tls_cert;
  eo.tls_key = options.tls_key;
  EngineHooks hooks;
  hooks.handle = [st](Exchange& x, bool offloaded) { return st->Handle(x, offloaded); };
  hooks.log = [st](const Exchange& x) { st->Log(x); };
  hooks.error = [](int status, const std::string& message, httplib::Response& res) {
    std::string code = status == 413
                           ? "PAYLOAD_TOO_LARGE"
                           : StatusCodeName(status >= 500 ? absl::StatusCode::kInternal
                                                          : absl::StatusCode::kInvalidArgument);
    res.set_content(DumpJson({{"error", {{"code", code}, {"message", message}}}}),
                    "application/json");
  };
  KOS_ASSIGN_OR_RETURN(st->engine, HttpEngine::Create(eo, std::move(hooks)));
  return server;
}

bool HttpServer::State::Handle(Exchange& x, bool offloaded) {
  PathParams params;
  const Route* route = router.Match(x.req.method, x.req.path, &params);
  if (route != nullptr && route->blocking && !offloaded) return false;
  if (!proxies.empty() && x.peer.empty()) {
    // Every use below (rate limits, token checks, the access log) then sees the client.
    std::string forwarded;
    const size_t n = x.req.get_header_value_count("X-Forwarded-For");
    for (size_t i = 0; i < n; ++i) {
      absl::StrAppend(&forwarded, i ? "," : "", x.req.get_header_value("X-Forwarded-For", i));
    }
    std::string client = proxies.ClientAddress(x.req.remote_addr, forwarded);
    if (client != x.req.remote_addr) {
      x.peer = std::move(x.req.remote_addr);
      x.req.remote_addr = std::move(client);
    }
  }
  const httplib::Request& req = x.req;
  httplib::Response& res = x.res;
  x.route = route;
  std::string id = req.get_header_value("X-Request-Id");
  bool printable = !id.empty() && id.size() <= 128;
  for (char c : id)
    if (c < 0x21 || c > 0x7e) printable = false;
  res.set_header("X-Request-Id", printable ? id : NextRequestId());
  std::string tp = req.get_header_value("traceparent");
  if (ValidTraceparent(tp)) res.set_header("traceparent", tp);
  bool handled =
      rate_limited && !Limit("global", absl::StrCat("addr:", req.remote_addr), res, false);
  if (!handled && route == nullptr) res.status = 404;
  if (!handled && route != nullptr) {
    try {
      Serve(*route, params, x);
    } catch (const nlohmann::json::exception& e) {
      // A body field of an unexpected type deep inside a handler: the
      // client's mistake, not the server's.
      res.headers.erase("Content-Type");
      res.content_provider_ = nullptr;
      SendError(res, absl::InvalidArgumentError(absl::StrCat("invalid request body: ", e.what())));
    } catch (const std::exception& e) {
      log->Error("http.handler_exception",
                 {{"path", req.path}, {"method", req.method}, {"what", std::string(e.what())}});
      res.headers.erase("Content-Type");
      res.content_provider_ = nullptr;
      SendError(res, absl::InternalError("internal error"));
    } catch (...) {
      log->Error("http.handler_exception",
                 {{"path", req.path}, {"method", req.method}, {"what", "unknown"}});
      res.headers.erase("Content-Type");
      res.content_provider_ = nullptr;
      SendError(res, absl::InternalError("internal error"));
    }
  }
  if (res.status == -1) res.status = 200;
  // Errors no handler described get the {"error":{...}} body too.
  if (res.status >= 400 && res.body.empty() && !res.content_provider_) {
    absl::Status st;
    if (res.status == 404)
      st = absl::NotFoundError(absl::StrCat("no route for ", req.method, " ", req.path));
    else if (res.status == 400)
      st = absl::InvalidArgumentError("malformed HTTP request");
    else
      st = absl::UnknownError(absl::StrCat("HTTP ", res.status));
    res.set_content(ErrorBody(st), "application/json");
  }
  return true;
}

void HttpServer::State::Log(const Exchange& x) {
  const httplib::Request& req = x.req;
  const httplib::Response& res = x.res;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - x.start).count();
  const RequestMetrics& rm =
      MetricsFor(kernel->telemetry()->metrics(), x.route, req.method, res.status);
  if (rm.requests != nullptr) rm.requests->Increment();
  if (rm.duration != nullptr) rm.duration->Observe(seconds);
  // Rendered straight to JSON text (LogFields): a Json document cost about
  // 14 us of a /health request's 36 (docs/benchmarks/http.md).
  LogFields fields;
  fields.Add("method", req.method)
      .Add("path", req.path)
      .Add("route", x.route ? absl::string_view(x.route->path) : absl::string_view("unmatched"))
      .Add("status", res.status)
      .Add("duration_ms", seconds * 1000)
      .Add("request_id", res.get_header_value("X-Request-Id"))
      .Add("traceparent", res.get_header_value("traceparent"))
      .Add("subject", x.subject)
      .Add("remote", req.remote_addr);
  if (!x.peer.empty()) fields.Add("peer", x.peer);
  access_log->LogRendered(LogLevel::kInfo, "http.access", std::move(fields));
}

void HttpServer::InstallRoutes() {
  State* s = s_.get();
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
  for (Route& route : s->routes) {
    // Password hashing (login, token, refresh, user creation) and raw
    // uploads can take tens of milliseconds: not on an I/O thread.
    if (route.rate_class == RateClass::kAuth || route.raw_body || route.form_body)
      route.blocking = true;
    s->router.Add(&route);
  }
}

absl::Status HttpServer::Bind() {
  KOS_RETURN_IF_ERROR(s_->engine->Bind());
  s_->bound_port = s_->engine->port();
  s_->bound = true;
  return absl::OkStatus();
}

absl::Status HttpServer::Run() {
  KOS_RETURN_IF_ERROR(Bind());
  s_->log->Info("server.listening", {{"host", s_->options.host},
                                     {"port", s_->bound_port.load()},
                                     {"tls", tls()},
                                     {"routes", s_->routes.size()},
                                     {"io_threads", s_->options.threads}});
  absl::Status served = s_->engine->Run();
  // Run returns once every connection is closed and every in-flight request
  // and stream has been answered. Now the running tasks get their grace.
  s_->log->Info("server.draining");
  absl::Status st = s_->kernel->Shutdown(s_->options.shutdown_grace);
  s_->log->Info("server.stopped", {{"kernel_shutdown", st.ToString()}});
  s_->kernel->telemetry()->Flush();
  if (!st.ok()) return st;
  return served;
}

void HttpServer::Stop() {
  s_->api.stopping = true;
  if (s_->engine) s_->engine->Stop();
}
int HttpServer::port() const { return s_->bound_port.load(); }
bool HttpServer::listening() const { return s_->engine && s_->engine->running(); }
bool HttpServer::tls() const { return s_->engine && s_->engine->tls(); }
Kernel* HttpServer::kernel() const { return s_->kernel.get(); }
const std::vector<Route>& HttpServer::routes() const { return s_->routes; }

}  // namespace kos::server
