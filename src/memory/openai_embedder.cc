#include <httplib.h>

#include <cmath>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "kos/embedder.h"
#include "kos/json.h"
#include "kos/status.h"

namespace kos {

absl::StatusOr<std::unique_ptr<OpenAIEmbedder>> OpenAIEmbedder::Open(
    const OpenAIEmbedderOptions& o) {
  if (o.model.empty()) return absl::InvalidArgumentError("OpenAIEmbedder: model is required");
  if (o.dimension < 1 || o.dimension > 65536) {
    return absl::InvalidArgumentError("OpenAIEmbedder: dimension must be 1..65536");
  }
  if (o.max_batch < 1) return absl::InvalidArgumentError("OpenAIEmbedder: max_batch must be >= 1");
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("OpenAIEmbedder: timeout must be positive");
  }
  std::string base = o.base_url;
  while (absl::EndsWith(base, "/")) base.pop_back();
  const bool http = absl::StartsWith(base, "http://");
  if (!http && !absl::StartsWith(base, "https://")) {
    return absl::InvalidArgumentError(
        "OpenAIEmbedder: base_url must start with http:// or https://");
  }
  const size_t scheme_end = base.find("://") + 3;
  const size_t path_start = base.find('/', scheme_end);
  std::unique_ptr<OpenAIEmbedder> e(new OpenAIEmbedder(o));
  e->host_ = base.substr(0, path_start);
  std::string path = path_start == std::string::npos ? "" : base.substr(path_start);
  e->path_ = absl::EndsWith(path, "/v1") ? path + "/embeddings" : path + "/v1/embeddings";
  if (e->host_.size() <= scheme_end) {
    return absl::InvalidArgumentError("OpenAIEmbedder: base_url has no host");
  }
  return e;
}

absl::StatusOr<std::vector<std::vector<float>>> OpenAIEmbedder::Embed(
    const std::vector<std::string>& texts) {
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) return absl::InvalidArgumentError(absl::StrCat("text ", i, " is empty"));
  }
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (size_t start = 0; start < texts.size(); start += options_.max_batch) {
    std::vector<std::string> part(
        texts.begin() + start, texts.begin() + std::min(texts.size(), start + options_.max_batch));
    KOS_ASSIGN_OR_RETURN(auto vecs, EmbedOne(part));
    for (auto& v : vecs) out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> OpenAIEmbedder::EmbedOne(
    const std::vector<std::string>& texts) const {
  // The key must never reach an error message, even if the server echoes it.
  auto scrub = [&](std::string s) {
    if (s.size() > 300) s.resize(300);
    if (!options_.api_key.empty()) absl::StrReplaceAll({{options_.api_key, "[redacted]"}}, &s);
    return s;
  };
  Json body = {{"model", options_.model}, {"input", texts}};
  std::optional<httplib::Result> result;
  try {
    httplib::Client cli(host_);
    const int64_t us = absl::ToInt64Microseconds(options_.timeout);
    cli.set_connection_timeout(us / 1000000, us % 1000000);
    cli.set_read_timeout(us / 1000000, us % 1000000);
    cli.set_write_timeout(us / 1000000, us % 1000000);
    httplib::Headers headers;
    if (!options_.api_key.empty()) {
      headers.emplace("Authorization", "Bearer " + options_.api_key);
    }
    result.emplace(cli.Post(path_, headers, DumpJson(body), "application/json"));
  } catch (const std::exception& e) {
    return absl::UnavailableError(scrub(absl::StrCat("embedding request failed: ", e.what())));
  }
  httplib::Result& res = *result;
  if (!res) {
    return absl::UnavailableError(
        absl::StrCat("embedding server unreachable: ", httplib::to_string(res.error())));
  }
  const int code = res->status;
  if (code != 200) {
    const std::string msg =
        scrub(absl::StrCat("embedding server returned HTTP ", code, ": ", res->body));
    if (code == 401) return absl::UnauthenticatedError(msg);
    if (code == 403) return absl::PermissionDeniedError(msg);
    if (code == 429) return absl::ResourceExhaustedError(msg);
    if (code >= 400 && code < 500) return absl::InvalidArgumentError(msg);
    return absl::UnavailableError(msg);
  }
  auto bad = [](absl::string_view why) {
    return absl::InternalError(absl::StrCat("malformed embeddings response: ", why));
  };
  auto j = ParseJson(res->body);
  if (!j.ok()) return bad(j.status().message());
  if (!j->is_object() || !j->contains("data") || !(*j)["data"].is_array())
    return bad("no data array");
  const Json& data = (*j)["data"];
  if (data.size() != texts.size()) {
    return bad(absl::StrCat(data.size(), " embeddings for ", texts.size(), " inputs"));
  }
  std::vector<std::vector<float>> out(texts.size());
  std::vector<bool> seen(texts.size(), false);
  for (size_t i = 0; i < data.size(); ++i) {
    const Json& item = data[i];
    if (!item.is_object() || !item.contains("embedding") || !item["embedding"].is_array()) {
      return bad(absl::StrCat("item ", i, " has no embedding array"));
    }
    size_t index = i;
    if (item.contains("index")) {
      if (!item["index"].is_number_unsigned() || item["index"].get<uint64_t>() >= texts.size()) {
        return bad(absl::StrCat("item ", i, " has a bad index"));
      }
      index = item["index"].get<size_t>();
    }
    if (seen[index]) return bad(absl::StrCat("index ", index, " repeated"));
    seen[index] = true;
    const Json& e = item["embedding"];
    if (e.size() != static_cast<size_t>(options_.dimension)) {
      return bad(absl::StrCat("embedding ", index, " has ", e.size(), " components, expected ",
                              options_.dimension));
    }
    out[index].reserve(e.size());
    for (const Json& x : e) {
      if (!x.is_number()) return bad("non-numeric component");
      const double v = x.get<double>();
      if (!std::isfinite(v)) return bad("non-finite component");
      out[index].push_back(static_cast<float>(v));
    }
  }
  return out;
}

}  // namespace kos
