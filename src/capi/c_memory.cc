// C API: kos_memory_* and kos_search_result_* (kos/memory.h).
#include "absl/strings/str_cat.h"
#include "capi/c_internal.h"
#include "kos/vector_index.h"

using kos::capi::CopyOut;
using kos::capi::Guard;
using kos::capi::JsonArg;
using kos::capi::Report;
using kos::capi::Require;
using kos::capi::SetError;
using kos::capi::Str;
using kos::capi::TimeJson;

namespace {

using kos::Json;

absl::Status OnlyKeys(const Json& j, const char* what, std::initializer_list<const char*> keys) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(what, ": expected an object"));
  for (const auto& item : j.items()) {
    bool known = false;
    for (const char* k : keys) known = known || item.key() == k;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": unknown key '", item.key().substr(0, 64), "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> IntField(const Json& j, const char* what, const char* key,
                                 int64_t fallback) {
  if (!j.contains(key)) return fallback;
  auto v = kos::GetInt(j, key, what);
  return v;
}

absl::StatusOr<double> NumberField(const Json& j, const char* what, const char* key,
                                   double fallback) {
  if (!j.contains(key)) return fallback;
  return kos::GetNumber(j, key, what);
}

absl::StatusOr<bool> BoolField(const Json& j, const char* what, const char* key, bool fallback) {
  if (!j.contains(key)) return fallback;
  return kos::GetBool(j, key, what);
}

absl::StatusOr<kos::NamespaceConfig> ParseNamespaceConfig(const char* name,
                                                          const char* config_json) {
  const char* what = "config_json";
  KOS_ASSIGN_OR_RETURN(Json j, JsonArg(config_json, what, Json::object()));
  KOS_RETURN_IF_ERROR(OnlyKeys(j, what,
                               {"dimension", "metric", "index", "m", "ef_construction", "ef_search",
                                "default_ttl_seconds", "nlist", "nprobe", "ivf_train_size"}));
  kos::NamespaceConfig c;
  c.name = std::string(Str(name));
  KOS_ASSIGN_OR_RETURN(int64_t dimension, IntField(j, what, "dimension", 0));
  KOS_ASSIGN_OR_RETURN(int64_t m, IntField(j, what, "m", c.m));
  KOS_ASSIGN_OR_RETURN(int64_t efc, IntField(j, what, "ef_construction", c.ef_construction));
  KOS_ASSIGN_OR_RETURN(int64_t efs, IntField(j, what, "ef_search", c.ef_search));
  KOS_ASSIGN_OR_RETURN(int64_t ttl, IntField(j, what, "default_ttl_seconds", 0));
  KOS_ASSIGN_OR_RETURN(int64_t nlist, IntField(j, what, "nlist", c.nlist));
  KOS_ASSIGN_OR_RETURN(int64_t nprobe, IntField(j, what, "nprobe", c.nprobe));
  KOS_ASSIGN_OR_RETURN(int64_t train, IntField(j, what, "ivf_train_size", c.ivf_train_size));
  for (int64_t v : {dimension, m, efc, efs, ttl, nlist, nprobe, train}) {
    if (v < 0 || v > (int64_t{1} << 30)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": numbers must be in 0..2^30"));
    }
  }
  c.dimension = static_cast<int>(dimension);
  c.m = static_cast<int>(m);
  c.ef_construction = static_cast<int>(efc);
  c.ef_search = static_cast<int>(efs);
  c.default_ttl = absl::Seconds(ttl);
  c.nlist = static_cast<int>(nlist);
  c.nprobe = static_cast<int>(nprobe);
  c.ivf_train_size = static_cast<int>(train);
  if (j.contains("metric")) {
    KOS_ASSIGN_OR_RETURN(std::string s, kos::GetString(j, "metric", what));
    KOS_ASSIGN_OR_RETURN(c.metric, kos::ParseMetric(s));
  }
  if (j.contains("index")) {
    KOS_ASSIGN_OR_RETURN(std::string s, kos::GetString(j, "index", what));
    KOS_ASSIGN_OR_RETURN(c.index, kos::ParseIndexKind(s));
  }
  return c;
}

absl::StatusOr<kos::RecallOptions> ParseRecallOptions(const char* options_json) {
  const char* what = "options_json";
  KOS_ASSIGN_OR_RETURN(Json j, JsonArg(options_json, what, Json::object()));
  KOS_RETURN_IF_ERROR(OnlyKeys(j, what,
                               {"w_similarity", "w_recency", "w_importance", "half_life_seconds",
                                "candidate_multiplier", "mmr", "mmr_lambda", "touch"}));
  kos::RecallOptions o;
  KOS_ASSIGN_OR_RETURN(o.w_similarity, NumberField(j, what, "w_similarity", o.w_similarity));
  KOS_ASSIGN_OR_RETURN(o.w_recency, NumberField(j, what, "w_recency", o.w_recency));
  KOS_ASSIGN_OR_RETURN(o.w_importance, NumberField(j, what, "w_importance", o.w_importance));
  KOS_ASSIGN_OR_RETURN(double half_life, NumberField(j, what, "half_life_seconds", 86400));
  if (!(half_life > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ".half_life_seconds: must be > 0"));
  }
  o.recency_half_life = absl::Seconds(half_life);
  KOS_ASSIGN_OR_RETURN(int64_t mult, IntField(j, what, "candidate_multiplier", 4));
  if (mult < 1 || mult > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ".candidate_multiplier: must be in 1..1000"));
  }
  o.candidate_multiplier = static_cast<size_t>(mult);
  KOS_ASSIGN_OR_RETURN(o.mmr, BoolField(j, what, "mmr", o.mmr));
  KOS_ASSIGN_OR_RETURN(o.mmr_lambda, NumberField(j, what, "mmr_lambda", o.mmr_lambda));
  KOS_ASSIGN_OR_RETURN(o.touch, BoolField(j, what, "touch", o.touch));
  return o;
}

absl::StatusOr<kos::SearchRequest> MakeRequest(const char* ns, const char* query_text, size_t k,
                                               const char* filter_json) {
  kos::SearchRequest r;
  r.ns = std::string(Str(ns));
  r.text = std::string(Str(query_text));
  r.k = k;
  KOS_ASSIGN_OR_RETURN(r.filter, JsonArg(filter_json, "filter_json", nullptr));
  return r;
}

kos_search_result_t* MakeResult(std::vector<kos::SearchHit> hits) {
  auto result = std::make_unique<kos_search_result_t>();
  for (const auto& h : hits) result->metadata.push_back(kos::DumpJson(h.record.metadata));
  result->hits = std::move(hits);
  return result.release();
}

Json RecordJson(const kos::MemoryRecord& r) {
  return {{"id", r.id},
          {"text", r.text},
          {"metadata", r.metadata},
          {"importance", r.importance},
          {"created", TimeJson(r.created)},
          {"accessed", TimeJson(r.accessed)},
          {"expires", TimeJson(r.expires)}};
}

bool InRange(const kos_search_result_t* result, size_t i) {
  return result != nullptr && i < result->hits.size();
}

}  // namespace

extern "C" {

kos_memory_t* kos_memory_open(kos_store_t* store, int embedding_dimension, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_memory_t*>(nullptr), [&]() -> kos_memory_t* {
    if (!Require(store, "store", errptr)) return nullptr;
    auto m = std::make_unique<kos_memory_t>();
    kos::HashingEmbedderOptions eo;
    if (embedding_dimension != 0) eo.dimension = embedding_dimension;
    auto embedder = kos::HashingEmbedder::Open(eo);
    if (!embedder.ok()) return SetError(errptr, embedder.status()), nullptr;
    m->embedder = std::move(*embedder);
    kos::MemoryOptions mo;
    mo.store = store->rep.get();
    mo.embedder = m->embedder.get();
    auto memory = kos::Memory::Open(mo);
    if (!memory.ok()) return SetError(errptr, memory.status()), nullptr;
    m->rep = std::move(*memory);
    return m.release();
  });
}

void kos_memory_close(kos_memory_t* memory) {
  Guard(__func__, nullptr, 0, [&] {
    delete memory;
    return 0;
  });
}

kos_code_t kos_memory_create_namespace(kos_memory_t* memory, const char* name,
                                       const char* config_json, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(memory, "memory", errptr)) return KOS_INVALID_ARGUMENT;
    auto config = ParseNamespaceConfig(name, config_json);
    if (!config.ok()) return Report(errptr, config.status());
    return Report(errptr, memory->rep->CreateNamespace(*config));
  });
}

char* kos_memory_add(kos_memory_t* memory, const char* ns, const char* id, const char* text,
                     const char* metadata_json, double importance, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(memory, "memory", errptr)) return nullptr;
    auto metadata = JsonArg(metadata_json, "metadata_json", Json::object());
    if (!metadata.ok()) return SetError(errptr, metadata.status()), nullptr;
    if (!(importance >= 0 && importance <= 1)) {
      SetError(errptr, absl::InvalidArgumentError("importance must be in 0..1"));
      return nullptr;
    }
    kos::MemoryRecord record;
    record.id = std::string(Str(id));
    record.text = std::string(Str(text));
    record.metadata = std::move(*metadata);
    record.importance = importance;
    auto added = memory->rep->Add(Str(ns), std::move(record));
    if (!added.ok()) return SetError(errptr, added.status()), nullptr;
    return CopyOut(*added, nullptr, errptr);
  });
}

char* kos_memory_get(kos_memory_t* memory, const char* ns, const char* id, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(memory, "memory", errptr)) return nullptr;
    auto r = memory->rep->Get(Str(ns), Str(id));
    if (!r.ok()) return SetError(errptr, r.status()), nullptr;
    return CopyOut(kos::DumpJson(RecordJson(*r)), nullptr, errptr);
  });
}

kos_code_t kos_memory_delete(kos_memory_t* memory, const char* ns, const char* id, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(memory, "memory", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, memory->rep->Delete(Str(ns), Str(id)));
  });
}

kos_search_result_t* kos_memory_search(kos_memory_t* memory, const char* ns, const char* query_text,
                                       size_t k, const char* filter_json, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_search_result_t*>(nullptr),
               [&]() -> kos_search_result_t* {
                 if (!Require(memory, "memory", errptr)) return nullptr;
                 auto request = MakeRequest(ns, query_text, k, filter_json);
                 if (!request.ok()) return SetError(errptr, request.status()), nullptr;
                 auto hits = memory->rep->Search(*request);
                 if (!hits.ok()) return SetError(errptr, hits.status()), nullptr;
                 return MakeResult(std::move(*hits));
               });
}

kos_search_result_t* kos_memory_recall(kos_memory_t* memory, const char* ns, const char* query_text,
                                       size_t k, const char* filter_json, const char* options_json,
                                       char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_search_result_t*>(nullptr),
               [&]() -> kos_search_result_t* {
                 if (!Require(memory, "memory", errptr)) return nullptr;
                 auto request = MakeRequest(ns, query_text, k, filter_json);
                 if (!request.ok()) return SetError(errptr, request.status()), nullptr;
                 auto options = ParseRecallOptions(options_json);
                 if (!options.ok()) return SetError(errptr, options.status()), nullptr;
                 auto hits = memory->rep->Recall(*request, *options);
                 if (!hits.ok()) return SetError(errptr, hits.status()), nullptr;
                 return MakeResult(std::move(*hits));
               });
}

size_t kos_search_result_count(const kos_search_result_t* result) {
  return result == nullptr ? 0 : result->hits.size();
}

const char* kos_search_result_id(const kos_search_result_t* result, size_t i) {
  return InRange(result, i) ? result->hits[i].record.id.c_str() : nullptr;
}

const char* kos_search_result_text(const kos_search_result_t* result, size_t i) {
  return InRange(result, i) ? result->hits[i].record.text.c_str() : nullptr;
}

const char* kos_search_result_metadata(const kos_search_result_t* result, size_t i) {
  return InRange(result, i) ? result->metadata[i].c_str() : nullptr;
}

double kos_search_result_score(const kos_search_result_t* result, size_t i) {
  return InRange(result, i) ? result->hits[i].score : 0;
}

double kos_search_result_similarity(const kos_search_result_t* result, size_t i) {
  return InRange(result, i) ? result->hits[i].similarity : 0;
}

char* kos_search_result_json(const kos_search_result_t* result, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(result, "result", errptr)) return nullptr;
    Json out = Json::array();
    for (const auto& h : result->hits) {
      out.push_back({{"id", h.record.id},
                     {"text", h.record.text},
                     {"metadata", h.record.metadata},
                     {"importance", h.record.importance},
                     {"similarity", h.similarity},
                     {"score", h.score}});
    }
    return CopyOut(kos::DumpJson(out), nullptr, errptr);
  });
}

void kos_search_result_destroy(kos_search_result_t* result) { delete result; }

}  // extern "C"
