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
#include "kos/logger.h"
#include "kos/rbac.h"
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
  // FAISS IVF parameters (see VectorIndexOptions): lists (0 = ~sqrt(n)),
  // lists probed per query (SearchRequest::ef_search overrides it for IVF),
  // and how many records trigger training. Defaults 0 / 16 / 10000.
  int nlist = 0;
  int nprobe = 16;
  int ivf_train_size = 10000;
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
  // Exactly one of `vector` and `text` (embedded with the Memory's embedder),
  // except for hybrid search, which needs `text` and may also have `vector`.
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
  // Hybrid search: also rank the namespace by BM25 over record text (the
  // keyword query is `text`) and fuse the keyword and vector rankings by
  // reciprocal rank fusion. `text` is embedded for the vector side unless
  // `vector` is given. The filter applies to both sides. Default off.
  bool hybrid = false;
  // RRF score = vector_weight / (rrf_k + vector rank) + keyword_weight /
  // (rrf_k + keyword rank), ranks 1-based, a ranking the record is not in
  // adding 0. Weights >= 0 (defaults 1 and 1), rrf_k >= 1 (default 60).
  double vector_weight = 1.0;
  double keyword_weight = 1.0;
  int rrf_k = 60;
  // How many results each ranking contributes before fusion; 0 means
  // max(k, 50). Must be >= k when set.
  size_t hybrid_candidates = 0;
};

struct SearchHit {
  MemoryRecord record;
  // Raw index score (cosine, dot product, or -squared L2).
  float similarity = 0;
  // Search: equals similarity (hybrid: the RRF score). Recall: the weighted
  // recall score.
  double score = 0;
  // Hybrid search only: BM25 score for the keyword query (0: no term
  // matched) and 1-based ranks in the vector and keyword rankings (0: not
  // among that ranking's candidates).
  double keyword_score = 0;
  size_t vector_rank = 0;
  size_t keyword_rank = 0;
  // Recall with expand_hops: how many links away from a direct hit this
  // record was found (0: a direct hit).
  int hops = 0;
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
  // Link expansion (0..3, default 0): records up to this many links away
  // (either direction) from the top-k direct hits join the candidates,
  // scored by the formula above times hop_weight^hops; they must pass the
  // request's filter. Only records not already among the candidates are added.
  int expand_hops = 0;
  // (0, 1]. Default 0.5.
  double hop_weight = 0.5;
  // Follow only links of this type; "" (default) follows every type.
  std::string expand_link_type;
};

// Well-known link types; any 1..64 characters of [a-z0-9_] are accepted.
inline constexpr char kLinkDerivedFrom[] = "derived_from";
inline constexpr char kLinkMentions[] = "mentions";
inline constexpr char kLinkAbout[] = "about";

// A typed, directed edge between two records of one namespace.
struct Link {
  std::string from;
  std::string type;
  std::string to;
  bool operator==(const Link& o) const { return from == o.from && type == o.type && to == o.to; }
};

enum class LinkDirection { kOutgoing, kIncoming, kBoth };

// A record reached by KHop, with its distance in links from the start.
struct LinkedRecord {
  std::string id;
  int hops = 0;
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
  // Also scan exactly when that is estimated cheaper than the graph walk:
  // matches <= M * ef, where the walk (which visits only matching nodes and
  // their two-hop neighbourhood) expands ~ef nodes and scores < M new
  // neighbours of each, and ef is raised up to 4x for filters matching
  // under 10% of the records. Default true.
  bool exact_filter_cost_model = true;
  // Permission checks for calls made through Memory::As(principal): reading
  // namespace N needs `read` on resource `memory:ns/N`, changing it needs
  // `write` (see docs/memory.md). Not owned; must outlive Memory. Null
  // (default): calls through As() fail with FAILED_PRECONDITION (closed by
  // default). Calls on Memory itself are trusted and never checked.
  const AccessController* access = nullptr;
  // Directory for saved vector indexes ("" = none: every Open rebuilds the
  // indexes from the Store). When set, Checkpoint() and the destructor save
  // each namespace's index there with the Store sequence it reflects, and
  // Open loads it and replays only records written after that sequence; a
  // missing, stale-format or corrupt file falls back to a full rebuild (the
  // reason is logged and in NamespaceStats::load_note). Default "".
  std::string index_dir;
  // Receives warnings (index rebuild reasons, failed checkpoints). Not owned.
  // Default: none.
  Logger* logger = nullptr;
};

struct ListPage {
  std::vector<MemoryRecord> records;  // in id order, without embeddings
  std::string next_page_token;        // "" at the end
};

struct NamespaceStats {
  size_t records = 0;      // live records in the index (expired but unpurged included)
  size_t index_bytes = 0;  // VectorIndex::MemoryUsage()
  // How Open obtained the index: rebuilt from the Store (and why) or loaded
  // from index_dir (and how many records were replayed). Empty for
  // namespaces created after Open.
  std::string load_note;
};

// Who is calling, for Memory::As().
struct MemoryPrincipal {
  // `user:<name>`, `agent:<name>` or `service:<name>`. Required.
  std::string subject;
  // Roles granted by the caller's credential (e.g. a token's roles claim),
  // evaluated in addition to the subject's bindings. Default none.
  std::vector<std::string> roles;
};

class Memory;

// Memory's operations on behalf of one principal, each checked against
// MemoryOptions::access first (PERMISSION_DENIED names subject, action and
// resource). A small value type; thread-safe as Memory is. Must not outlive
// the Memory it came from.
class KOS_EXPORT PrincipalMemory {
 public:
  absl::Status CreateNamespace(const NamespaceConfig& config);                 // write
  absl::StatusOr<NamespaceConfig> GetNamespace(absl::string_view name) const;  // read
  // Only the namespaces the principal may read.
  absl::StatusOr<std::vector<std::string>> ListNamespaces(absl::string_view prefix = "") const;
  absl::Status DeleteNamespace(absl::string_view name);                        // write
  absl::StatusOr<std::string> Add(absl::string_view ns, MemoryRecord record);  // write
  absl::StatusOr<std::vector<std::string>> AddBatch(absl::string_view ns,
                                                    std::vector<MemoryRecord> records);  // write
  absl::StatusOr<MemoryRecord> Get(absl::string_view ns, absl::string_view id) const;    // read
  absl::Status Update(absl::string_view ns, MemoryRecord record);                        // write
  absl::Status Delete(absl::string_view ns, absl::string_view id);                       // write
  absl::StatusOr<ListPage> List(absl::string_view ns, absl::string_view page_token = "",
                                size_t limit = 100) const;                            // read
  absl::StatusOr<std::vector<SearchHit>> Search(const SearchRequest& request) const;  // read
  // read (the access-time update of `touch` is part of reading)
  absl::StatusOr<std::vector<SearchHit>> Recall(const SearchRequest& request,
                                                const RecallOptions& options = {});
  absl::StatusOr<NamespaceStats> Stats(absl::string_view ns) const;  // read
  absl::Status AddLink(absl::string_view ns, absl::string_view from, absl::string_view type,
                       absl::string_view to);  // write
  absl::Status RemoveLink(absl::string_view ns, absl::string_view from, absl::string_view type,
                          absl::string_view to);  // write
  absl::StatusOr<std::vector<Link>> Neighbours(
      absl::string_view ns, absl::string_view id, absl::string_view type = "",
      LinkDirection direction = LinkDirection::kOutgoing) const;  // read
  absl::StatusOr<std::vector<LinkedRecord>> KHop(
      absl::string_view ns, absl::string_view id, int k, size_t max_nodes,
      absl::string_view type = "", LinkDirection direction = LinkDirection::kBoth) const;  // read

 private:
  friend class Memory;
  PrincipalMemory(Memory* memory, MemoryPrincipal principal)
      : memory_(memory), principal_(std::move(principal)) {}
  absl::Status Check(absl::string_view ns, absl::string_view action) const;

  Memory* memory_;
  MemoryPrincipal principal_;
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

  // Saves every namespace's index into MemoryOptions::index_dir (atomically,
  // one file per namespace). FAILED_PRECONDITION without index_dir. Also done
  // by the destructor. Writers of a namespace wait while it is saved.
  absl::Status Checkpoint();
  // (Re)builds the namespace's index from the vectors it holds: trains a
  // FAISS IVF index now instead of at ivf_train_size records, or re-clusters
  // a trained one. No-op for other kinds. Not persisted by itself: the next
  // Checkpoint saves the trained index (a restart before that retrains once
  // ivf_train_size records are loaded).
  absl::Status TrainIndex(absl::string_view ns);

  // Deletes expired records from the Store and frees their index slots.
  absl::StatusOr<size_t> PurgeExpired();

  absl::StatusOr<NamespaceStats> Stats(absl::string_view ns) const;

  // The same operations, permission-checked for `principal`.
  PrincipalMemory As(MemoryPrincipal principal) {
    return PrincipalMemory(this, std::move(principal));
  }

  // Links. Both records must exist (NOT_FOUND otherwise); adding an existing
  // link is OK. Deleting a record (or its namespace, or purging it after
  // expiry) deletes its links in the same Store batch. Links to expired but
  // unpurged records are hidden.
  absl::Status AddLink(absl::string_view ns, absl::string_view from, absl::string_view type,
                       absl::string_view to);
  // NOT_FOUND if there is no such link.
  absl::Status RemoveLink(absl::string_view ns, absl::string_view from, absl::string_view type,
                          absl::string_view to);
  // Links of `id` in `direction`, of `type` ("" = any), sorted. NOT_FOUND if
  // the record is absent.
  absl::StatusOr<std::vector<Link>> Neighbours(
      absl::string_view ns, absl::string_view id, absl::string_view type = "",
      LinkDirection direction = LinkDirection::kOutgoing) const;
  // Breadth-first: records within `k` links of `id` (following `direction`
  // and `type`), nearest first, at most `max_nodes` (1..100000), the start
  // excluded.
  absl::StatusOr<std::vector<LinkedRecord>> KHop(
      absl::string_view ns, absl::string_view id, int k, size_t max_nodes,
      absl::string_view type = "", LinkDirection direction = LinkDirection::kBoth) const;

  struct Namespace;  // opaque

 private:
  friend class PrincipalMemory;
  explicit Memory(const MemoryOptions& options);
  absl::StatusOr<std::shared_ptr<Namespace>> Find(absl::string_view name) const;
  absl::Status Load();
  absl::Status LoadLinks(Namespace* ns);
  absl::Status LoadSaved(Namespace* ns);
  absl::Status SaveNamespace(Namespace* ns);

  MemoryOptions options_;
  IdGenerator ids_;
  mutable absl::Mutex mu_;  // guards the map only, never held during work
  absl::flat_hash_map<std::string, std::shared_ptr<Namespace>> namespaces_ ABSL_GUARDED_BY(mu_);
};

// Checks a link type: 1..64 characters of [a-z0-9_].
KOS_EXPORT absl::Status ValidateLinkType(absl::string_view type);

// Checks a namespace name (see NamespaceConfig::name).
KOS_EXPORT absl::Status ValidateNamespaceName(absl::string_view name);

// Checks a filter's syntax without a namespace (unknown fields are not checked).
KOS_EXPORT absl::Status ValidateFilter(const Json& filter);

}  // namespace kos

#endif  // KOS_MEMORY_H_
