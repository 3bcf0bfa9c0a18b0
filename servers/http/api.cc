// Shared access helpers and the system routes (health, readiness, metrics,
// info).
#include "http/api.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kos/status.h"

namespace kos::server {

namespace {
constexpr char kOwners[] = "http_owners";
}

absl::Status Api::Authorize(const Call& call, absl::string_view resource, absl::string_view action,
                            absl::string_view owner) const {
  if (!call.caller) return absl::UnauthenticatedError("authentication required");
  KOS_ASSIGN_OR_RETURN(AccessDecision d,
                       kernel->access()->ExplainWithRoles(call.caller->subject, call.caller->roles,
                                                          resource, action));
  if (d.allowed()) return absl::OkStatus();
  // Owners act on their own things unless a rule says otherwise.
  if (d.effect == AccessDecision::Effect::kDefaultDeny && !owner.empty() &&
      owner == call.caller->subject) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat(call.caller->subject, " may not ", action, " ", resource));
}

std::string Api::OwnerOf(absl::string_view kind, absl::string_view id) const {
  auto r = kernel->store()->Get(kOwners, absl::StrCat(kind, "/", id));
  return r.ok() ? r->value : "";
}

absl::Status Api::RecordOwner(absl::string_view kind, absl::string_view id,
                              absl::string_view subject) const {
  return kernel->store()->Put(kOwners, absl::StrCat(kind, "/", id), subject).status();
}

absl::StatusOr<std::string> BodyString(const Call& call, const char* key, bool required) {
  if (!call.body.is_object() || !call.body.contains(key) || call.body[key].is_null()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat("missing field '", key, "'"));
    return std::string();
  }
  if (!call.body[key].is_string())
    return absl::InvalidArgumentError(absl::StrCat("field '", key, "' must be a string"));
  return call.body[key].get<std::string>();
}

std::string TimeString(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

void AddSystemRoutes(Api* api, std::vector<Route>* routes) {
  Route r;
  r.tag = "system";
  r.auth = false;
  r.rate_class = RateClass::kNone;

  r.method = "GET";
  r.path = "/health";
  r.summary = "Liveness: the process answers";
  r.response_schema = Schema("status:string");
  r.handler = [](Call& call) {
    call.Reply({{"status", "ok"}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/ready";
  r.summary = "Readiness: the store answers and the server is not shutting down";
  r.response_schema = Schema("status:string, store_sequence:integer");
  r.handler = [api](Call& call) -> absl::Status {
    if (api->stopping) return absl::UnavailableError("shutting down");
    auto seq = api->kernel->store()->LastSequence();
    if (!seq.ok())
      return absl::UnavailableError(absl::StrCat("store not ready: ", seq.status().message()));
    call.Reply({{"status", "ready"}, {"store_sequence", *seq}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/metrics";
  r.summary = "Prometheus metrics: kernel metrics plus per-route HTTP counters and latency";
  r.response_schema = {{"type", "string"}};
  r.response_content_type = "text/plain";
  r.handler = [api](Call& call) {
    call.res.status = 200;
    call.res.set_content(api->kernel->telemetry()->metrics()->RenderPrometheus(),
                         "text/plain; version=0.0.4");
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.response_content_type = "application/json";

  auto started = std::make_shared<absl::Time>(absl::Now());
  r.path = "/api/v1/info";
  r.summary = "Server name, environment, uptime and agents";
  r.response_schema = Schema("name:string, environment:string, uptime_seconds:integer");
  r.handler = [api, started](Call& call) {
    call.Reply({{"name", "kos-server"},
                {"environment", EnvironmentName(api->kernel->config().environment)},
                {"uptime_seconds", absl::ToInt64Seconds(absl::Now() - *started)},
                {"agents", api->kernel->agents().size()}});
    return absl::OkStatus();
  };
  routes->push_back(r);
}

}  // namespace kos::server
