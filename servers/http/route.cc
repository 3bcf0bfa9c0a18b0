#include "http/route.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kos::server {

const char* RateClassName(RateClass c) {
  switch (c) {
    case RateClass::kAuth:
      return "auth";
    case RateClass::kApi:
      return "api";
    default:
      return "none";
  }
}

const std::string& Call::Param(const std::string& name) const {
  static const std::string* const kEmpty = new std::string();
  auto it = params.find(name);
  return it == params.end() ? *kEmpty : it->second;
}

std::string Call::Query(const std::string& name, const std::string& fallback) const {
  return req.has_param(name) ? req.get_param_value(name) : fallback;
}

absl::StatusOr<int64_t> Call::QueryInt(const std::string& name, int64_t fallback, int64_t lo,
                                       int64_t hi) const {
  if (!req.has_param(name)) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(req.get_param_value(name), &v) || v < lo || v > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter '", name, "' must be an integer in [", lo, ", ", hi, "]"));
  }
  return v;
}

void Call::Reply(const Json& body, int status) { ReplyJsonText(DumpJson(body), status); }

void Call::ReplyJsonText(std::string json, int status) {
  res.status = status != 0 ? status : route.success_status;
  // httplib's set_content copies its argument; the body is moved in instead.
  res.body = std::move(json);
  res.headers.erase("Content-Type");  // a multimap: set_header alone would add a second
  res.set_header("Content-Type", "application/json");
}

namespace {

Json TypeSchema(absl::string_view type) {
  type = absl::StripAsciiWhitespace(type);
  if (absl::ConsumePrefix(&type, "[") && absl::ConsumeSuffix(&type, "]")) {
    return ArrayOf(TypeSchema(type));
  }
  if (type == "any") return Json::object();
  if (type == "object") return {{"type", "object"}, {"additionalProperties", true}};
  return {{"type", std::string(type)}};
}

}  // namespace

Json ArrayOf(Json item) { return {{"type", "array"}, {"items", std::move(item)}}; }

Json Schema(absl::string_view fields) {
  Json props = Json::object();
  Json required = Json::array();
  for (absl::string_view f : absl::StrSplit(fields, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(f, absl::MaxSplits(':', 1));
    absl::string_view name = absl::StripAsciiWhitespace(kv.first);
    bool optional = absl::ConsumeSuffix(&name, "?");
    props[std::string(name)] = TypeSchema(kv.second);
    if (!optional) required.push_back(std::string(name));
  }
  Json s = {{"type", "object"}, {"properties", props}};
  if (!required.empty()) s["required"] = required;
  return s;
}

std::string PathRegex(const std::string& path, std::vector<std::string>* names) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '{') {
      size_t end = path.find('}', i);
      std::string name = path.substr(i + 1, end - i - 1);
      bool multi = absl::EndsWith(name, "...");
      if (multi) name.resize(name.size() - 3);
      names->push_back(name);
      out += multi ? "(.+)" : "([^/]+)";
      i = end + 1;
      continue;
    }
    char c = path[i++];
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string OpenApiPath(const std::string& path) {
  std::string out = path;
  size_t pos;
  while ((pos = out.find("...}")) != std::string::npos) out.erase(pos, 3);
  return out;
}

}  // namespace kos::server
