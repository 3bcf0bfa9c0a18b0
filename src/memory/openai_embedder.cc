#include <cmath>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "kos/embedder.h"
#include "kos/json.h"
#include "kos/status.h"
#include "openai/openai_client.h"

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
  // Validates base_url now so a bad URL fails at Open, not at the first call.
  KOS_RETURN_IF_ERROR(
      openai::Client::Create(o.base_url, "embeddings", o.api_key, o.timeout).status());
  return std::unique_ptr<OpenAIEmbedder>(new OpenAIEmbedder(o));
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
  KOS_ASSIGN_OR_RETURN(
      openai::Client client,
      openai::Client::Create(options_.base_url, "embeddings", options_.api_key, options_.timeout));
  auto bad = [](absl::string_view why) {
    return absl::InternalError(absl::StrCat("malformed embeddings response: ", why));
  };
  auto j = client.Post({{"model", options_.model}, {"input", texts}});
  if (!j.ok()) return j.status();
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
