#include "kos/memory.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <tuple>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kos/status.h"
#include "memory/filter.h"
#include "memory/index_impls.h"
#include "memory/keyword_index.h"
#include "memory/payload_index.h"

namespace kos {

using memory_internal::Filter;
using memory_internal::GetPod;
using memory_internal::LabelBitmap;
using memory_internal::PutPod;

namespace {

constexpr char kNsCollection[] = "mem_ns";
constexpr char kRecCollection[] = "mem_rec";
// Links: key "<ns>#<from>#<type>#<to>", empty value. '#' appears in none of
// the parts, so the key splits back unambiguously.
constexpr char kLinkCollection[] = "mem_link";
// Separates namespace and record id in Store keys; never valid in either, so
// a prefix scan of "<ns>#" sees exactly that namespace.
constexpr char kKeySep = '#';
constexpr absl::string_view kRecordMagic = "KMR1";
constexpr size_t kStoreBatch = 500;

std::string RecordKey(absl::string_view ns, absl::string_view id) {
  return absl::StrCat(ns, std::string(1, kKeySep), id);
}

constexpr absl::string_view kSavedMagic = "KOSMEMX1";

std::string SavedIndexPath(const std::string& dir, absl::string_view ns) {
  // '~' never occurs in a namespace name, so the mapping is one-to-one.
  std::string file(ns);
  std::replace(file.begin(), file.end(), '/', '~');
  return absl::StrCat(dir, "/", file, ".kmi");
}

std::string LinkKey(absl::string_view ns, absl::string_view from, absl::string_view type,
                    absl::string_view to) {
  const std::string sep(1, kKeySep);
  return absl::StrCat(ns, sep, from, sep, type, sep, to);
}

int64_t ToMicros(absl::Time t) {
  if (t == absl::InfiniteFuture()) return INT64_MAX;
  if (t == absl::InfinitePast()) return INT64_MIN;
  return absl::ToUnixMicros(t);
}
absl::Time FromMicros(int64_t m) {
  if (m == INT64_MAX) return absl::InfiniteFuture();
  if (m == INT64_MIN) return absl::InfinitePast();
  return absl::FromUnixMicros(m);
}

absl::Status ValidateRecordId(absl::string_view id) {
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("record id must be 1..128 characters, got ", id.size()));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' &&
        c != '-') {
      return absl::InvalidArgumentError("record id may only contain [A-Za-z0-9_.:-]");
    }
  }
  return absl::OkStatus();
}

Json ConfigToJson(const NamespaceConfig& c) {
  return Json{{"name", c.name},
              {"dimension", c.dimension},
              {"metric", MetricName(c.metric)},
              {"index", IndexKindName(c.index)},
              {"m", c.m},
              {"ef_construction", c.ef_construction},
              {"ef_search", c.ef_search},
              {"nlist", c.nlist},
              {"nprobe", c.nprobe},
              {"ivf_train_size", c.ivf_train_size},
              {"default_ttl_us", absl::ToInt64Microseconds(c.default_ttl)}};
}

absl::StatusOr<NamespaceConfig> ConfigFromJson(const Json& j) {
  NamespaceConfig c;
  KOS_ASSIGN_OR_RETURN(c.name, GetString(j, "name"));
  KOS_ASSIGN_OR_RETURN(int64_t dim, GetInt(j, "dimension"));
  c.dimension = static_cast<int>(dim);
  KOS_ASSIGN_OR_RETURN(std::string metric, GetString(j, "metric"));
  KOS_ASSIGN_OR_RETURN(c.metric, ParseMetric(metric));
  KOS_ASSIGN_OR_RETURN(std::string index, GetString(j, "index"));
  KOS_ASSIGN_OR_RETURN(c.index, ParseIndexKind(index));
  KOS_ASSIGN_OR_RETURN(int64_t m, GetInt(j, "m"));
  KOS_ASSIGN_OR_RETURN(int64_t efc, GetInt(j, "ef_construction"));
  KOS_ASSIGN_OR_RETURN(int64_t efs, GetInt(j, "ef_search"));
  KOS_ASSIGN_OR_RETURN(int64_t ttl, GetInt(j, "default_ttl_us"));
  c.m = static_cast<int>(m);
  c.ef_construction = static_cast<int>(efc);
  c.ef_search = static_cast<int>(efs);
  c.default_ttl = absl::Microseconds(ttl);
  // The IVF fields came later: configs stored before them keep the defaults.
  for (auto [key, field] : {std::pair<const char*, int*>{"nlist", &c.nlist},
                            {"nprobe", &c.nprobe},
                            {"ivf_train_size", &c.ivf_train_size}}) {
    if (!j.contains(key)) continue;
    KOS_ASSIGN_OR_RETURN(int64_t v, GetInt(j, key));
    if (v < 0 || v > (int64_t{1} << 30)) return absl::DataLossError("bad IVF field in config");
    *field = static_cast<int>(v);
  }
  return c;
}

bool SameConfig(const NamespaceConfig& a, const NamespaceConfig& b) {
  return ConfigToJson(a) == ConfigToJson(b);
}

// Store value: magic | u32 header length | JSON header | float32 embedding.
// `metadata_json` is DumpJson(r.metadata), which the caller already made to
// check its size. The header is written as text rather than built as a Json
// document: the document deep-copied the text and metadata, and encoding was
// 15-22% of AddBatch in perf. DecodeRecord parses it as JSON either way.
std::string EncodeRecord(const MemoryRecord& r, absl::string_view metadata_json) {
  std::string out(kRecordMagic);
  out.reserve(kRecordMagic.size() + 4 + 112 + metadata_json.size() + r.text.size() +
              r.embedding.size() * sizeof(float));
  PutPod<uint32_t>(&out, 0);  // header length, patched below
  const size_t start = out.size();
  absl::StrAppend(&out, "{\"accessed\":", ToMicros(r.accessed),
                  ",\"created\":", ToMicros(r.created), ",\"expires\":", ToMicros(r.expires),
                  ",\"importance\":");
  // Shortest text that reads back as the same double (importance is finite).
  char num[32];
  const auto res = std::to_chars(num, num + sizeof(num), r.importance);
  out.append(num, res.ptr);
  absl::StrAppend(&out, ",\"metadata\":", metadata_json, ",\"text\":");
  AppendJsonString(&out, r.text);
  out += '}';
  const uint32_t hlen = static_cast<uint32_t>(out.size() - start);
  memcpy(&out[start - sizeof(hlen)], &hlen, sizeof(hlen));
  out.append(reinterpret_cast<const char*>(r.embedding.data()), r.embedding.size() * sizeof(float));
  return out;
}

absl::StatusOr<MemoryRecord> DecodeRecord(absl::string_view key, absl::string_view value,
                                          int dimension) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("memory record ", key, ": ", why));
  };
  if (!absl::StartsWith(value, kRecordMagic)) return bad("bad magic");
  value.remove_prefix(kRecordMagic.size());
  uint32_t hlen = 0;
  if (!GetPod(&value, &hlen) || value.size() < hlen) return bad("truncated header");
  auto h = ParseJson(value.substr(0, hlen));
  if (!h.ok() || !h->is_object()) return bad("bad header");
  value.remove_prefix(hlen);
  if (value.size() != static_cast<size_t>(dimension) * sizeof(float)) {
    return bad(absl::StrCat("embedding has ", value.size(), " bytes, expected ",
                            dimension * sizeof(float)));
  }
  MemoryRecord r;
  const size_t sep = key.find(kKeySep);
  r.id = std::string(key.substr(sep == absl::string_view::npos ? 0 : sep + 1));
  r.embedding.resize(dimension);
  memcpy(r.embedding.data(), value.data(), value.size());
  auto text = GetString(*h, "text");
  auto created = GetInt(*h, "created");
  auto accessed = GetInt(*h, "accessed");
  auto importance = GetNumber(*h, "importance");
  auto expires = GetInt(*h, "expires");
  if (!text.ok() || !created.ok() || !accessed.ok() || !importance.ok() || !expires.ok() ||
      !h->contains("metadata") || !(*h)["metadata"].is_object()) {
    return bad("header missing fields");
  }
  r.text = *text;
  r.metadata = (*h)["metadata"];
  r.created = FromMicros(*created);
  r.accessed = FromMicros(*accessed);
  r.importance = *importance;
  r.expires = FromMicros(*expires);
  return r;
}

// [0,1] similarity for recall scoring.
double UnitSimilarity(Metric m, float score) {
  if (m == Metric::kL2) return 1.0 / (1.0 + std::max(0.0f, -score));
  return std::clamp((1.0 + score) / 2.0, 0.0, 1.0);
}

}  // namespace

// In-memory state of one namespace. Records are indexed by a dense label
// (reused after deletion) so filter callbacks are an array lookup.
struct Memory::Namespace {
  struct Entry {
    bool live = false;
    std::string id;
    std::string text;
    Json metadata;
    absl::Time created, accessed, expires;
    double importance = 0;
  };

  NamespaceConfig config;
  mutable absl::Mutex mu;
  std::unique_ptr<VectorIndex> index ABSL_GUARDED_BY(mu);
  std::vector<Entry> entries ABSL_GUARDED_BY(mu);
  std::vector<int64_t> free_labels ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, int64_t> by_id ABSL_GUARDED_BY(mu);
  // Metadata values -> labels, so filters are set operations (see payload_index.h).
  memory_internal::PayloadIndex payload ABSL_GUARDED_BY(mu);
  // Record text -> labels, for hybrid search.
  memory_internal::KeywordIndex keywords ABSL_GUARDED_BY(mu);
  // Links as (from, type, to) and reversed as (to, type, from).
  using Edge = std::tuple<std::string, std::string, std::string>;
  absl::btree_set<Edge> out_links ABSL_GUARDED_BY(mu);
  absl::btree_set<Edge> in_links ABSL_GUARDED_BY(mu);

  bool Alive(absl::string_view id, absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    auto it = by_id.find(id);
    return it != by_id.end() && entries[it->second].expires > now;
  }

  // Every link touching `id`, as (from, type, to).
  std::vector<Edge> LinksOf(const std::string& id) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    std::vector<Edge> out;
    for (auto it = out_links.lower_bound({id, "", ""});
         it != out_links.end() && std::get<0>(*it) == id; ++it) {
      out.push_back(*it);
    }
    for (auto it = in_links.lower_bound({id, "", ""});
         it != in_links.end() && std::get<0>(*it) == id; ++it) {
      // A self-link is already in `out`.
      if (std::get<2>(*it) != id) out.emplace_back(std::get<2>(*it), std::get<1>(*it), id);
    }
    return out;
  }

  void InsertLink(const Edge& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    out_links.insert(e);
    in_links.emplace(std::get<2>(e), std::get<1>(e), std::get<0>(e));
  }
  void EraseLink(const Edge& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    out_links.erase(e);
    in_links.erase({std::get<2>(e), std::get<1>(e), std::get<0>(e)});
  }
  // Store deletes for the links of `ids`, and the links themselves.
  std::vector<Edge> CollectLinks(const std::vector<std::string>& ids,
                                 std::vector<WriteOp>* ops) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    absl::flat_hash_set<std::string> seen;
    std::vector<Edge> edges;
    for (const auto& id : ids) {
      for (auto& e : LinksOf(id)) {
        std::string key = LinkKey(config.name, std::get<0>(e), std::get<1>(e), std::get<2>(e));
        if (!seen.insert(key).second) continue;
        ops->push_back(WriteOp::Delete(kLinkCollection, std::move(key)));
        edges.push_back(std::move(e));
      }
    }
    return edges;
  }
  // Live records with a finite expiry; 0 lets searches skip the TTL check.
  size_t expiring ABSL_GUARDED_BY(mu) = 0;
  bool deleted ABSL_GUARDED_BY(mu) = false;

  // How the index was obtained at Open (NamespaceStats::load_note).
  std::string load_note ABSL_GUARDED_BY(mu);

  int64_t Insert(MemoryRecord&& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    int64_t label;
    if (!free_labels.empty()) {
      label = free_labels.back();
      free_labels.pop_back();
    } else {
      label = static_cast<int64_t>(entries.size());
      entries.emplace_back();
    }
    return InsertAt(label, std::move(r));
  }

  // Places a record at a known free label (saved-index reload). The caller
  // keeps free_labels consistent.
  int64_t InsertAt(int64_t label, MemoryRecord&& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (static_cast<size_t>(label) >= entries.size()) entries.resize(label + 1);
    Entry& e = entries[label];
    e.live = true;
    e.id = std::move(r.id);
    e.text = std::move(r.text);
    e.metadata = std::move(r.metadata);
    e.created = r.created;
    e.accessed = r.accessed;
    e.expires = r.expires;
    e.importance = r.importance;
    payload.Add(label, e.metadata);
    keywords.Add(label, e.text);
    if (e.expires != absl::InfiniteFuture()) ++expiring;
    by_id[e.id] = label;
    return label;
  }

  void Erase(int64_t label) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Entry& e = entries[label];
    payload.Remove(label, e.metadata);
    keywords.Remove(label, e.text);
    if (e.expires != absl::InfiniteFuture()) --expiring;
    by_id.erase(e.id);
    e = Entry();
    free_labels.push_back(label);
  }

  MemoryRecord ToRecord(int64_t label, bool with_embedding) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    const Entry& e = entries[label];
    MemoryRecord r;
    r.id = e.id;
    r.text = e.text;
    r.metadata = e.metadata;
    r.created = e.created;
    r.accessed = e.accessed;
    r.expires = e.expires;
    r.importance = e.importance;
    if (with_embedding) {
      r.embedding.resize(config.dimension);
      index->GetVector(label, r.embedding.data()).IgnoreError();
    }
    return r;
  }
};

absl::Status ValidateNamespaceName(absl::string_view name) {
  if (name.empty() || name.size() > 512) {
    return absl::InvalidArgumentError("namespace name must be 1..512 characters");
  }
  std::vector<absl::string_view> segs = absl::StrSplit(name, '/');
  if (segs.size() > 16) return absl::InvalidArgumentError("namespace has more than 16 segments");
  for (absl::string_view s : segs) {
    if (s.empty() || s.size() > 64 || s == "." || s == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("namespace '", name,
                       "': each '/'-separated segment must be 1..64 characters, not . or .."));
    }
    for (char c : s) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
        return absl::InvalidArgumentError(
            absl::StrCat("namespace '", name, "': segments may only contain [A-Za-z0-9_.-]"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFilter(const Json& filter) { return Filter::Compile(filter).status(); }

Memory::Memory(const MemoryOptions& options) : options_(options), ids_(options.clock) {}
Memory::~Memory() {
  if (options_.index_dir.empty()) return;
  absl::Status s = Checkpoint();
  if (!s.ok() && options_.logger != nullptr) {
    options_.logger->Warning("memory.checkpoint_failed", {{"error", std::string(s.message())}});
  }
}

absl::StatusOr<std::unique_ptr<Memory>> Memory::Open(const MemoryOptions& options) {
  if (options.store == nullptr)
    return absl::InvalidArgumentError("MemoryOptions.store is required");
  if (options.clock == nullptr) return absl::InvalidArgumentError("MemoryOptions.clock is null");
  std::unique_ptr<Memory> m(new Memory(options));
  KOS_RETURN_IF_ERROR(m->Load());
  return m;
}

namespace {
absl::StatusOr<std::unique_ptr<VectorIndex>> MakeIndex(const NamespaceConfig& c) {
  VectorIndexOptions o;
  o.dimension = c.dimension;
  o.metric = c.metric;
  o.kind = c.index;
  o.m = c.m;
  o.ef_construction = c.ef_construction;
  o.ef_search = c.ef_search;
  o.nlist = c.nlist;
  o.nprobe = c.nprobe;
  if (c.ivf_train_size < 1) return absl::InvalidArgumentError("ivf_train_size must be >= 1");
  o.ivf_train_size = static_cast<size_t>(c.ivf_train_size);
  return VectorIndex::Create(o);
}
}  // namespace

absl::Status Memory::Load() {
  Store* store = options_.store;
  ScanOptions so;
  so.limit = 1000;
  do {
    KOS_ASSIGN_OR_RETURN(ScanPage page, store->Scan(kNsCollection, so));
    for (const Record& rec : page.records) {
      auto j = ParseJson(rec.value);
      if (!j.ok())
        return absl::DataLossError(absl::StrCat("namespace ", rec.key, ": ", j.status().message()));
      auto cfg = ConfigFromJson(*j);
      if (!cfg.ok())
        return absl::DataLossError(
            absl::StrCat("namespace ", rec.key, ": ", cfg.status().message()));
      auto ns = std::make_shared<Namespace>();
      ns->config = *cfg;
      {
        absl::MutexLock l(&ns->mu);
        std::string why = "no index_dir";
        bool loaded = false;
        if (!options_.index_dir.empty()) {
          absl::Status s = LoadSaved(ns.get());
          loaded = s.ok();
          if (!loaded) {
            why = std::string(s.message());
            if (options_.logger != nullptr && s.code() != absl::StatusCode::kNotFound) {
              options_.logger->Warning("memory.index_rebuild",
                                       {{"namespace", ns->config.name}, {"reason", why}});
            }
            // Start over from nothing: the rebuild below is the ground truth.
            ns->entries.clear();
            ns->free_labels.clear();
            ns->by_id.clear();
            ns->payload = memory_internal::PayloadIndex();
            ns->keywords = memory_internal::KeywordIndex();
            ns->expiring = 0;
          }
        }
        if (!loaded) {
          ns->load_note = absl::StrCat("rebuilt from the store (", why, ")");
          KOS_ASSIGN_OR_RETURN(ns->index, MakeIndex(ns->config));
          ScanOptions ro;
          ro.prefix = RecordKey(ns->config.name, "");
          ro.limit = 1000;
          const int d = ns->config.dimension;
          do {
            KOS_ASSIGN_OR_RETURN(ScanPage rp, store->Scan(kRecCollection, ro));
            std::vector<int64_t> labels;
            std::vector<float> vecs;
            for (const Record& r : rp.records) {
              KOS_ASSIGN_OR_RETURN(MemoryRecord mr, DecodeRecord(r.key, r.value, d));
              vecs.insert(vecs.end(), mr.embedding.begin(), mr.embedding.end());
              labels.push_back(ns->Insert(std::move(mr)));
            }
            if (!labels.empty()) {
              absl::Status s = ns->index->Add(labels, vecs);
              if (!s.ok())
                return absl::DataLossError(absl::StrCat("namespace ", rec.key, ": ", s.message()));
            }
            ro.page_token = rp.next_page_token;
          } while (!ro.page_token.empty());
        }
        KOS_RETURN_IF_ERROR(LoadLinks(ns.get()));
      }
      absl::MutexLock ml(&mu_);
      namespaces_[ns->config.name] = ns;
    }
    so.page_token = page.next_page_token;
  } while (!so.page_token.empty());
  return absl::OkStatus();
}

// Saved file (one framed file, so index and label map can never come from
// different checkpoints): store sequence S | label count | (label, id)* |
// VectorIndex::Save bytes. On load, a record whose Store sequence is <= S is
// exactly what the file holds; newer ones are re-added, vanished ones removed.
absl::Status Memory::SaveNamespace(Namespace* ns) {
  absl::ReaderMutexLock l(&ns->mu);
  if (ns->deleted) return absl::OkStatus();
  // Writers to this namespace commit under ns->mu, which we hold: every write
  // the index reflects has a sequence <= this one, every later write a larger.
  KOS_ASSIGN_OR_RETURN(uint64_t seq, options_.store->LastSequence());
  const std::string path = SavedIndexPath(options_.index_dir, ns->config.name);
  const std::string tmp = absl::StrCat(path, ".vec.tmp");
  KOS_RETURN_IF_ERROR(ns->index->Save(tmp));
  std::string vec;
  {
    std::ifstream f(tmp, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    vec = ss.str();
  }
  std::remove(tmp.c_str());
  std::string payload;
  PutPod<uint64_t>(&payload, seq);
  PutPod<uint64_t>(&payload, ns->by_id.size());
  for (const auto& [id, label] : ns->by_id) {
    PutPod<int64_t>(&payload, label);
    PutPod<uint32_t>(&payload, static_cast<uint32_t>(id.size()));
    payload += id;
  }
  PutPod<uint64_t>(&payload, vec.size());
  payload += vec;
  return memory_internal::WriteFramedFile(path, kSavedMagic, payload);
}

absl::Status Memory::Checkpoint() {
  if (options_.index_dir.empty()) {
    return absl::FailedPreconditionError("Checkpoint needs MemoryOptions.index_dir");
  }
  std::vector<std::shared_ptr<Namespace>> all;
  {
    absl::MutexLock l(&mu_);
    for (auto& [name, ns] : namespaces_) all.push_back(ns);
  }
  for (auto& ns : all) KOS_RETURN_IF_ERROR(SaveNamespace(ns.get()));
  return absl::OkStatus();
}

absl::Status Memory::TrainIndex(absl::string_view name) {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(name));
  absl::MutexLock l(&ns->mu);
  if (ns->deleted) {
    return absl::NotFoundError(absl::StrCat("namespace '", name, "' does not exist"));
  }
  return ns->index->Train();
}

absl::Status Memory::LoadSaved(Namespace* ns) {
  ns->mu.AssertHeld();
  const std::string path = SavedIndexPath(options_.index_dir, ns->config.name);
  KOS_ASSIGN_OR_RETURN(std::string payload, memory_internal::ReadFramedFile(path, kSavedMagic));
  absl::string_view in(payload);
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };
  uint64_t seq = 0, n = 0;
  if (!GetPod(&in, &seq) || !GetPod(&in, &n) || n > in.size() / 12) return bad("bad header");
  absl::flat_hash_map<std::string, int64_t> saved;
  absl::flat_hash_set<int64_t> labels;
  for (uint64_t i = 0; i < n; ++i) {
    int64_t label = 0;
    uint32_t len = 0;
    if (!GetPod(&in, &label) || !GetPod(&in, &len) || in.size() < len || label < 0 ||
        label > (int64_t{1} << 40)) {
      return bad("bad label table");
    }
    std::string id(in.substr(0, len));
    in.remove_prefix(len);
    if (!labels.insert(label).second || !saved.emplace(std::move(id), label).second) {
      return bad("repeated label or id");
    }
  }
  uint64_t veclen = 0;
  if (!GetPod(&in, &veclen) || veclen != in.size()) return bad("bad index length");
  const std::string tmp = absl::StrCat(path, ".load.tmp");
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(in.data(), in.size());
    if (!f) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  KOS_ASSIGN_OR_RETURN(ns->index, MakeIndex(ns->config));
  absl::Status loaded = ns->index->Load(tmp);
  std::remove(tmp.c_str());
  KOS_RETURN_IF_ERROR(loaded);
  if (ns->index->Size() != saved.size()) return bad("index and label table disagree");
  for (const auto& [id, label] : saved) {
    if (!ns->index->Contains(label)) return bad("label missing from the index");
  }
  // Reconcile with the Store.
  const int d = ns->config.dimension;
  ScanOptions ro;
  ro.prefix = RecordKey(ns->config.name, "");
  ro.limit = 1000;
  std::vector<MemoryRecord> fresh;  // new since the checkpoint: labels assigned below
  size_t replayed = 0;
  do {
    KOS_ASSIGN_OR_RETURN(ScanPage rp, options_.store->Scan(kRecCollection, ro));
    for (const Record& r : rp.records) {
      KOS_ASSIGN_OR_RETURN(MemoryRecord mr, DecodeRecord(r.key, r.value, d));
      auto it = saved.find(mr.id);
      if (it == saved.end()) {
        fresh.push_back(std::move(mr));
        continue;
      }
      const int64_t label = it->second;
      saved.erase(it);
      if (r.sequence > seq) {
        // Changed after the checkpoint: replace the vector in place.
        ++replayed;
        std::vector<float> v = mr.embedding;
        KOS_RETURN_IF_ERROR(ns->index->Add({label}, v));
      }
      ns->InsertAt(label, std::move(mr));
    }
    ro.page_token = rp.next_page_token;
  } while (!ro.page_token.empty());
  // Saved records the Store no longer has (deleted or expired since).
  std::vector<int64_t> gone;
  for (const auto& [id, label] : saved) gone.push_back(label);
  KOS_RETURN_IF_ERROR(ns->index->Remove(gone).status());
  for (size_t label = 0; label < ns->entries.size(); ++label) {
    if (!ns->entries[label].live) ns->free_labels.push_back(label);
  }
  std::vector<int64_t> new_labels;
  std::vector<float> vecs;
  for (auto& mr : fresh) {
    vecs.insert(vecs.end(), mr.embedding.begin(), mr.embedding.end());
    new_labels.push_back(ns->Insert(std::move(mr)));
  }
  if (!new_labels.empty()) KOS_RETURN_IF_ERROR(ns->index->Add(new_labels, vecs));
  if (ns->index->Size() != ns->by_id.size()) return bad("index size mismatch after replay");
  ns->load_note =
      absl::StrCat("loaded ", path, " (store sequence ", seq, "); re-added ", replayed,
                   " changed, ", fresh.size(), " new, removed ", gone.size(), " deleted records");
  return absl::OkStatus();
}

absl::Status Memory::LoadLinks(Namespace* ns) {
  ns->mu.AssertHeld();
  ScanOptions so;
  so.prefix = RecordKey(ns->config.name, "");
  so.limit = 1000;
  so.keys_only = true;
  std::vector<WriteOp> dangling;
  do {
    KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(kLinkCollection, so));
    for (const Record& r : page.records) {
      std::vector<std::string> parts = absl::StrSplit(r.key, kKeySep);
      if (parts.size() != 4) {
        return absl::DataLossError(absl::StrCat("memory link key '", r.key, "' is malformed"));
      }
      // A record that expired in the Store (its TTL) takes its links along
      // here; Delete and PurgeExpired remove links in the same batch.
      if (!ns->by_id.contains(parts[1]) || !ns->by_id.contains(parts[3])) {
        dangling.push_back(WriteOp::Delete(kLinkCollection, r.key));
        continue;
      }
      ns->InsertLink({parts[1], parts[2], parts[3]});
    }
    so.page_token = page.next_page_token;
  } while (!so.page_token.empty());
  for (size_t i = 0; i < dangling.size(); i += kStoreBatch) {
    std::vector<WriteOp> ops(dangling.begin() + i,
                             dangling.begin() + std::min(dangling.size(), i + kStoreBatch));
    KOS_RETURN_IF_ERROR(options_.store->Commit(ops).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Memory::Namespace>> Memory::Find(absl::string_view name) const {
  absl::MutexLock l(&mu_);
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) {
    return absl::NotFoundError(absl::StrCat("namespace '", name, "' does not exist"));
  }
  return it->second;
}

absl::Status Memory::CreateNamespace(const NamespaceConfig& config) {
  KOS_RETURN_IF_ERROR(ValidateNamespaceName(config.name));
  NamespaceConfig c = config;
  if (c.dimension == 0) {
    if (options_.embedder == nullptr) {
      return absl::InvalidArgumentError("dimension 0 needs an embedder in MemoryOptions");
    }
    c.dimension = options_.embedder->dimension();
  }
  if (c.default_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("default_ttl must not be negative");
  }
  KOS_ASSIGN_OR_RETURN(auto index, MakeIndex(c));
  auto ns = std::make_shared<Namespace>();
  ns->config = c;
  {
    absl::MutexLock nl(&ns->mu);
    ns->index = std::move(index);
  }
  // Lock order: a namespace's mu is never taken while holding mu_, and mu_ is
  // never taken while holding a namespace's mu.
  absl::MutexLock l(&mu_);
  auto it = namespaces_.find(c.name);
  if (it != namespaces_.end()) {
    if (SameConfig(it->second->config, c)) return absl::OkStatus();
    return absl::AlreadyExistsError(
        absl::StrCat("namespace '", c.name, "' exists with a different configuration"));
  }
  // Holding mu_ across this one small write keeps two creators of the same
  // name from racing; other namespaces' reads and writes do not take mu_.
  KOS_RETURN_IF_ERROR(
      options_.store->Put(kNsCollection, c.name, DumpJson(ConfigToJson(c))).status());
  namespaces_[c.name] = std::move(ns);
  return absl::OkStatus();
}

absl::StatusOr<NamespaceConfig> Memory::GetNamespace(absl::string_view name) const {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(name));
  return ns->config;
}

std::vector<std::string> Memory::ListNamespaces(absl::string_view prefix) const {
  std::vector<std::string> out;
  absl::MutexLock l(&mu_);
  for (const auto& [name, ns] : namespaces_) {
    if (absl::StartsWith(name, prefix)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status Memory::DeleteNamespace(absl::string_view name) {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(name));
  {
    absl::MutexLock l(&ns->mu);
    if (ns->deleted)
      return absl::NotFoundError(absl::StrCat("namespace '", name, "' does not exist"));
    // Records first, the namespace entry last: a crash in between leaves a
    // namespace that still lists (and can be deleted again), never orphans that
    // a later namespace of the same name would inherit.
    ScanOptions so;
    so.prefix = RecordKey(name, "");
    so.limit = kStoreBatch;
    so.keys_only = true;
    for (;;) {
      KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(kRecCollection, so));
      if (page.records.empty()) break;
      std::vector<WriteOp> ops;
      for (const Record& r : page.records) ops.push_back(WriteOp::Delete(kRecCollection, r.key));
      KOS_RETURN_IF_ERROR(options_.store->Commit(ops).status());
    }
    for (;;) {
      KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(kLinkCollection, so));
      if (page.records.empty()) break;
      std::vector<WriteOp> ops;
      for (const Record& r : page.records) ops.push_back(WriteOp::Delete(kLinkCollection, r.key));
      KOS_RETURN_IF_ERROR(options_.store->Commit(ops).status());
    }
    KOS_RETURN_IF_ERROR(options_.store->Delete(kNsCollection, name));
    // A saved index of the old namespace would only be reconciled away by
    // the next Open; drop it now (a leftover is harmless, just wasted work).
    if (!options_.index_dir.empty()) {
      std::remove(SavedIndexPath(options_.index_dir, name).c_str());
    }
    ns->deleted = true;
    ns->out_links.clear();
    ns->in_links.clear();
    ns->entries.clear();
    ns->by_id.clear();
    ns->payload = memory_internal::PayloadIndex();
    ns->keywords = memory_internal::KeywordIndex();
    ns->index.reset();
  }
  absl::MutexLock ml(&mu_);
  auto it = namespaces_.find(name);
  if (it != namespaces_.end() && it->second == ns) namespaces_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Memory::Add(absl::string_view ns, MemoryRecord record) {
  std::vector<MemoryRecord> v;
  v.push_back(std::move(record));
  KOS_ASSIGN_OR_RETURN(auto ids, AddBatch(ns, std::move(v)));
  return ids.front();
}

namespace {

// Checks one record; `i` is its position for error messages. Sets
// `*metadata_json` to the metadata as stored (its size is checked here).
absl::Status CheckRecord(const MemoryRecord& r, size_t i, int dim, const MemoryOptions& o,
                         std::string* metadata_json) {
  auto where = [&](absl::string_view msg) {
    return absl::InvalidArgumentError(
        absl::StrCat("record ", i, r.id.empty() ? "" : absl::StrCat(" (", r.id, ")"), ": ", msg));
  };
  if (!r.id.empty()) {
    absl::Status s = ValidateRecordId(r.id);
    if (!s.ok()) return where(s.message());
  }
  if (r.text.size() > o.max_text_bytes) return where("text too large");
  if (!IsValidUtf8(r.text)) return where("text is not valid UTF-8");
  if (r.embedding.empty()) {
    if (r.text.empty()) return where("empty text and no embedding");
    if (o.embedder == nullptr) return where("no embedding given and no embedder configured");
  } else {
    absl::Status s = ValidateVector(r.embedding, dim);
    if (!s.ok()) return where(s.message());
  }
  if (!r.metadata.is_object()) return where("metadata must be a JSON object");
  *metadata_json = r.metadata.empty() ? "{}" : DumpJson(r.metadata);
  if (metadata_json->size() > o.max_metadata_bytes) return where("metadata too large");
  for (auto it = r.metadata.begin(); it != r.metadata.end(); ++it) {
    if (it.key().empty() || it.key()[0] == '$' || it.key().find('.') != std::string::npos) {
      return where(absl::StrCat("metadata key '", it.key(),
                                "' must be non-empty and contain no '$' prefix or '.'"));
    }
  }
  if (!std::isfinite(r.importance) || r.importance < 0 || r.importance > 1) {
    return where("importance must be in [0, 1]");
  }
  if (r.ttl.has_value() && *r.ttl < absl::ZeroDuration()) return where("ttl must not be negative");
  return absl::OkStatus();
}

absl::Status EmbedMissing(std::vector<MemoryRecord>* records, Embedder* embedder, int dim) {
  std::vector<std::string> texts;
  std::vector<size_t> which;
  for (size_t i = 0; i < records->size(); ++i) {
    if ((*records)[i].embedding.empty()) {
      texts.push_back((*records)[i].text);
      which.push_back(i);
    }
  }
  if (texts.empty()) return absl::OkStatus();
  if (embedder->dimension() != dim) {
    return absl::InvalidArgumentError(absl::StrCat("embedder dimension ", embedder->dimension(),
                                                   " does not match namespace dimension ", dim));
  }
  KOS_ASSIGN_OR_RETURN(auto vecs, embedder->Embed(texts));
  if (vecs.size() != texts.size()) return absl::InternalError("embedder returned wrong count");
  for (size_t j = 0; j < which.size(); ++j) {
    KOS_RETURN_IF_ERROR(ValidateVector(vecs[j], dim));
    (*records)[which[j]].embedding = std::move(vecs[j]);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> Memory::AddBatch(absl::string_view ns_name,
                                                          std::vector<MemoryRecord> records) {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  if (records.empty()) return std::vector<std::string>{};
  const int dim = ns->config.dimension;
  std::vector<std::string> metadata_json(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    KOS_RETURN_IF_ERROR(CheckRecord(records[i], i, dim, options_, &metadata_json[i]));
  }
  // Embedding can be slow (HTTP); do it before taking the namespace lock.
  KOS_RETURN_IF_ERROR(EmbedMissing(&records, options_.embedder, dim));
  const absl::Time now = options_.clock->Now();
  absl::flat_hash_set<std::string> seen;
  for (auto& r : records) {
    if (r.id.empty()) r.id = ids_.Next();
    if (!seen.insert(r.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("record id '", r.id, "' repeated in batch"));
    }
    r.created = now;
    r.accessed = now;
    const absl::Duration ttl = r.ttl.value_or(ns->config.default_ttl);
    r.expires = ttl > absl::ZeroDuration() ? now + ttl : absl::InfiniteFuture();
  }
  absl::MutexLock l(&ns->mu);
  if (ns->deleted)
    return absl::NotFoundError(absl::StrCat("namespace '", ns_name, "' does not exist"));
  for (const auto& r : records) {
    auto it = ns->by_id.find(r.id);
    if (it != ns->by_id.end()) {
      // An expired record's id may be reused: it is invisible already.
      if (ns->entries[it->second].expires > now) {
        return absl::AlreadyExistsError(
            absl::StrCat("record '", r.id, "' already exists in namespace '", ns_name, "'"));
      }
    }
  }
  std::vector<WriteOp> ops;
  ops.reserve(records.size());
  // Links of expired records whose ids are being reused go with them.
  std::vector<std::string> reused;
  for (const auto& r : records) {
    if (ns->by_id.contains(r.id)) reused.push_back(r.id);
  }
  const std::vector<Namespace::Edge> stale_links = ns->CollectLinks(reused, &ops);
  for (size_t i = 0; i < records.size(); ++i) {
    const MemoryRecord& r = records[i];
    const absl::Duration ttl =
        r.expires == absl::InfiniteFuture() ? absl::ZeroDuration() : r.expires - now;
    ops.push_back(WriteOp::Put(kRecCollection, RecordKey(ns_name, r.id),
                               EncodeRecord(r, metadata_json[i]), std::nullopt, ttl));
  }
  KOS_RETURN_IF_ERROR(options_.store->Commit(ops).status());
  for (const auto& e : stale_links) ns->EraseLink(e);
  // Expired holders of reused ids go first.
  std::vector<int64_t> stale;
  for (const auto& r : records) {
    auto it = ns->by_id.find(r.id);
    if (it != ns->by_id.end()) stale.push_back(it->second);
  }
  if (!stale.empty()) {
    KOS_RETURN_IF_ERROR(ns->index->Remove(stale).status());
    for (int64_t label : stale) ns->Erase(label);
  }
  std::vector<int64_t> labels;
  std::vector<float> vecs;
  std::vector<std::string> ids;
  vecs.reserve(records.size() * dim);
  for (auto& r : records) {
    ids.push_back(r.id);
    vecs.insert(vecs.end(), r.embedding.begin(), r.embedding.end());
    labels.push_back(ns->Insert(std::move(r)));
  }
  absl::Status s = ns->index->Add(labels, vecs);
  if (!s.ok()) {
    // Cannot happen for validated input; keep memory consistent with the index.
    for (int64_t label : labels) ns->Erase(label);
    return absl::InternalError(
        absl::StrCat("index add failed after store commit (", s.message(), "); reopen to resync"));
  }
  return ids;
}

absl::StatusOr<MemoryRecord> Memory::Get(absl::string_view ns_name, absl::string_view id) const {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  absl::ReaderMutexLock l(&ns->mu);
  auto it = ns->by_id.find(id);
  if (ns->deleted || it == ns->by_id.end() ||
      ns->entries[it->second].expires <= options_.clock->Now()) {
    return absl::NotFoundError(absl::StrCat("record '", id, "' not found in '", ns_name, "'"));
  }
  return ns->ToRecord(it->second, /*with_embedding=*/true);
}

absl::Status Memory::Update(absl::string_view ns_name, MemoryRecord record) {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  const int dim = ns->config.dimension;
  KOS_RETURN_IF_ERROR(ValidateRecordId(record.id));
  std::string metadata_json;
  KOS_RETURN_IF_ERROR(CheckRecord(record, 0, dim, options_, &metadata_json));
  std::vector<MemoryRecord> one;
  one.push_back(std::move(record));
  KOS_RETURN_IF_ERROR(EmbedMissing(&one, options_.embedder, dim));
  MemoryRecord r = std::move(one[0]);
  const absl::Time now = options_.clock->Now();
  absl::MutexLock l(&ns->mu);
  auto it = ns->by_id.find(r.id);
  if (ns->deleted || it == ns->by_id.end() || ns->entries[it->second].expires <= now) {
    return absl::NotFoundError(absl::StrCat("record '", r.id, "' not found in '", ns_name, "'"));
  }
  const int64_t label = it->second;
  r.created = ns->entries[label].created;
  r.accessed = now;
  const absl::Duration ttl = r.ttl.value_or(ns->config.default_ttl);
  r.expires = ttl > absl::ZeroDuration() ? now + ttl : absl::InfiniteFuture();
  KOS_RETURN_IF_ERROR(options_.store
                          ->Put(kRecCollection, RecordKey(ns_name, r.id),
                                EncodeRecord(r, metadata_json), std::nullopt,
                                ttl > absl::ZeroDuration() ? ttl : absl::ZeroDuration())
                          .status());
  std::vector<float> vec = r.embedding;
  ns->Erase(label);
  const int64_t nl = ns->Insert(std::move(r));
  if (nl != label) return absl::InternalError("label reuse invariant broken");
  return ns->index->Add({label}, vec);
}

absl::Status Memory::Delete(absl::string_view ns_name, absl::string_view id) {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  absl::MutexLock l(&ns->mu);
  auto it = ns->by_id.find(id);
  if (ns->deleted || it == ns->by_id.end()) {
    return absl::NotFoundError(absl::StrCat("record '", id, "' not found in '", ns_name, "'"));
  }
  std::vector<WriteOp> ops;
  ops.push_back(WriteOp::Delete(kRecCollection, RecordKey(ns_name, id)));
  const auto links = ns->CollectLinks({std::string(id)}, &ops);
  KOS_RETURN_IF_ERROR(options_.store->Commit(ops).status());
  for (const auto& e : links) ns->EraseLink(e);
  const int64_t label = it->second;
  KOS_RETURN_IF_ERROR(ns->index->Remove({label}).status());
  ns->Erase(label);
  return absl::OkStatus();
}

absl::StatusOr<ListPage> Memory::List(absl::string_view ns_name, absl::string_view page_token,
                                      size_t limit) const {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("limit must be 1..1000");
  absl::ReaderMutexLock l(&ns->mu);
  const absl::Time now = options_.clock->Now();
  // Ids in order; a page token is the last id returned. O(n log n) per page is
  // fine for admin listing; searches never go through here.
  std::vector<std::pair<absl::string_view, int64_t>> all;
  for (const auto& [id, label] : ns->by_id) {
    if (id > page_token && ns->entries[label].expires > now) all.emplace_back(id, label);
  }
  std::sort(all.begin(), all.end());
  ListPage page;
  for (size_t i = 0; i < all.size() && i < limit; ++i) {
    page.records.push_back(ns->ToRecord(all[i].second, false));
  }
  if (all.size() > limit) page.next_page_token = page.records.back().id;
  return page;
}

namespace {

// Visits the live links of `id` in `dir` of `type` ("" any) as (link, other end).
template <typename Ns, typename F>
void ForEachLink(const Ns& ns, const std::string& id, absl::string_view type, LinkDirection dir,
                 absl::Time now, F&& f) {
  auto walk = [&](const auto& set, bool outgoing) {
    for (auto it = set.lower_bound({id, "", ""}); it != set.end() && std::get<0>(*it) == id; ++it) {
      const auto& [self, t, other] = *it;
      if (!type.empty() && t != type) continue;
      if (!ns.Alive(other, now)) continue;
      f(outgoing ? Link{self, t, other} : Link{other, t, self}, other);
    }
  };
  if (dir != LinkDirection::kIncoming) walk(ns.out_links, true);
  if (dir != LinkDirection::kOutgoing) walk(ns.in_links, false);
}

}  // namespace

absl::StatusOr<std::vector<SearchHit>> Memory::Search(const SearchRequest& req) const {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(req.ns));
  if (req.k < 1 || req.k > 10000) return absl::InvalidArgumentError("k must be 1..10000");
  std::vector<float> query = req.vector;
  size_t candidates = req.k;
  if (req.hybrid) {
    if (req.text.empty()) return absl::InvalidArgumentError("hybrid search needs text");
    if (!(req.vector_weight >= 0 && req.keyword_weight >= 0 && std::isfinite(req.vector_weight) &&
          std::isfinite(req.keyword_weight)) ||
        req.rrf_k < 1) {
      return absl::InvalidArgumentError("hybrid search needs finite weights >= 0 and rrf_k >= 1");
    }
    if (req.hybrid_candidates != 0 &&
        (req.hybrid_candidates < req.k || req.hybrid_candidates > 10000)) {
      return absl::InvalidArgumentError("hybrid_candidates must be 0 or k..10000");
    }
    candidates = req.hybrid_candidates ? req.hybrid_candidates : std::max<size_t>(req.k, 50);
  } else if (query.empty() == req.text.empty()) {
    return absl::InvalidArgumentError("give exactly one of vector and text");
  }
  if (query.empty()) {
    if (options_.embedder == nullptr) {
      return absl::FailedPreconditionError("search by text needs an embedder");
    }
    if (options_.embedder->dimension() != ns->config.dimension) {
      return absl::InvalidArgumentError("embedder dimension does not match the namespace");
    }
    KOS_ASSIGN_OR_RETURN(auto v, options_.embedder->Embed({req.text}));
    query = std::move(v[0]);
  }
  KOS_RETURN_IF_ERROR(ValidateVector(query, ns->config.dimension));
  std::optional<Filter> filter;
  if (!req.filter.is_null()) {
    KOS_ASSIGN_OR_RETURN(filter, Filter::Compile(req.filter));
  }
  const absl::Time now = options_.clock->Now();
  absl::ReaderMutexLock l(&ns->mu);
  if (ns->deleted)
    return absl::NotFoundError(absl::StrCat("namespace '", req.ns, "' does not exist"));
  if (filter.has_value() && !ns->by_id.empty()) {
    for (const auto& f : filter->CheckedFields()) {
      if (!ns->payload.HasTopLevelField(f)) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter field '", f, "' is not present in any record of namespace '",
                         req.ns, "' (use $exists for optional fields)"));
      }
    }
  }
  const auto& entries = ns->entries;
  const bool check_ttl = ns->expiring > 0;
  // The payload index turns the filter into the exact set of matching labels;
  // only filters comparing against arrays/objects fall back to evaluating
  // each record's JSON.
  std::optional<LabelBitmap> allowed;
  if (filter.has_value()) allowed = ns->payload.Evaluate(*filter);
  auto accept = [&](int64_t label) {
    if (allowed.has_value()) {
      if (!allowed->Test(label)) return false;
      return !check_ttl || entries[label].expires > now;
    }
    const auto& e = entries[label];
    if (!e.live) return false;
    if (check_ttl && e.expires <= now) return false;
    return !filter || filter->Matches(e.metadata);
  };
  std::vector<Neighbor> found;
  bool exact = false;
  size_t ef =
      std::max<size_t>(candidates, req.ef_search > 0 ? req.ef_search : ns->config.ef_search);
  std::vector<int64_t> seeds;
  if (allowed.has_value()) {
    // Query planning as in Qdrant: the payload index gives the exact match
    // count m, and the cheaper of two plans runs. An exact scan scores m
    // vectors; a filtered (ACORN) walk expands about ef nodes and scores
    // fewer than M new neighbours of each, so scan when m <= M * ef. A
    // selective filter thins the graph the walk can use, so ef is raised for
    // it (up to 4x at 2.5% or fewer matches), which also moves the break-even
    // point towards the scan.
    const double m = static_cast<double>(allowed->Count());
    const double n = static_cast<double>(std::max<size_t>(ns->by_id.size(), 1));
    const double sel = m / n;
    if (sel < 0.1 && ns->config.index != IndexKind::kFaissIvf) {
      ef = static_cast<size_t>(ef * std::min(4.0, 0.1 / std::max(sel, 1e-9)));
    }
    exact = m <= options_.exact_filter_threshold ||
            (options_.exact_filter_cost_model && m <= static_cast<double>(ns->config.m) * ef);
    if (!exact && m > 0) {
      // A few matching entry points spread over the label space, found
      // by probing the bitmap at a stride (cheaper than enumerating it).
      const size_t universe = allowed->universe();
      const size_t probes =
          std::min<size_t>(universe, static_cast<size_t>(std::ceil(48.0 / std::max(sel, 1e-6))));
      for (size_t i = 0; i < probes && seeds.size() < 8; ++i) {
        const int64_t label = static_cast<int64_t>(i * universe / probes);
        if (allowed->Test(label) && accept(label)) seeds.push_back(label);
      }
    }
  } else if (filter.has_value()) {
    // Estimate the selectivity on an evenly spaced sample.
    const size_t n = entries.size();
    const size_t sample = std::min<size_t>(n, 256);
    size_t hits = 0, tried = 0;
    for (size_t i = 0; i < sample; ++i) {
      const int64_t label = static_cast<int64_t>(i * n / sample);
      if (!entries[label].live) continue;
      ++tried;
      hits += accept(label) ? 1 : 0;
    }
    const double est = tried ? static_cast<double>(hits) / tried * ns->by_id.size() : 0;
    exact = est <= options_.exact_filter_threshold;
  }
  if (exact) {
    // Very selective filters are answered exactly from their matches, where a
    // graph walk would visit most of the graph anyway.
    std::vector<int64_t> cand;
    if (allowed.has_value()) {
      allowed->ForEach([&](int64_t label) {
        if (accept(label)) cand.push_back(label);
      });
    } else {
      for (size_t label = 0; label < entries.size(); ++label) {
        if (accept(label)) cand.push_back(label);
      }
    }
    KOS_ASSIGN_OR_RETURN(found, ns->index->SearchSubset(query, candidates, cand));
  } else {
    IdFilter f;
    if (filter.has_value() || check_ttl) f = accept;
    // The raised ef goes to graph indexes; IVF reads ef_search as nprobe and
    // widens it for the filter itself.
    const bool graph = ns->config.index != IndexKind::kFaissIvf;
    const int ef_arg = allowed.has_value() && graph ? static_cast<int>(ef) : req.ef_search;
    KOS_ASSIGN_OR_RETURN(found, ns->index->SearchFiltered(query, candidates, f, ef_arg, seeds));
  }
  if (req.hybrid) {
    auto kw = ns->keywords.Search(req.text, candidates, accept);
    std::vector<int64_t> vrank, krank;
    for (const auto& nb : found) vrank.push_back(nb.id);
    for (const auto& [label, s] : kw) krank.push_back(label);
    auto fused =
        memory_internal::FuseRrf(vrank, krank, req.vector_weight, req.keyword_weight, req.rrf_k);
    std::vector<SearchHit> hits;
    for (size_t i = 0; i < fused.size() && i < req.k; ++i) {
      const auto& fh = fused[i];
      SearchHit h;
      h.record = ns->ToRecord(fh.label, req.include_embeddings);
      h.score = fh.score;
      h.vector_rank = fh.vector_rank;
      h.keyword_rank = fh.keyword_rank;
      if (fh.keyword_rank) h.keyword_score = kw[fh.keyword_rank - 1].second;
      if (fh.vector_rank) {
        h.similarity = found[fh.vector_rank - 1].score;
      } else {
        // A keyword-only hit still reports its similarity to the query.
        KOS_ASSIGN_OR_RETURN(auto one, ns->index->SearchSubset(query, 1, {fh.label}));
        if (!one.empty()) h.similarity = one[0].score;
      }
      hits.push_back(std::move(h));
    }
    return hits;
  }
  std::vector<SearchHit> hits;
  hits.reserve(found.size());
  for (const auto& nb : found) {
    SearchHit h;
    h.record = ns->ToRecord(nb.id, req.include_embeddings);
    h.similarity = nb.score;
    h.score = nb.score;
    hits.push_back(std::move(h));
  }
  return hits;
}

absl::StatusOr<std::vector<SearchHit>> Memory::Recall(const SearchRequest& req,
                                                      const RecallOptions& ro) {
  if (ro.candidate_multiplier < 1 || ro.recency_half_life <= absl::ZeroDuration() ||
      !(ro.mmr_lambda >= 0 && ro.mmr_lambda <= 1)) {
    return absl::InvalidArgumentError(
        "recall needs candidate_multiplier >= 1, a positive half-life and mmr_lambda in [0, 1]");
  }
  if (ro.expand_hops < 0 || ro.expand_hops > 3 || !(ro.hop_weight > 0 && ro.hop_weight <= 1)) {
    return absl::InvalidArgumentError("recall needs expand_hops 0..3 and hop_weight in (0, 1]");
  }
  if (!ro.expand_link_type.empty()) KOS_RETURN_IF_ERROR(ValidateLinkType(ro.expand_link_type));
  KOS_ASSIGN_OR_RETURN(auto ns, Find(req.ns));
  SearchRequest wide = req;
  if (ro.expand_hops > 0 && wide.vector.empty() && !wide.text.empty()) {
    // Link expansion scores neighbours against the query vector: embed once.
    if (options_.embedder == nullptr) {
      return absl::FailedPreconditionError("search by text needs an embedder");
    }
    if (options_.embedder->dimension() != ns->config.dimension) {
      return absl::InvalidArgumentError("embedder dimension does not match the namespace");
    }
    KOS_ASSIGN_OR_RETURN(auto v, options_.embedder->Embed({req.text}));
    wide.vector = std::move(v[0]);
    if (!wide.hybrid) wide.text.clear();
  }
  wide.k = std::min<size_t>(10000, std::max<size_t>(req.k * ro.candidate_multiplier, req.k));
  wide.include_embeddings = req.include_embeddings || ro.mmr;
  KOS_ASSIGN_OR_RETURN(auto cands, Search(wide));
  const absl::Time now = options_.clock->Now();
  const double half = absl::ToDoubleSeconds(ro.recency_half_life);
  for (auto& h : cands) {
    const double age = std::max(0.0, absl::ToDoubleSeconds(now - h.record.accessed));
    const double recency = std::exp2(-age / half);
    h.score = ro.w_similarity * UnitSimilarity(ns->config.metric, h.similarity) +
              ro.w_recency * recency + ro.w_importance * h.record.importance;
  }
  std::stable_sort(cands.begin(), cands.end(),
                   [](const SearchHit& a, const SearchHit& b) { return a.score > b.score; });
  if (ro.expand_hops > 0 && !cands.empty()) {
    std::optional<Filter> filter;
    if (!req.filter.is_null()) {
      KOS_ASSIGN_OR_RETURN(filter, Filter::Compile(req.filter));
    }
    absl::ReaderMutexLock l(&ns->mu);
    if (!ns->deleted) {
      absl::flat_hash_set<std::string> have;
      for (const auto& h : cands) have.insert(h.record.id);
      // Breadth-first from the top-k direct hits, each record at its
      // smallest distance.
      std::vector<std::pair<std::string, int>> frontier;
      for (size_t i = 0; i < cands.size() && i < req.k; ++i) {
        frontier.emplace_back(cands[i].record.id, 0);
      }
      absl::flat_hash_set<std::string> seen(have.begin(), have.end());
      std::vector<SearchHit> extra;
      for (int hop = 1; hop <= ro.expand_hops && !frontier.empty(); ++hop) {
        std::vector<std::pair<std::string, int>> next;
        for (const auto& [id, d] : frontier) {
          ForEachLink(*ns, id, ro.expand_link_type, LinkDirection::kBoth, now,
                      [&](const Link&, const std::string& other) {
                        if (seen.insert(other).second) next.emplace_back(other, hop);
                      });
        }
        for (const auto& [id, d] : next) {
          const int64_t label = ns->by_id.find(id)->second;
          if (filter.has_value() && !filter->Matches(ns->entries[label].metadata)) continue;
          KOS_ASSIGN_OR_RETURN(auto one, ns->index->SearchSubset(wide.vector, 1, {label}));
          if (one.empty()) continue;
          SearchHit h;
          h.record = ns->ToRecord(label, /*with_embedding=*/true);
          h.similarity = one[0].score;
          h.hops = d;
          const double age = std::max(0.0, absl::ToDoubleSeconds(now - h.record.accessed));
          h.score = std::pow(ro.hop_weight, d) *
                    (ro.w_similarity * UnitSimilarity(ns->config.metric, h.similarity) +
                     ro.w_recency * std::exp2(-age / half) + ro.w_importance * h.record.importance);
          extra.push_back(std::move(h));
        }
        frontier = std::move(next);
      }
      for (auto& h : extra) cands.push_back(std::move(h));
      std::stable_sort(cands.begin(), cands.end(),
                       [](const SearchHit& a, const SearchHit& b) { return a.score > b.score; });
    }
  }
  std::vector<SearchHit> out;
  if (ro.mmr && !cands.empty()) {
    // Greedy MMR over the rescored candidates; redundancy is cosine between
    // stored embeddings.
    auto cosine = [](const std::vector<float>& a, const std::vector<float>& b) {
      double dot = 0, na = 0, nb = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
      }
      return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
    };
    std::vector<bool> used(cands.size(), false);
    while (out.size() < req.k && out.size() < cands.size()) {
      double best = -1e300;
      size_t bi = 0;
      for (size_t i = 0; i < cands.size(); ++i) {
        if (used[i]) continue;
        double red = 0;
        for (const auto& s : out)
          red = std::max(red, cosine(cands[i].record.embedding, s.record.embedding));
        const double v = ro.mmr_lambda * cands[i].score - (1 - ro.mmr_lambda) * red;
        if (v > best) {
          best = v;
          bi = i;
        }
      }
      used[bi] = true;
      out.push_back(cands[bi]);
    }
  } else {
    for (size_t i = 0; i < cands.size() && i < req.k; ++i) out.push_back(std::move(cands[i]));
  }
  if (!req.include_embeddings) {
    for (auto& h : out) h.record.embedding.clear();
  }
  if (ro.touch && !out.empty()) {
    absl::MutexLock l(&ns->mu);
    if (!ns->deleted) {
      std::vector<WriteOp> ops;
      std::vector<int64_t> labels;
      for (const auto& h : out) {
        auto it = ns->by_id.find(h.record.id);
        if (it == ns->by_id.end()) continue;
        MemoryRecord r = ns->ToRecord(it->second, true);
        r.accessed = now;
        const absl::Duration ttl =
            r.expires == absl::InfiniteFuture() ? absl::ZeroDuration() : r.expires - now;
        if (ttl < absl::ZeroDuration()) continue;
        ops.push_back(WriteOp::Put(kRecCollection, RecordKey(req.ns, r.id),
                                   EncodeRecord(r, DumpJson(r.metadata)), std::nullopt, ttl));
        labels.push_back(it->second);
      }
      if (!ops.empty()) {
        KOS_RETURN_IF_ERROR(options_.store->Commit(ops).status());
        for (int64_t label : labels) ns->entries[label].accessed = now;
      }
    }
  }
  return out;
}

absl::StatusOr<size_t> Memory::PurgeExpired() {
  std::vector<std::shared_ptr<Namespace>> all;
  {
    absl::MutexLock l(&mu_);
    for (auto& [name, ns] : namespaces_) all.push_back(ns);
  }
  const absl::Time now = options_.clock->Now();
  size_t purged = 0;
  for (auto& ns : all) {
    absl::MutexLock l(&ns->mu);
    if (ns->deleted || ns->expiring == 0) continue;
    std::vector<int64_t> labels;
    for (size_t label = 0; label < ns->entries.size(); ++label) {
      const auto& e = ns->entries[label];
      if (e.live && e.expires <= now) labels.push_back(label);
    }
    for (size_t i = 0; i < labels.size(); i += kStoreBatch) {
      std::vector<WriteOp> ops;
      std::vector<std::string> ids;
      for (size_t j = i; j < labels.size() && j < i + kStoreBatch; ++j) {
        ids.push_back(ns->entries[labels[j]].id);
        ops.push_back(WriteOp::Delete(kRecCollection, RecordKey(ns->config.name, ids.back())));
      }
      const auto links = ns->CollectLinks(ids, &ops);
      // The Store may already have dropped some of them on its own expiry;
      // deleting an absent key is fine for an unconditional delete.
      KOS_RETURN_IF_ERROR(options_.store->Commit(ops).status());
      for (const auto& e : links) ns->EraseLink(e);
    }
    KOS_RETURN_IF_ERROR(ns->index->Remove(labels).status());
    for (int64_t label : labels) ns->Erase(label);
    purged += labels.size();
  }
  KOS_RETURN_IF_ERROR(options_.store->PurgeExpired().status());
  return purged;
}

absl::StatusOr<NamespaceStats> Memory::Stats(absl::string_view name) const {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(name));
  absl::ReaderMutexLock l(&ns->mu);
  if (ns->deleted)
    return absl::NotFoundError(absl::StrCat("namespace '", name, "' does not exist"));
  NamespaceStats s;
  s.load_note = ns->load_note;
  s.records = ns->by_id.size();
  s.index_bytes = ns->index->MemoryUsage();
  return s;
}

absl::Status ValidateLinkType(absl::string_view type) {
  if (type.empty() || type.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("link type must be 1..64 characters, got ", type.size()));
  }
  for (char c : type) {
    if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_') {
      return absl::InvalidArgumentError("link type may only contain [a-z0-9_]");
    }
  }
  return absl::OkStatus();
}

absl::Status Memory::AddLink(absl::string_view ns_name, absl::string_view from,
                             absl::string_view type, absl::string_view to) {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  KOS_RETURN_IF_ERROR(ValidateLinkType(type));
  KOS_RETURN_IF_ERROR(ValidateRecordId(from));
  KOS_RETURN_IF_ERROR(ValidateRecordId(to));
  const absl::Time now = options_.clock->Now();
  absl::MutexLock l(&ns->mu);
  if (ns->deleted)
    return absl::NotFoundError(absl::StrCat("namespace '", ns_name, "' does not exist"));
  for (absl::string_view id : {from, to}) {
    if (!ns->Alive(id, now)) {
      return absl::NotFoundError(absl::StrCat("record '", id, "' not found in '", ns_name, "'"));
    }
  }
  Namespace::Edge e{std::string(from), std::string(type), std::string(to)};
  if (ns->out_links.contains(e)) return absl::OkStatus();
  KOS_RETURN_IF_ERROR(
      options_.store->Put(kLinkCollection, LinkKey(ns_name, from, type, to), "").status());
  ns->InsertLink(e);
  return absl::OkStatus();
}

absl::Status Memory::RemoveLink(absl::string_view ns_name, absl::string_view from,
                                absl::string_view type, absl::string_view to) {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  absl::MutexLock l(&ns->mu);
  Namespace::Edge e{std::string(from), std::string(type), std::string(to)};
  if (ns->deleted || !ns->out_links.contains(e)) {
    return absl::NotFoundError(absl::StrCat("no link ", from, " -", type, "-> ", to));
  }
  KOS_RETURN_IF_ERROR(options_.store->Delete(kLinkCollection, LinkKey(ns_name, from, type, to)));
  ns->EraseLink(e);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Link>> Memory::Neighbours(absl::string_view ns_name,
                                                     absl::string_view id, absl::string_view type,
                                                     LinkDirection direction) const {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  if (!type.empty()) KOS_RETURN_IF_ERROR(ValidateLinkType(type));
  const absl::Time now = options_.clock->Now();
  absl::ReaderMutexLock l(&ns->mu);
  if (ns->deleted || !ns->Alive(id, now)) {
    return absl::NotFoundError(absl::StrCat("record '", id, "' not found in '", ns_name, "'"));
  }
  std::vector<Link> out;
  ForEachLink(*ns, std::string(id), type, direction, now,
              [&](Link link, const std::string&) { out.push_back(std::move(link)); });
  std::sort(out.begin(), out.end(), [](const Link& a, const Link& b) {
    return std::tie(a.from, a.type, a.to) < std::tie(b.from, b.type, b.to);
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());  // self-links under kBoth
  return out;
}

absl::StatusOr<std::vector<LinkedRecord>> Memory::KHop(absl::string_view ns_name,
                                                       absl::string_view id, int k,
                                                       size_t max_nodes, absl::string_view type,
                                                       LinkDirection direction) const {
  KOS_ASSIGN_OR_RETURN(auto ns, Find(ns_name));
  if (k < 1 || k > 16) return absl::InvalidArgumentError("k must be 1..16");
  if (max_nodes < 1 || max_nodes > 100000) {
    return absl::InvalidArgumentError("max_nodes must be 1..100000");
  }
  if (!type.empty()) KOS_RETURN_IF_ERROR(ValidateLinkType(type));
  const absl::Time now = options_.clock->Now();
  absl::ReaderMutexLock l(&ns->mu);
  if (ns->deleted || !ns->Alive(id, now)) {
    return absl::NotFoundError(absl::StrCat("record '", id, "' not found in '", ns_name, "'"));
  }
  std::vector<LinkedRecord> out;
  absl::flat_hash_set<std::string> seen = {std::string(id)};
  std::deque<LinkedRecord> queue = {{std::string(id), 0}};
  while (!queue.empty() && out.size() < max_nodes) {
    LinkedRecord cur = std::move(queue.front());
    queue.pop_front();
    if (cur.hops == k) continue;
    // Sorted neighbours keep the order deterministic within a hop.
    std::vector<std::string> next;
    ForEachLink(*ns, cur.id, type, direction, now,
                [&](const Link&, const std::string& other) { next.push_back(other); });
    std::sort(next.begin(), next.end());
    for (auto& n : next) {
      if (out.size() >= max_nodes) break;
      if (!seen.insert(n).second) continue;
      out.push_back({n, cur.hops + 1});
      queue.push_back({std::move(n), cur.hops + 1});
    }
  }
  return out;
}

}  // namespace kos
