// VectorIndex: an in-memory nearest-neighbour index over fixed-dimension float
// vectors keyed by caller-chosen 64-bit ids, with implementations on FAISS
// (exact flat, HNSW, IVF-flat) and hnswlib (HNSW). Filters run inside the search (the
// index skips non-matching ids while it walks), so a filtered top-k keeps its
// recall instead of being cut down after the fact. Deleted slots are reused
// (hnswlib) or compacted (FAISS flat/HNSW) or taken out of the inverted lists
// (FAISS IVF), so add/delete churn does not grow memory.
#ifndef KOS_VECTOR_INDEX_H_
#define KOS_VECTOR_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kos/export.h"

namespace kos {

enum class Metric {
  kCosine,        // vectors are L2-normalized on the way in; score = cosine in [-1, 1]
  kInnerProduct,  // score = dot product
  kL2,            // score = -(squared Euclidean distance), so larger is closer everywhere
};

enum class IndexKind {
  kFaissFlat,  // exact brute force (FAISS IndexFlat); removal compacts storage
  kFaissHnsw,  // FAISS IndexHNSWFlat; removals are tombstones rebuilt away past a threshold
  kHnswlib,    // hnswlib HierarchicalNSW; removed slots are reused by later adds
  kFaissIvf,   // FAISS IndexIVFFlat (large sets): exact until trained, then nprobe lists
};

// Parses/prints "cosine" | "ip" | "l2" and "faiss_flat" | "faiss_hnsw" | "hnswlib" |
// "faiss_ivf".
KOS_EXPORT absl::StatusOr<Metric> ParseMetric(absl::string_view s);
KOS_EXPORT const char* MetricName(Metric m);
KOS_EXPORT absl::StatusOr<IndexKind> ParseIndexKind(absl::string_view s);
KOS_EXPORT const char* IndexKindName(IndexKind k);

struct VectorIndexOptions {
  // Number of components per vector (1..65536). Required.
  int dimension = 0;
  // Similarity measure. Default: cosine.
  Metric metric = Metric::kCosine;
  // Which implementation. Default: hnswlib (fastest single-thread HNSW here).
  IndexKind kind = IndexKind::kHnswlib;
  // HNSW graph degree (2..256). Default 16.
  int m = 16;
  // HNSW build beam width (>= 1). Default 200.
  int ef_construction = 200;
  // HNSW search beam width (>= 1); raised to k when k is larger. Default 64.
  int ef_search = 64;
  // Initial capacity; the index grows by doubling. Default 1024.
  size_t initial_capacity = 1024;
  // FAISS HNSW only: rebuild the graph when tombstones exceed this fraction of
  // stored vectors (keeps memory <= (1 + fraction) x live). Default 0.2.
  double rebuild_tombstone_fraction = 0.2;
  // FAISS IVF only: number of k-means lists; 0 = about sqrt(training vectors).
  // Always capped at training vectors / 39 (FAISS's minimum per centroid).
  // Default 0.
  int nlist = 0;
  // FAISS IVF only: lists probed per query (>= 1); Search's `ef_search`
  // argument overrides it when > 0. Default 16.
  int nprobe = 16;
  // FAISS IVF only: the index trains itself on everything it holds once this
  // many vectors have been added (until then searches are exact); Train()
  // forces it earlier. Default 10000.
  size_t ivf_train_size = 10000;
};

// One search hit. Larger `score` means more similar for every metric.
struct Neighbor {
  int64_t id = 0;
  float score = 0;
};

// Decides whether an id may appear in results. Called from inside the search,
// possibly many times per query; must be cheap and must not call back into the
// index.
using IdFilter = std::function<bool(int64_t id)>;

// Abstract index. Not thread-safe for writes: callers serialize Add/Remove
// against everything else; concurrent Search/Contains/GetVector calls with no
// writer active are safe.
class KOS_EXPORT VectorIndex {
 public:
  virtual ~VectorIndex();

  static absl::StatusOr<std::unique_ptr<VectorIndex>> Create(const VectorIndexOptions& options);

  // Adds or replaces vectors; `vectors` holds ids.size() * dimension floats.
  // INVALID_ARGUMENT (nothing added) on a size mismatch, NaN/Inf, a zero vector
  // under cosine, or a repeated id within the call.
  virtual absl::Status Add(absl::Span<const int64_t> ids, absl::Span<const float> vectors) = 0;

  // Removes ids; unknown ids are ignored. Returns how many were removed.
  virtual absl::StatusOr<size_t> Remove(absl::Span<const int64_t> ids) = 0;

  // Top-k by score (descending) among ids accepted by `filter` (all if null).
  // `ef_search` overrides Options::ef_search (HNSW) or Options::nprobe (IVF)
  // when > 0.
  virtual absl::StatusOr<std::vector<Neighbor>> Search(absl::Span<const float> query, size_t k,
                                                       const IdFilter& filter = nullptr,
                                                       int ef_search = 0) const = 0;

  // Filtered search when the caller can enumerate the filter's matches:
  // `seeds` are some matching ids spread over the set (a handful). A graph
  // index then starts from the seeds and walks only accepted nodes, stepping
  // through a rejected neighbour to its own neighbours (ACORN-1, Patel et al.
  // SIGMOD 2024, as Qdrant does at search time), instead of wading through
  // the rejected part of the graph: with a filter that selects one region of
  // the space (a class label) the plain filtered walk visits most of the
  // graph. Default: Search(query, k, filter, ef_search).
  virtual absl::StatusOr<std::vector<Neighbor>> SearchFiltered(
      absl::Span<const float> query, size_t k, const IdFilter& filter, int ef_search,
      absl::Span<const int64_t> seeds) const;

  // Exact top-k restricted to `candidates` (unknown ids skipped). Used when a
  // filter is so selective that scanning its matches beats walking the graph.
  // Implementations may override it to score stored vectors in place.
  virtual absl::StatusOr<std::vector<Neighbor>> SearchSubset(
      absl::Span<const float> query, size_t k, absl::Span<const int64_t> candidates) const;

  // Builds whatever the index needs from the vectors it holds: FAISS IVF
  // clusters them (again, if already trained: a rebuild); other kinds need
  // nothing and return OK.
  virtual absl::Status Train();
  // False only for an IVF index still holding its vectors flat (exact search).
  virtual bool Trained() const;

  // Copies the stored (normalized, for cosine) vector of `id` into `out`
  // (dimension floats). NOT_FOUND if absent.
  virtual absl::Status GetVector(int64_t id, float* out) const = 0;
  virtual bool Contains(int64_t id) const = 0;

  // Live vectors.
  virtual size_t Size() const = 0;
  // Approximate heap bytes held by the index, including removed-but-unreclaimed slots.
  virtual size_t MemoryUsage() const = 0;

  // Writes the index to `path` (atomically: temp file + rename) and reads it back.
  virtual absl::Status Save(const std::string& path) const = 0;
  // Replaces the contents with the file's. DATA_LOSS if the file is corrupt or
  // was written with other options.
  virtual absl::Status Load(const std::string& path) = 0;

  const VectorIndexOptions& options() const { return options_; }

  // The score of `b` against query `a` under the index metric (both already
  // normalized for cosine).
  float Score(const float* a, const float* b) const;

 protected:
  explicit VectorIndex(const VectorIndexOptions& options) : options_(options) {}
  // Checks sizes and values, and normalizes for cosine into `out`.
  absl::Status PrepareVectors(absl::Span<const int64_t> ids, absl::Span<const float> vectors,
                              std::vector<float>* out) const;
  absl::Status PrepareQuery(absl::Span<const float> query, std::vector<float>* out) const;

  VectorIndexOptions options_;
};

// Validates vector contents: right length, finite components.
KOS_EXPORT absl::Status ValidateVector(absl::Span<const float> v, int dimension);

}  // namespace kos

#endif  // KOS_VECTOR_INDEX_H_
