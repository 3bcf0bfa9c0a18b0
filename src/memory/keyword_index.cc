#include "memory/keyword_index.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"

namespace kos::memory_internal {

std::vector<std::string> KeywordTokens(absl::string_view text) {
  constexpr size_t kMaxToken = 256;
  std::vector<std::string> tokens;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty() && cur.size() <= kMaxToken) tokens.push_back(cur);
    cur.clear();
  };
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c >= 0x80) {
      cur.push_back(absl::ascii_tolower(c));
    } else {
      flush();
    }
  }
  flush();
  return tokens;
}

void KeywordIndex::Add(int64_t label, absl::string_view text) {
  const auto tokens = KeywordTokens(text);
  if (tokens.empty()) return;
  for (const auto& t : tokens) ++postings_[t][label];
  doc_len_[label] = static_cast<uint32_t>(tokens.size());
  total_len_ += tokens.size();
  ++docs_;
}

void KeywordIndex::Remove(int64_t label, absl::string_view text) {
  auto len = doc_len_.find(label);
  if (len == doc_len_.end()) return;
  total_len_ -= len->second;
  doc_len_.erase(len);
  --docs_;
  for (const auto& t : KeywordTokens(text)) {
    auto p = postings_.find(t);
    if (p == postings_.end()) continue;
    p->second.erase(label);
    if (p->second.empty()) postings_.erase(p);
  }
}

std::vector<std::pair<int64_t, double>> KeywordIndex::Search(
    absl::string_view query, size_t k, const std::function<bool(int64_t)>& accept) const {
  std::vector<std::pair<int64_t, double>> out;
  if (docs_ == 0 || k == 0) return out;
  const double n = static_cast<double>(docs_);
  const double avgdl = static_cast<double>(total_len_) / n;
  absl::flat_hash_map<int64_t, double> scores;
  absl::flat_hash_set<std::string> seen;
  for (const auto& term : KeywordTokens(query)) {
    // A repeated query term counts once (as in FTS5's bm25()).
    if (!seen.insert(term).second) continue;
    auto p = postings_.find(term);
    if (p == postings_.end()) continue;
    const double df = static_cast<double>(p->second.size());
    const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    for (const auto& [label, tf] : p->second) {
      const double dl = doc_len_.at(label);
      const double f = static_cast<double>(tf);
      scores[label] += idf * f * (kK1 + 1) / (f + kK1 * (1 - kB + kB * dl / avgdl));
    }
  }
  out.reserve(scores.size());
  for (const auto& [label, s] : scores) {
    if (!accept || accept(label)) out.emplace_back(label, s);
  }
  auto better = [](const std::pair<int64_t, double>& a, const std::pair<int64_t, double>& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  const size_t m = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + m, out.end(), better);
  out.resize(m);
  return out;
}

std::vector<FusedHit> FuseRrf(const std::vector<int64_t>& vector_ranking,
                              const std::vector<int64_t>& keyword_ranking, double vector_weight,
                              double keyword_weight, int rrf_k) {
  absl::flat_hash_map<int64_t, size_t> pos;
  std::vector<FusedHit> hits;
  auto at = [&](int64_t label) -> FusedHit& {
    auto [it, fresh] = pos.try_emplace(label, hits.size());
    if (fresh) hits.push_back(FusedHit{label, 0, 0, 0});
    return hits[it->second];
  };
  for (size_t i = 0; i < vector_ranking.size(); ++i) {
    FusedHit& h = at(vector_ranking[i]);
    if (h.vector_rank == 0) {
      h.vector_rank = i + 1;
      h.score += vector_weight / (rrf_k + static_cast<double>(i + 1));
    }
  }
  for (size_t i = 0; i < keyword_ranking.size(); ++i) {
    FusedHit& h = at(keyword_ranking[i]);
    if (h.keyword_rank == 0) {
      h.keyword_rank = i + 1;
      h.score += keyword_weight / (rrf_k + static_cast<double>(i + 1));
    }
  }
  auto best = [](const FusedHit& h) {
    size_t b = SIZE_MAX;
    if (h.vector_rank) b = std::min(b, h.vector_rank);
    if (h.keyword_rank) b = std::min(b, h.keyword_rank);
    return b;
  };
  std::stable_sort(hits.begin(), hits.end(), [&](const FusedHit& a, const FusedHit& b) {
    if (a.score != b.score) return a.score > b.score;
    if (best(a) != best(b)) return best(a) < best(b);
    if ((a.vector_rank != 0) != (b.vector_rank != 0)) return a.vector_rank != 0;
    return a.label < b.label;
  });
  return hits;
}

}  // namespace kos::memory_internal
