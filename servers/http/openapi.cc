#include "http/openapi.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace kos::server {

Json BuildOpenApi(const std::vector<Route>& routes) {
  Json error_schema = {{"type", "object"},
                       {"required", {"error"}},
                       {"properties", {{"error", Schema("code:string, message:string")}}}};
  Json spec = {{"openapi", "3.0.3"},
               {"info",
                {{"title", "kOS API"},
                 {"version", "1.0.0"},
                 {"description", "The kos-server HTTP API over libkos (see docs/http-api.md)."}}},
               {"paths", Json::object()},
               {"components",
                {{"schemas", {{"Error", error_schema}}},
                 {"securitySchemes",
                  {{"bearer", {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}}},
                   {"apiKey",
                    {{"type", "http"},
                     {"scheme", "bearer"},
                     {"description", "An API key kos_<prefix>_<secret> as the bearer token"}}}}}}}};
  Json error_ref = {{"$ref", "#/components/schemas/Error"}};
  for (const Route& r : routes) {
    Json op = {{"summary", r.summary},
               {"operationId", absl::StrCat(absl::AsciiStrToLower(r.method), "_", r.path)},
               {"tags", {r.tag}},
               {"x-rate-limit-class", RateClassName(r.rate_class)}};
    std::string access = r.access;
    if (access.empty() && !r.resource.empty())
      access = absl::StrCat("RBAC: ", r.resource, " ", r.action);
    if (!access.empty()) op["x-kos-access"] = access;
    op["security"] = r.auth
                         ? Json::array({{{"bearer", Json::array()}}, {{"apiKey", Json::array()}}})
                         : Json::array();
    Json params = Json::array();
    std::vector<std::string> names;
    PathRegex(r.path, &names);
    for (const auto& n : names) {
      params.push_back(
          {{"name", n}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    }
    if (!params.empty()) op["parameters"] = params;
    if (r.form_body) {
      op["requestBody"] = {
          {"required", true},
          {"content", {{"application/x-www-form-urlencoded", {{"schema", r.request_schema}}}}}};
    } else if (r.raw_body) {
      op["requestBody"] = {
          {"required", true},
          {"content", {{"*/*", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}};
    } else if (!r.request_schema.is_null()) {
      op["requestBody"] = {{"required", true},
                           {"content", {{"application/json", {{"schema", r.request_schema}}}}}};
    }
    Json ok_schema = r.response_schema.is_null() ? Json::object() : r.response_schema;
    Json responses = {{std::to_string(r.success_status),
                       {{"description", "Success"},
                        {"content", {{r.response_content_type, {{"schema", ok_schema}}}}}}}};
    Json err = {{"description", "Error"},
                {"content", {{"application/json", {{"schema", error_ref}}}}}};
    responses["400"] = err;
    if (r.auth) {
      responses["401"] = err;
      responses["403"] = err;
    }
    responses["429"] = err;
    responses["default"] = err;
    op["responses"] = responses;
    spec["paths"][OpenApiPath(r.path)][absl::AsciiStrToLower(r.method)] = op;
  }
  return spec;
}

}  // namespace kos::server
