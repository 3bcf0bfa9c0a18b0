// In-process BM25 keyword index over record text, one per namespace, and the
// reciprocal-rank fusion used by hybrid search. Kept in memory and rebuilt
// with the vector index when Memory opens, so it works over every Store
// backend (the Store API exposes no SQL, so SQLite FTS5 is not reachable).
#ifndef KOS_SRC_MEMORY_KEYWORD_INDEX_H_
#define KOS_SRC_MEMORY_KEYWORD_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace kos::memory_internal {

// Lowercased runs of ASCII letters/digits and non-ASCII bytes (the same
// tokens the hashing embedder uses), at most 256 bytes each.
std::vector<std::string> KeywordTokens(absl::string_view text);

// Not thread-safe; the owning namespace's mutex guards it.
class KeywordIndex {
 public:
  // BM25 parameters (Lucene/FTS5 defaults).
  static constexpr double kK1 = 1.2;
  static constexpr double kB = 0.75;

  void Add(int64_t label, absl::string_view text);
  // `text` must be what was passed to Add for `label`.
  void Remove(int64_t label, absl::string_view text);

  // Top `k` labels accepted by `accept` by BM25 score (descending; ties by
  // label), with idf = ln(1 + (N - df + 0.5) / (df + 0.5)).
  std::vector<std::pair<int64_t, double>> Search(absl::string_view query, size_t k,
                                                 const std::function<bool(int64_t)>& accept) const;

  size_t documents() const { return docs_; }

 private:
  absl::flat_hash_map<std::string, absl::flat_hash_map<int64_t, uint32_t>> postings_;
  absl::flat_hash_map<int64_t, uint32_t> doc_len_;
  uint64_t total_len_ = 0;
  size_t docs_ = 0;
};

// One fused result: the label, its RRF score, and its 1-based rank in each
// input list (0: absent).
struct FusedHit {
  int64_t label = 0;
  double score = 0;
  size_t vector_rank = 0;
  size_t keyword_rank = 0;
};

// Reciprocal rank fusion: score = vector_weight / (rrf_k + vector_rank) +
// keyword_weight / (rrf_k + keyword_rank), a missing rank contributing 0.
// Sorted by score, then by the better of the two ranks, then vector-ranked
// first, then label.
std::vector<FusedHit> FuseRrf(const std::vector<int64_t>& vector_ranking,
                              const std::vector<int64_t>& keyword_ranking, double vector_weight,
                              double keyword_weight, int rrf_k);

}  // namespace kos::memory_internal

#endif  // KOS_SRC_MEMORY_KEYWORD_INDEX_H_
