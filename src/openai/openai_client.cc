#include "openai/openai_client.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "httplib.h"

namespace kos::openai {

absl::StatusOr<Client> Client::Create(absl::string_view base_url, absl::string_view endpoint,
                                      std::string api_key, absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration())
    return absl::InvalidArgumentError("timeout must be positive");
  std::string base(base_url);
  while (absl::EndsWith(base, "/")) base.pop_back();
  if (!absl::StartsWith(base, "http://") && !absl::StartsWith(base, "https://")) {
    return absl::InvalidArgumentError("base_url must start with http:// or https://");
  }
  const size_t scheme_end = base.find("://") + 3;
  const size_t path_start = base.find('/', scheme_end);
  Client c;
  c.host_ = base.substr(0, path_start);
  if (c.host_.size() <= scheme_end) return absl::InvalidArgumentError("base_url has no host");
  std::string path = path_start == std::string::npos ? "" : base.substr(path_start);
  c.path_ = absl::StrCat(absl::EndsWith(path, "/v1") ? path : path + "/v1", "/", endpoint);
  c.api_key_ = std::move(api_key);
  c.timeout_ = timeout;
  return c;
}

std::string Client::Scrub(std::string s) const {
  if (s.size() > 300) s.resize(300);
  if (!api_key_.empty()) absl::StrReplaceAll({{api_key_, "[redacted]"}}, &s);
  return s;
}

absl::StatusOr<Json> Client::Post(const Json& body) const {
  std::optional<httplib::Result> result;
  try {
    httplib::Client cli(host_);
    const int64_t us = absl::ToInt64Microseconds(timeout_);
    cli.set_connection_timeout(us / 1000000, us % 1000000);
    cli.set_read_timeout(us / 1000000, us % 1000000);
    cli.set_write_timeout(us / 1000000, us % 1000000);
    httplib::Headers headers;
    if (!api_key_.empty()) headers.emplace("Authorization", "Bearer " + api_key_);
    result.emplace(cli.Post(path_, headers, DumpJson(body), "application/json"));
  } catch (const std::exception& e) {
    return absl::UnavailableError(Scrub(absl::StrCat("request to ", path_, " failed: ", e.what())));
  }
  httplib::Result& res = *result;
  if (!res) {
    return absl::UnavailableError(
        absl::StrCat("server for ", path_, " unreachable: ", httplib::to_string(res.error())));
  }
  const int code = res->status;
  if (code != 200) {
    const std::string msg = Scrub(absl::StrCat(path_, " returned HTTP ", code, ": ", res->body));
    if (code == 401) return absl::UnauthenticatedError(msg);
    if (code == 403) return absl::PermissionDeniedError(msg);
    if (code == 429) return absl::ResourceExhaustedError(msg);
    if (code >= 400 && code < 500) return absl::InvalidArgumentError(msg);
    return absl::UnavailableError(msg);
  }
  auto j = ParseJson(res->body);
  if (!j.ok()) {
    return absl::InternalError(
        absl::StrCat("malformed response from ", path_, ": ", j.status().message()));
  }
  return *j;
}

}  // namespace kos::openai
