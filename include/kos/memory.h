// Agent memory: namespaced records (text, JSON metadata, embedding) with
// vector search, metadata filters evaluated inside the index walk, TTLs and
// Generative-Agents-style recall scoring.
//
// Durability: every record lives in the kos::Store (collections "mem_ns" and
// "mem_rec"); each namespace's vector index is in memory and is rebuilt from
// the Store when Memory is opened, so anything acknowledged by Add survives a
// restart or crash of the process (as far as the Store backend is durable).
//
// Filter language (JSON, MongoDB/Chroma style), over record metadata:
//   {"kind": "note"}                         equality (several keys: all must hold)
//   {"score": {"$gte": 0.5, "$lt": 2}}       $eq $ne $gt $gte $lt $lte (numbers or strings)
//   {"tag": {"$in": ["a", "b"]}}             $in / $nin with an array
//   {"owner": {"$exists": true}}             presence test
//   {"$and": [f, ...]}, {"$or": [f, ...]}, {"$not": f}
//   {"user.name": "ann"}                     dotted paths reach into nested objects
// Comparisons on a field a record lacks are false ($ne / $nin / {"$exists": false}
// are true). A filter naming a top-level field that no record of the namespace
// has is INVALID_ARGUMENT (almost always a typo), except under $exists.
#ifndef KOS_MEMORY_H_
#define KOS_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/embedder.h"
#include "kos/export.h"
#include "kos/id.h"
#include "kos/json.h"
#include "kos/store.h"
#include "kos/vector_index.h"

namespace kos {

// How a namespace stores and searches its vectors. Fixed at creation.
struct NamespaceConfig {
  // Hierarchical name: 1..16 segments joined by '/', each 1..64 characters of
  // [A-Za-z0-9_.-] and not "." or "..", e.g. "user/alice/session/42". Required.
  std::string name;
  // Vector dimension; 0 takes the Memory's embedder dimension (error if none).
  int dimension = 0;
  // Default: cosine.
  Metric metric = Metric::kCosine;
  // Default: hnswlib.
  IndexKind index = IndexKind::kHnswlib;
  // HNSW parameters (see VectorIndexOptions). Defaults 16 / 200 / 64.
  int m = 16;
  int ef_construction = 200;
  int ef_search = 64;
  // TTL given to records added without one; zero: records never expire.
  absl::Duration default_ttl = absl::ZeroDuration();
};

struct MemoryRecord {
  // Caller-chosen (1..128 characters of [A-Za-z0-9_.:-]) or, when empty on
  // Add, a generated ULID.
  std::string id;
  // Free text; embedded when `embedding` is empty. May be empty only when an
  // embedding is given.
  std::string text;
  // A JSON object (default {}); what filters see.
  Json metadata = Json::object();
  // Dimension floats, all finite. Empty on Add: computed from `text`.
  std::vector<float> embedding;
  // Set by Memory: creation and last access (Recall with touch, Get, Update).
  absl::Time created = absl::InfinitePast();
  absl::Time accessed = absl::InfinitePast();
  // 0..1, the Generative Agents "poignancy". Default 0.
  double importance = 0;
  // On Add/Update: time to live; nullopt takes the namespace default, zero
  // means never. On read: unused (see `expires`).
  std::optional<absl::Duration> ttl;
  // Set by Memory: when the record stops being visible (InfiniteFuture: never).
  absl::Time expires = absl::InfiniteFuture();
};

struct SearchRequest {
  std::string ns;
  // Exactly one of `vector` and `text` (embedded with the Memory's embedder).
  std::vector<float> vector;
  std::string text;
  // Results wanted (1..10000). Default 10.
  size_t k = 10;
  // Metadata filter (see the language above); null: none.
  Json filter = nullptr;
  // Overrides the namespace's ef_search when > 0.
  int ef_search = 0;
  // Copy embeddings into results (off by default: they are large).
  bool include_embeddings = false;
};

struct SearchHit {
  MemoryRecord record;
  // Raw index score (cosine, dot product, or -squared L2).
  float similarity = 0;
  // Search: equals similarity. Recall: the weighted recall score.
  double score = 0;
};

struct RecallOptions {
  // score = w_similarity * sim + w_recency * 0.5^(age/half_life) + w_importance * importance,
  // with sim mapped to [0,1] ((1+cos)/2 for cosine/ip, 1/(1+d2) for L2) and age
  // measured from last access. Defaults 1 / 1 / 1 as in Generative Agents.
  double w_similarity = 1.0;
  double w_recency = 1.0;
  double w_importance = 1.0;
  absl::Duration recency_half_life = absl::Hours(24);
  // How many nearest neighbours are rescored, as a multiple of k (>= 1). Default 4.
  size_t candidate_multiplier = 4;
  // Maximal marginal relevance re-ranking; lambda 1 = pure score. Default off.
  bool mmr = false;
  double mmr_lambda = 0.7;
  // Record the access (accessed = now) of returned records. Default true.
  bool touch = true;
};

struct MemoryOptions {
  // Where records live. Not owned; must outlive Memory. Required.
  Store* store = nullptr;
  // Time source for created/accessed/TTL. Use the Store's clock. Default: real clock.
  Clock* clock = Clock::Real();
  // Embeds texts for Add/Search by text. Not owned. Optional (then vectors are required).
  Embedder* embedder = nullptr;
  // Largest text and metadata accepted, in bytes. Defaults 1 MiB / 64 KiB.
  size_t max_text_bytes = 1 << 20;
  size_t max_metadata_bytes = 64 << 10;
  // Filtered searches whose estimated number of matches is at most this scan
  // the matches exactly instead of walking the graph (faster and exact for
  // very selective filters). Default 2000.
  size_t exact_filter_threshold = 2000;
};

struct ListPage {
  std::vector<MemoryRecord> records;  // in id order, without embeddings
  std::string next_page_token;        // "" at the end
};

struct NamespaceStats {
  size_t records = 0;      // live records in the index (expired but unpurged included)
  size_t index_bytes = 0;  // VectorIndex::MemoryUsage()
};

// Thread-safe. Per namespace: any number of concurrent readers (Get, List,
// Search, Recall without touch) and one writer; namespaces never block each other.
class KOS_EXPORT Memory {
 public:
  // Loads every namespace and rebuilds its index from the Store.
  static absl::StatusOr<std::unique_ptr<Memory>> Open(const MemoryOptions& options);
  ~Memory();

  // Creates a namespace; OK if one with the same config exists, ALREADY_EXISTS
  // if it exists with another config.
  absl::Status CreateNamespace(const NamespaceConfig& config);
  absl::StatusOr<NamespaceConfig> GetNamespace(absl::string_view name) const;
  // Names starting with `prefix`, sorted.
  std::vector<std::string> ListNamespaces(absl::string_view prefix = "") const;
  // Removes the namespace and every record in it. NOT_FOUND if absent.
  absl::Status DeleteNamespace(absl::string_view name);

  // Adds a record and returns its id. ALREADY_EXISTS if the id is taken.
  absl::StatusOr<std::string> Add(absl::string_view ns, MemoryRecord record);
  // Adds all or none (one Store batch).
  absl::StatusOr<std::vector<std::string>> AddBatch(absl::string_view ns,
                                                    std::vector<MemoryRecord> records);
  // NOT_FOUND if absent or expired. Does not change `accessed`.
  absl::StatusOr<MemoryRecord> Get(absl::string_view ns, absl::string_view id) const;
  // Replaces text, metadata, importance, embedding (recomputed from text when
  // empty) and TTL of an existing record; keeps `created`. NOT_FOUND if absent.
  absl::Status Update(absl::string_view ns, MemoryRecord record);
  // NOT_FOUND if absent.
  absl::Status Delete(absl::string_view ns, absl::string_view id);
  // Pages through a namespace in id order (limit 1..1000).
  absl::StatusOr<ListPage> List(absl::string_view ns, absl::string_view page_token = "",
                                size_t limit = 100) const;

  // Nearest records by similarity, filtered inside the index walk.
  absl::StatusOr<std::vector<SearchHit>> Search(const SearchRequest& request) const;
  // Search rescored by similarity, recency and importance (optionally MMR).
  absl::StatusOr<std::vector<SearchHit>> Recall(const SearchRequest& request,
                                                const RecallOptions& options = {});

  // Deletes expired records from the Store and frees their index slots.
  absl::StatusOr<size_t> PurgeExpired();

  absl::StatusOr<NamespaceStats> Stats(absl::string_view ns) const;

  struct Namespace;  // opaque

 private:
  explicit Memory(const MemoryOptions& options);
  absl::StatusOr<std::shared_ptr<Namespace>> Find(absl::string_view name) const;
  absl::Status Load();

  MemoryOptions options_;
  IdGenerator ids_;
  mutable absl::Mutex mu_;  // guards the map only, never held during work
  absl::flat_hash_map<std::string, std::shared_ptr<Namespace>> namespaces_ ABSL_GUARDED_BY(mu_);
};

// Checks a namespace name (see NamespaceConfig::name).
KOS_EXPORT absl::Status ValidateNamespaceName(absl::string_view name);

// Checks a filter's syntax without a namespace (unknown fields are not checked).
KOS_EXPORT absl::Status ValidateFilter(const Json& filter);

}  // namespace kos

#endif  // KOS_MEMORY_H_
