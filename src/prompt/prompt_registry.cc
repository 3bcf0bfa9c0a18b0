#include <algorithm>
#include <cinttypes>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "kos/mustache.h"
#include "kos/prompt.h"
#include "kos/status.h"
#include "prompt/line_diff.h"
#include "prompt/prompt_codec.h"

namespace kos {

using prompt_internal::ApplyDeclarations;
using prompt_internal::DecodeContent;
using prompt_internal::EncodeContent;
using prompt_internal::EncodeMessages;
using prompt_internal::HashHex;
using prompt_internal::ValidateLabel;
using prompt_internal::ValidateTemplateName;

namespace {

constexpr char kLatest[] = "latest";
constexpr char kProduction[] = "production";
// Store-level CAS conflicts from concurrent writers are retried this often
// before the caller sees FAILED_PRECONDITION.
constexpr int kMaxCasAttempts = 16;
constexpr size_t kMaxCallerBytes = 256;
constexpr size_t kMaxAuthorBytes = 256;
constexpr size_t kMaxCommitMessageBytes = 4096;
constexpr size_t kMaxHistoryPage = 1000;
constexpr size_t kMaxNamePage = 1000;

std::string VersionKey(absl::string_view name, int64_t version) {
  return absl::StrFormat("%s/%010d", name, version);
}

// 20 digits hold every uint64, so keys sort in time order.
std::string TimeKey(uint64_t micros) { return absl::StrFormat("%020u", micros); }

uint64_t ClampMicros(absl::Time t) {
  if (t == absl::InfinitePast() || t < absl::UnixEpoch()) return 0;
  if (t == absl::InfiniteFuture()) return UINT64_MAX;
  return static_cast<uint64_t>(absl::ToUnixMicros(t));
}

absl::Status Prefixed(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

absl::Status ValidateFreeText(absl::string_view what, absl::string_view s, size_t max) {
  if (s.size() > max || !IsValidUtf8(s)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be valid UTF-8 of at most ", max, " bytes"));
  }
  return absl::OkStatus();
}

// The per-template record: latest version and labels.
struct Meta {
  int64_t latest = 0;
  std::map<std::string, int64_t> labels;
  int64_t created_us = 0;
  uint64_t record_version = 0;  // Store version for CAS; 0 when absent
};

absl::StatusOr<Meta> DecodeMeta(const Record& r) {
  auto j = ParseJson(r.value);
  if (!j.ok() || !j->is_object() || !j->contains("latest") || !(*j)["latest"].is_number_integer() ||
      !j->contains("labels") || !(*j)["labels"].is_object()) {
    return absl::DataLossError(absl::StrCat("stored template record '", r.key, "' is malformed"));
  }
  Meta m;
  m.latest = (*j)["latest"].get<int64_t>();
  for (const auto& [k, v] : (*j)["labels"].items()) {
    if (!v.is_number_integer()) {
      return absl::DataLossError(absl::StrCat("stored label '", k, "' is malformed"));
    }
    m.labels[k] = v.get<int64_t>();
  }
  if (j->contains("created") && (*j)["created"].is_number_integer()) {
    m.created_us = (*j)["created"].get<int64_t>();
  }
  m.record_version = r.version;
  return m;
}

std::string EncodeMeta(absl::string_view name, const Meta& m, int64_t now_us) {
  Json labels = Json::object();
  for (const auto& [k, v] : m.labels) labels[k] = v;
  return DumpJson(Json{{"name", std::string(name)},
                       {"latest", m.latest},
                       {"labels", std::move(labels)},
                       {"created", m.created_us},
                       {"updated", now_us}});
}

absl::StatusOr<PromptVersion> DecodeVersion(const Record& r) {
  auto j = ParseJson(r.value);
  if (!j.ok() || !j->is_object() || !j->contains("content") || !j->contains("version") ||
      !(*j)["version"].is_number_integer()) {
    return absl::DataLossError(absl::StrCat("stored version record '", r.key, "' is malformed"));
  }
  PromptVersion v;
  v.name = j->value("name", "");
  v.version = (*j)["version"].get<int64_t>();
  KOS_ASSIGN_OR_RETURN(v.content, DecodeContent((*j)["content"]));
  v.author = j->value("author", "");
  v.commit_message = j->value("message", "");
  v.created = absl::FromUnixMicros(j->value("created", int64_t{0}));
  v.hash = j->value("hash", "");
  return v;
}

absl::StatusOr<RenderRecord> DecodeRenderRecord(const Record& r) {
  auto j = ParseJson(r.value);
  if (!j.ok() || !j->is_object()) {
    return absl::DataLossError(absl::StrCat("stored render record '", r.key, "' is malformed"));
  }
  RenderRecord rec;
  rec.id = j->value("id", "");
  rec.name = j->value("name", "");
  rec.version = j->value("version", int64_t{0});
  rec.template_hash = j->value("template_hash", "");
  rec.input_hash = j->value("input_hash", "");
  rec.output_hash = j->value("output_hash", "");
  rec.caller = j->value("caller", "");
  rec.time = absl::FromUnixMicros(j->value("time", int64_t{0}));
  if (j->contains("output") && (*j)["output"].is_string()) {
    rec.output = (*j)["output"].get<std::string>();
  }
  rec.output_truncated = j->value("output_truncated", false);
  return rec;
}

// Longest prefix of `s` of at most `max` bytes that does not split a UTF-8
// sequence.
absl::string_view Utf8Prefix(absl::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

// A loaded, compiled version. Immutable once built.
struct PromptRegistry::Compiled {
  PromptVersion version;
  std::shared_ptr<const MustacheTemplate> text;
  std::vector<std::shared_ptr<const MustacheTemplate>> messages;
};

// Resolves {{>name}} to another template's production (else latest) version
// for the duration of one render.
class PromptRegistry::Partials : public MustachePartials {
 public:
  explicit Partials(PromptRegistry* registry) : registry_(registry) {}

  absl::StatusOr<std::shared_ptr<const MustacheTemplate>> Find(absl::string_view name) override {
    auto it = memo_.find(name);
    if (it != memo_.end()) return it->second;
    std::shared_ptr<const MustacheTemplate> found;
    if (ValidateTemplateName(name).ok()) {
      absl::StatusOr<Record> rec = registry_->GetMeta(name);
      if (rec.ok()) {
        KOS_ASSIGN_OR_RETURN(Meta meta, DecodeMeta(*rec));
        auto label = meta.labels.find(kProduction);
        int64_t version = label != meta.labels.end() ? label->second : meta.latest;
        KOS_ASSIGN_OR_RETURN(auto compiled, registry_->Load(name, version));
        if (compiled->text == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("partial '", name, "' is a chat template; partials must be text"));
        }
        found = compiled->text;
      } else if (!absl::IsNotFound(rec.status())) {
        return rec.status();
      }
    }
    memo_.emplace(std::string(name), found);
    return found;
  }

 private:
  PromptRegistry* registry_;
  absl::flat_hash_map<std::string, std::shared_ptr<const MustacheTemplate>> memo_;
};

absl::StatusOr<std::unique_ptr<PromptRegistry>> PromptRegistry::Open(const Options& options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("PromptRegistry needs a store");
  if (options.clock == nullptr) return absl::InvalidArgumentError("PromptRegistry needs a clock");
  for (const char* suffix : {"_templates", "_versions", "_history"}) {
    KOS_RETURN_IF_ERROR(ValidateCollectionName(absl::StrCat(options.collection_prefix, suffix)));
  }
  return std::unique_ptr<PromptRegistry>(new PromptRegistry(options));
}

PromptRegistry::PromptRegistry(const Options& options)
    : options_(options),
      templates_collection_(absl::StrCat(options.collection_prefix, "_templates")),
      versions_collection_(absl::StrCat(options.collection_prefix, "_versions")),
      history_collection_(absl::StrCat(options.collection_prefix, "_history")),
      ids_(options.clock) {}

PromptRegistry::~PromptRegistry() = default;

absl::StatusOr<Record> PromptRegistry::GetMeta(absl::string_view name) {
  absl::StatusOr<Record> r = options_.store->Get(templates_collection_, name);
  if (absl::IsNotFound(r.status())) {
    return absl::NotFoundError(absl::StrCat("template '", name, "' not found"));
  }
  return r;
}

absl::StatusOr<PromptVersion> PromptRegistry::Save(absl::string_view name,
                                                   const PromptContent& content,
                                                   const SavePromptOptions& options) {
  KOS_RETURN_IF_ERROR(ValidateTemplateName(name));
  KOS_RETURN_IF_ERROR(prompt_internal::ValidateContent(content, options_.max_template_bytes));
  KOS_RETURN_IF_ERROR(ValidateFreeText("author", options.author, kMaxAuthorBytes));
  KOS_RETURN_IF_ERROR(
      ValidateFreeText("commit message", options.commit_message, kMaxCommitMessageBytes));
  for (const std::string& label : options.labels) {
    KOS_RETURN_IF_ERROR(ValidateLabel(label));
    if (label == kLatest) {
      return absl::InvalidArgumentError("label 'latest' moves on save and cannot be set");
    }
  }
  // Refuse templates that would fail at render time anyway.
  if (content.messages.empty()) {
    absl::Status s = MustacheTemplate::Compile(content.text).status();
    if (!s.ok()) return Prefixed(s, "template: ");
  }
  for (size_t i = 0; i < content.messages.size(); ++i) {
    absl::Status s = MustacheTemplate::Compile(content.messages[i].content).status();
    if (!s.ok()) return Prefixed(s, absl::StrCat("message ", i + 1, ": "));
  }
  const Json content_json = EncodeContent(content);
  const std::string content_hash = HashHex(DumpJson(content_json));

  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    const absl::Time now = options_.clock->Now();
    const int64_t now_us = absl::ToUnixMicros(now);
    Meta meta;
    absl::StatusOr<Record> rec = GetMeta(name);
    if (rec.ok()) {
      KOS_ASSIGN_OR_RETURN(meta, DecodeMeta(*rec));
    } else if (absl::IsNotFound(rec.status())) {
      meta.created_us = now_us;
    } else {
      return rec.status();
    }
    if (options.expected_latest_version.has_value() &&
        *options.expected_latest_version != meta.latest) {
      return absl::FailedPreconditionError(absl::StrCat("template '", name, "' is at version ",
                                                        meta.latest, ", expected ",
                                                        *options.expected_latest_version));
    }
    PromptVersion v;
    v.name = std::string(name);
    v.version = meta.latest + 1;
    v.content = content;
    v.author = options.author;
    v.commit_message = options.commit_message;
    v.created = absl::FromUnixMicros(now_us);
    v.hash = content_hash;
    Json vj = {{"name", v.name},      {"version", v.version},        {"content", content_json},
               {"author", v.author},  {"message", v.commit_message}, {"created", now_us},
               {"hash", content_hash}};
    meta.latest = v.version;
    meta.labels[kLatest] = v.version;
    for (const std::string& label : options.labels) meta.labels[label] = v.version;
    absl::StatusOr<std::vector<WriteResult>> done = options_.store->Commit(
        {WriteOp::Put(versions_collection_, VersionKey(name, v.version), DumpJson(vj), 0),
         WriteOp::Put(templates_collection_, std::string(name), EncodeMeta(name, meta, now_us),
                      meta.record_version)});
    if (done.ok()) return v;
    if (!absl::IsFailedPrecondition(done.status())) return done.status();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("template '", name, "' is being saved concurrently; try again"));
}

absl::StatusOr<int64_t> PromptRegistry::Resolve(absl::string_view name, const PromptRef& ref) {
  KOS_RETURN_IF_ERROR(ValidateTemplateName(name));
  if (ref.version > 0) return ref.version;
  if (ref.version < 0) {
    return absl::InvalidArgumentError(absl::StrCat("version must be >= 1, got ", ref.version));
  }
  KOS_RETURN_IF_ERROR(ValidateLabel(ref.label));
  KOS_ASSIGN_OR_RETURN(Record rec, GetMeta(name));
  KOS_ASSIGN_OR_RETURN(Meta meta, DecodeMeta(rec));
  auto it = meta.labels.find(ref.label);
  if (it == meta.labels.end()) {
    return absl::NotFoundError(
        absl::StrCat("template '", name, "' has no label '", ref.label, "'"));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<const PromptRegistry::Compiled>> PromptRegistry::Load(
    absl::string_view name, int64_t version) {
  const std::string key = VersionKey(name, version);
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
  }
  absl::StatusOr<Record> rec = options_.store->Get(versions_collection_, key);
  if (absl::IsNotFound(rec.status())) {
    return absl::NotFoundError(absl::StrCat("template '", name, "' has no version ", version));
  }
  if (!rec.ok()) return rec.status();
  auto compiled = std::make_shared<Compiled>();
  KOS_ASSIGN_OR_RETURN(compiled->version, DecodeVersion(*rec));
  const PromptContent& c = compiled->version.content;
  // Stored text was checked on save; a failure here means the record changed.
  if (c.messages.empty()) {
    auto t = MustacheTemplate::Compile(c.text);
    if (!t.ok())
      return absl::DataLossError(absl::StrCat("stored template '", key, "' no longer compiles"));
    compiled->text = *std::move(t);
  }
  for (const ChatMessage& m : c.messages) {
    auto t = MustacheTemplate::Compile(m.content);
    if (!t.ok())
      return absl::DataLossError(absl::StrCat("stored template '", key, "' no longer compiles"));
    compiled->messages.push_back(*std::move(t));
  }
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= options_.compiled_cache_size) cache_.clear();
  if (options_.compiled_cache_size > 0) cache_.emplace(key, compiled);
  return std::shared_ptr<const Compiled>(std::move(compiled));
}

absl::StatusOr<PromptVersion> PromptRegistry::Get(absl::string_view name, const PromptRef& ref) {
  KOS_ASSIGN_OR_RETURN(int64_t version, Resolve(name, ref));
  KOS_ASSIGN_OR_RETURN(auto compiled, Load(name, version));
  return compiled->version;
}

absl::Status PromptRegistry::MutateLabel(absl::string_view name, absl::string_view label,
                                         std::optional<int64_t> version,
                                         std::optional<int64_t> expected) {
  KOS_RETURN_IF_ERROR(ValidateTemplateName(name));
  KOS_RETURN_IF_ERROR(ValidateLabel(label));
  if (label == kLatest) {
    return absl::InvalidArgumentError("label 'latest' moves on save and cannot be changed");
  }
  if (expected.has_value() && *expected < 0) {
    return absl::InvalidArgumentError("expected version must be >= 0");
  }
  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    KOS_ASSIGN_OR_RETURN(Record rec, GetMeta(name));
    KOS_ASSIGN_OR_RETURN(Meta meta, DecodeMeta(rec));
    auto it = meta.labels.find(std::string(label));
    const int64_t current = it == meta.labels.end() ? 0 : it->second;
    if (expected.has_value() && *expected != current) {
      return absl::FailedPreconditionError(absl::StrCat(
          "label '", label, "' of template '", name, "' ",
          current == 0 ? std::string("is not set") : absl::StrCat("points at version ", current),
          ", expected ",
          *expected == 0 ? std::string("it to be unset") : absl::StrCat("version ", *expected)));
    }
    if (version.has_value()) {
      if (*version < 1 || *version > meta.latest) {
        return absl::NotFoundError(absl::StrCat("template '", name, "' has no version ", *version));
      }
      meta.labels[std::string(label)] = *version;
    } else {
      if (it == meta.labels.end()) {
        return absl::NotFoundError(
            absl::StrCat("template '", name, "' has no label '", label, "'"));
      }
      meta.labels.erase(it);
    }
    const int64_t now_us = absl::ToUnixMicros(options_.clock->Now());
    absl::StatusOr<WriteResult> done = options_.store->Put(
        templates_collection_, name, EncodeMeta(name, meta, now_us), meta.record_version);
    if (done.ok()) return absl::OkStatus();
    if (!absl::IsFailedPrecondition(done.status())) return done.status();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("template '", name, "' is being changed concurrently; try again"));
}

absl::Status PromptRegistry::SetLabel(absl::string_view name, absl::string_view label,
                                      int64_t version, std::optional<int64_t> expected_version) {
  return MutateLabel(name, label, version, expected_version);
}

absl::Status PromptRegistry::DeleteLabel(absl::string_view name, absl::string_view label,
                                         std::optional<int64_t> expected_version) {
  return MutateLabel(name, label, std::nullopt, expected_version);
}

absl::StatusOr<std::map<std::string, int64_t>> PromptRegistry::Labels(absl::string_view name) {
  KOS_RETURN_IF_ERROR(ValidateTemplateName(name));
  KOS_ASSIGN_OR_RETURN(Record rec, GetMeta(name));
  KOS_ASSIGN_OR_RETURN(Meta meta, DecodeMeta(rec));
  return meta.labels;
}

absl::StatusOr<PromptNamePage> PromptRegistry::ListNames(absl::string_view page_token,
                                                         size_t limit) {
  if (limit < 1 || limit > kMaxNamePage) {
    return absl::InvalidArgumentError(absl::StrCat("limit must be 1..", kMaxNamePage));
  }
  ScanOptions so;
  so.page_token = std::string(page_token);
  so.limit = limit;
  so.keys_only = true;
  KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(templates_collection_, so));
  PromptNamePage out;
  for (Record& r : page.records) out.names.push_back(std::move(r.key));
  out.next_page_token = std::move(page.next_page_token);
  return out;
}

absl::StatusOr<std::string> PromptRegistry::Diff(absl::string_view name, int64_t from, int64_t to) {
  KOS_RETURN_IF_ERROR(ValidateTemplateName(name));
  if (from < 1 || to < 1) return absl::InvalidArgumentError("versions must be >= 1");
  KOS_ASSIGN_OR_RETURN(auto a, Load(name, from));
  KOS_ASSIGN_OR_RETURN(auto b, Load(name, to));
  return prompt_internal::UnifiedDiff(prompt_internal::DiffDocument(a->version.content),
                                      prompt_internal::DiffDocument(b->version.content),
                                      absl::StrCat(name, "@", from), absl::StrCat(name, "@", to));
}

absl::StatusOr<RenderedPrompt> PromptRegistry::Render(absl::string_view name, const PromptRef& ref,
                                                      const Json& variables,
                                                      absl::string_view caller) {
  KOS_RETURN_IF_ERROR(ValidateFreeText("caller", caller, kMaxCallerBytes));
  static const Json* const kEmpty = new Json(Json::object());
  const Json& vars = variables.is_null() ? *kEmpty : variables;
  if (!vars.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("variables must be a JSON object, got ", JsonTypeName(vars)));
  }
  KOS_ASSIGN_OR_RETURN(int64_t version, Resolve(name, ref));
  KOS_ASSIGN_OR_RETURN(auto compiled, Load(name, version));
  const std::string where = absl::StrCat("template '", name, "' version ", version, ": ");
  std::optional<Json> filled;
  absl::Status declared = ApplyDeclarations(compiled->version.content.variables, vars, &filled);
  if (!declared.ok()) return Prefixed(declared, where);
  const Json* effective = filled.has_value() ? &*filled : &vars;
  const std::string canonical_inputs = DumpJson(*effective);
  if (canonical_inputs.size() > options_.max_variables_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("variables are ", canonical_inputs.size(),
                                                   " bytes; the limit is ",
                                                   options_.max_variables_bytes));
  }

  Partials partials(this);
  MustacheRenderOptions ro;
  ro.strict = options_.strict;
  ro.html_escape = options_.html_escape;
  ro.partials = &partials;
  ro.max_output_bytes = options_.max_output_bytes;

  RenderedPrompt out;
  out.name = std::string(name);
  out.version = version;
  out.template_hash = compiled->version.hash;
  std::string output_for_hash;
  if (compiled->text != nullptr) {
    absl::Status s = compiled->text->RenderTo(*effective, ro, &out.text);
    if (!s.ok()) return Prefixed(s, where);
    out.output_hash = HashHex(out.text);
  } else {
    const auto& msgs = compiled->version.content.messages;
    for (size_t i = 0; i < msgs.size(); ++i) {
      ChatMessage m;
      m.role = msgs[i].role;
      absl::Status s = compiled->messages[i]->RenderTo(*effective, ro, &m.content);
      if (!s.ok()) {
        return Prefixed(s, absl::StrCat(where, "message ", i + 1, " (", m.role, "): "));
      }
      out.messages.push_back(std::move(m));
    }
    output_for_hash = DumpJson(EncodeMessages(out.messages));
    out.output_hash = HashHex(output_for_hash);
  }
  out.input_hash = HashHex(canonical_inputs);
  if (!options_.record_history) return out;

  const absl::Time now = options_.clock->Now();
  out.history_id = ids_.Next();
  Json rec = {{"id", out.history_id},
              {"name", out.name},
              {"version", version},
              {"template_hash", out.template_hash},
              {"input_hash", out.input_hash},
              {"output_hash", out.output_hash},
              {"caller", std::string(caller)},
              {"time", absl::ToUnixMicros(now)}};
  if (options_.store_outputs) {
    absl::string_view full = compiled->text != nullptr ? absl::string_view(out.text)
                                                       : absl::string_view(output_for_hash);
    absl::string_view kept = Utf8Prefix(full, options_.max_stored_output_bytes);
    rec["output"] = std::string(kept);
    rec["output_truncated"] = kept.size() < full.size();
  }
  const std::string key = absl::StrCat(name, "/", TimeKey(ClampMicros(now)), "/", out.history_id);
  KOS_RETURN_IF_ERROR(
      options_.store->Put(history_collection_, key, DumpJson(rec), 0, options_.history_ttl)
          .status());
  return out;
}

absl::StatusOr<PromptHistoryPage> PromptRegistry::History(const PromptHistoryQuery& query) {
  KOS_RETURN_IF_ERROR(ValidateTemplateName(query.name));
  if (query.limit < 1 || query.limit > kMaxHistoryPage) {
    return absl::InvalidArgumentError(absl::StrCat("limit must be 1..", kMaxHistoryPage));
  }
  PromptHistoryPage out;
  if (query.end <= query.start) return out;
  const uint64_t start_us = ClampMicros(query.start);
  const uint64_t end_us = ClampMicros(query.end);  // exclusive
  if (end_us == 0) return out;
  // Keys are name/<20-digit micros>/id, so the digits shared by the first and
  // last possible key narrow the scan to (about) the requested range.
  const std::string lo = TimeKey(start_us), hi = TimeKey(end_us - 1);
  size_t common = 0;
  while (common < lo.size() && lo[common] == hi[common]) ++common;
  ScanOptions so;
  so.prefix = absl::StrCat(query.name, "/", lo.substr(0, common));
  so.page_token = query.page_token;
  const size_t time_at = query.name.size() + 1;
  while (out.records.size() < query.limit) {
    // Exactly the records still wanted, so the store's token resumes right
    // after the last one returned.
    so.limit = query.limit - out.records.size();
    KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(history_collection_, so));
    for (const Record& r : page.records) {
      uint64_t t = 0;
      if (r.key.size() < time_at + 20 || !absl::SimpleAtoi(r.key.substr(time_at, 20), &t)) {
        return absl::DataLossError(absl::StrCat("malformed history key '", r.key, "'"));
      }
      if (t < start_us) continue;
      if (t >= end_us) return out;  // past the range: no next page
      KOS_ASSIGN_OR_RETURN(RenderRecord rec, DecodeRenderRecord(r));
      out.records.push_back(std::move(rec));
    }
    so.page_token = page.next_page_token;
    if (so.page_token.empty()) break;
  }
  out.next_page_token = so.page_token;
  return out;
}

}  // namespace kos
