// VectorIndex on hnswlib (Debian libhnswlib-dev 0.6.2, header-only).
//
// hnswlib labels here are slot numbers, not caller ids: a removed id's slot is
// marked deleted and put on a free list, and the next Add re-inserts into that
// slot (hnswlib's addPoint on an existing label unmarks and re-links it). So
// churn reuses memory instead of growing it. 0.6.2 has no filter functor, so
// filtered search is our own base-layer beam search over hnswlib's public
// graph, mirroring the filtered search of later hnswlib releases: non-matching
// nodes are still traversed (keeping the graph connected) but never enter the
// result set, and the beam keeps expanding until it holds ef matches.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <queue>
#include <sstream>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "kos/status.h"
#include "memory/hnswlib_wrapped.h"
#include "memory/index_impls.h"
#include "memory/simd_distance.h"

namespace kos::memory_internal {
namespace {

namespace hnswlib = ::kos_hnswlib_private::hnswlib;

constexpr absl::string_view kMagic = "KOSHNSW1";

// An hnswlib space around one of our distance kernels (memory/simd_distance.h).
class KernelSpace final : public hnswlib::SpaceInterface<float> {
 public:
  KernelSpace(size_t dim, DistanceKernel kernel) : dim_(dim), kernel_(kernel) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return kernel_; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  DistanceKernel kernel_;
};

// The walks ask "is this node live, and whose is it?" for every node they
// meet, most of them rejected by a filter. hnswlib keeps both answers inside
// the node's 3 KB record (deleted mark in the link header, label after the
// vector), two cache misses per node; this dense copy, indexed by internal
// id, keeps the question in L1/L2 (perf: the misses were 70% of the filtered
// walk's own time at 10% selectivity).
class NodeTable {
 public:
  void Set(hnswlib::tableint internal, int64_t id) {
    if (internal >= ids_.size()) {
      ids_.resize(std::max<size_t>(internal + 1, ids_.size() * 2));
      live_.resize((ids_.size() + 63) / 64);
    }
    ids_[internal] = id;
    live_[internal / 64] |= uint64_t{1} << (internal % 64);
  }
  void Clear(hnswlib::tableint internal) {
    live_[internal / 64] &= ~(uint64_t{1} << (internal % 64));
  }
  bool Live(hnswlib::tableint internal) const {
    return internal < ids_.size() && ((live_[internal / 64] >> (internal % 64)) & 1);
  }
  // The caller id of a live node.
  int64_t Id(hnswlib::tableint internal) const { return ids_[internal]; }
  size_t Bytes() const {
    return ids_.capacity() * sizeof(int64_t) + live_.capacity() * sizeof(uint64_t);
  }

 private:
  std::vector<int64_t> ids_;    // internal id -> caller id (valid where live)
  std::vector<uint64_t> live_;  // bit per internal id: holds a live vector
};

class HnswlibIndex final : public VectorIndex {
 public:
  explicit HnswlibIndex(const VectorIndexOptions& o) : VectorIndex(o) {
    const DistanceKernel kernel =
        o.metric == Metric::kL2 ? L2SquaredAvx2Kernel() : InnerProductAvx2Kernel();
    if (kernel != nullptr) {
      space_ = std::make_unique<KernelSpace>(o.dimension, kernel);
    } else if (o.metric == Metric::kL2) {
      space_ = std::make_unique<hnswlib::L2Space>(o.dimension);
    } else {
      space_ = std::make_unique<hnswlib::InnerProductSpace>(o.dimension);
    }
    Reset(std::max<size_t>(o.initial_capacity, 16));
  }

  absl::Status Add(absl::Span<const int64_t> ids, absl::Span<const float> vectors) override {
    std::vector<float> v;
    KOS_RETURN_IF_ERROR(PrepareVectors(ids, vectors, &v));
    const size_t d = options_.dimension;
    try {
      size_t need = 0;
      for (int64_t id : ids) need += id_to_slot_.contains(id) ? 0 : 1;
      if (need > free_slots_.size()) {
        const size_t want = next_slot_ + (need - free_slots_.size());
        if (want > index_->max_elements_) {
          index_->resizeIndex(std::max(want, index_->max_elements_ * 2));
        }
      }
      for (size_t i = 0; i < ids.size(); ++i) {
        size_t slot;
        auto it = id_to_slot_.find(ids[i]);
        if (it != id_to_slot_.end()) {
          slot = it->second;
        } else if (!free_slots_.empty()) {
          slot = free_slots_.back();
          free_slots_.pop_back();
        } else {
          slot = next_slot_++;
          slot_to_id_.push_back(0);
        }
        index_->addPoint(v.data() + i * d, slot);
        slot_to_id_[slot] = ids[i];
        id_to_slot_[ids[i]] = slot;
        nodes_.Set(index_->label_lookup_.at(slot), ids[i]);
      }
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(absl::StrCat("hnswlib add failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Remove(absl::Span<const int64_t> ids) override {
    size_t n = 0;
    for (int64_t id : ids) {
      auto it = id_to_slot_.find(id);
      if (it == id_to_slot_.end()) continue;
      try {
        index_->markDelete(it->second);
        nodes_.Clear(index_->label_lookup_.at(it->second));
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat("hnswlib markDelete failed: ", e.what()));
      }
      free_slots_.push_back(it->second);
      id_to_slot_.erase(it);
      ++n;
    }
    return n;
  }

  absl::StatusOr<std::vector<Neighbor>> Search(absl::Span<const float> query, size_t k,
                                               const IdFilter& filter,
                                               int ef_search) const override {
    std::vector<float> q;
    KOS_RETURN_IF_ERROR(PrepareQuery(query, &q));
    std::vector<Neighbor> out;
    if (k == 0 || id_to_slot_.empty()) return out;
    const size_t ef = std::max<size_t>(k, ef_search > 0 ? ef_search : options_.ef_search);
    // Without a filter, hnswlib's own base-layer search is the walk we want
    // (it skips deleted slots itself), and it is the code the raw-hnswlib
    // baseline runs: using it keeps the wrapper's cost to the id mapping.
    auto top = filter ? BeamSearch(q.data(), ef, filter) : BaseSearch(q.data(), ef);
    while (top.size() > k) top.pop();
    out.resize(top.size());
    for (size_t i = top.size(); i-- > 0;) {
      const auto& [dist, internal] = top.top();
      out[i] = {nodes_.Id(internal), ToScore(dist)};
      top.pop();
    }
    return out;
  }

  absl::StatusOr<std::vector<Neighbor>> SearchFiltered(
      absl::Span<const float> query, size_t k, const IdFilter& filter, int ef_search,
      absl::Span<const int64_t> seeds) const override {
    if (!filter || seeds.empty()) return Search(query, k, filter, ef_search);
    std::vector<float> q;
    KOS_RETURN_IF_ERROR(PrepareQuery(query, &q));
    std::vector<Neighbor> out;
    if (k == 0 || id_to_slot_.empty()) return out;
    const size_t ef = std::max<size_t>(k, ef_search > 0 ? ef_search : options_.ef_search);
    auto top = AcornSearch(q.data(), ef, filter, seeds);
    while (top.size() > k) top.pop();
    out.resize(top.size());
    for (size_t i = top.size(); i-- > 0;) {
      const auto& [dist, internal] = top.top();
      out[i] = {nodes_.Id(internal), ToScore(dist)};
      top.pop();
    }
    return out;
  }

  // Scores the stored vectors where they lie, with hnswlib's SIMD distance
  // (the generic version copies each vector out and uses a scalar loop).
  absl::StatusOr<std::vector<Neighbor>> SearchSubset(
      absl::Span<const float> query, size_t k,
      absl::Span<const int64_t> candidates) const override {
    std::vector<float> q;
    KOS_RETURN_IF_ERROR(PrepareQuery(query, &q));
    const auto& h = *index_;
    std::vector<Neighbor> all;
    all.reserve(candidates.size());
    for (int64_t id : candidates) {
      auto it = id_to_slot_.find(id);
      if (it == id_to_slot_.end()) continue;
      auto lt = h.label_lookup_.find(it->second);
      if (lt == h.label_lookup_.end()) continue;
      const float d =
          h.fstdistfunc_(q.data(), h.getDataByInternalId(lt->second), h.dist_func_param_);
      all.push_back({id, ToScore(d)});
    }
    const size_t n = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + n, all.end(),
                      [](const Neighbor& a, const Neighbor& b) {
                        return a.score > b.score || (a.score == b.score && a.id < b.id);
                      });
    all.resize(n);
    return all;
  }

  absl::Status GetVector(int64_t id, float* out) const override {
    auto it = id_to_slot_.find(id);
    if (it == id_to_slot_.end()) return absl::NotFoundError(absl::StrCat("no vector ", id));
    const auto internal = index_->label_lookup_.at(it->second);
    memcpy(out, index_->getDataByInternalId(internal), options_.dimension * sizeof(float));
    return absl::OkStatus();
  }

  bool Contains(int64_t id) const override { return id_to_slot_.contains(id); }
  size_t Size() const override { return id_to_slot_.size(); }

  size_t MemoryUsage() const override {
    const auto& h = *index_;
    size_t bytes = h.max_elements_ * (h.size_data_per_element_ + sizeof(void*) + sizeof(int) +
                                      sizeof(hnswlib::vl_type) + sizeof(std::mutex));
    for (size_t i = 0; i < h.cur_element_count; ++i) {
      if (h.element_levels_[i] > 0) bytes += h.size_links_per_element_ * h.element_levels_[i];
    }
    // unordered_map node + bucket, and our two maps.
    bytes += h.label_lookup_.size() * 40;
    bytes += slot_to_id_.capacity() * sizeof(int64_t) + free_slots_.capacity() * sizeof(size_t);
    bytes += id_to_slot_.capacity() * (sizeof(int64_t) + sizeof(size_t) + 1);
    bytes += nodes_.Bytes();
    return bytes;
  }

  absl::Status Save(const std::string& path) const override {
    const std::string tmp = absl::StrCat(path, ".graph.tmp");
    std::string graph;
    try {
      index_->saveIndex(tmp);
      std::ifstream f(tmp, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      graph = ss.str();
    } catch (const std::exception& e) {
      std::remove(tmp.c_str());
      return absl::UnavailableError(absl::StrCat("hnswlib save failed: ", e.what()));
    }
    std::remove(tmp.c_str());
    std::string payload;
    PutOptions(&payload, options_);
    PutPod<uint64_t>(&payload, next_slot_);
    PutPod<uint64_t>(&payload, free_slots_.size());
    for (int64_t id : slot_to_id_) PutPod(&payload, id);
    for (size_t s : free_slots_) PutPod<uint64_t>(&payload, s);
    payload += graph;
    return WriteFramedFile(path, kMagic, payload);
  }

  absl::Status Load(const std::string& path) override {
    KOS_ASSIGN_OR_RETURN(std::string payload, ReadFramedFile(path, kMagic));
    absl::string_view in(payload);
    KOS_RETURN_IF_ERROR(CheckOptions(&in, options_));
    uint64_t next = 0, nfree = 0;
    if (!GetPod(&in, &next) || !GetPod(&in, &nfree) || nfree > next ||
        in.size() < next * 8 + nfree * 8) {
      return absl::DataLossError(absl::StrCat(path, ": bad slot table"));
    }
    std::vector<int64_t> slot_to_id(next);
    std::vector<size_t> free_slots(nfree);
    for (auto& id : slot_to_id) GetPod(&in, &id);
    for (auto& s : free_slots) {
      uint64_t v = 0;
      GetPod(&in, &v);
      if (v >= next) return absl::DataLossError(absl::StrCat(path, ": bad free slot"));
      s = v;
    }
    const std::string tmp = absl::StrCat(path, ".graph.tmp");
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f.write(in.data(), in.size());
      if (!f) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> idx;
    try {
      idx = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), tmp);
    } catch (const std::exception& e) {
      std::remove(tmp.c_str());
      return absl::DataLossError(absl::StrCat(path, ": bad graph: ", e.what()));
    }
    std::remove(tmp.c_str());
    if (idx->cur_element_count != next) {
      return absl::DataLossError(absl::StrCat(path, ": graph and slot table disagree"));
    }
    // hnswlib 0.6.2's loading constructor never zeroes num_deleted_ before
    // counting into it; garbage there sends every search down the slower
    // has-deletions path (and skews nothing else we use). Recount.
    idx->num_deleted_ = 0;
    for (size_t i = 0; i < idx->cur_element_count; ++i) {
      if (idx->isMarkedDeleted(i)) ++idx->num_deleted_;
    }
    absl::flat_hash_map<int64_t, size_t> id_to_slot;
    std::vector<bool> is_free(next, false);
    for (size_t s : free_slots) is_free[s] = true;
    NodeTable nodes;
    for (size_t s = 0; s < next; ++s) {
      if (is_free[s]) continue;
      id_to_slot[slot_to_id[s]] = s;
      auto lt = idx->label_lookup_.find(s);
      if (lt == idx->label_lookup_.end() || idx->isMarkedDeleted(lt->second)) {
        return absl::DataLossError(absl::StrCat(path, ": slot ", s, " has no live node"));
      }
      nodes.Set(lt->second, slot_to_id[s]);
    }
    index_ = std::move(idx);
    slot_to_id_ = std::move(slot_to_id);
    free_slots_ = std::move(free_slots);
    id_to_slot_ = std::move(id_to_slot);
    next_slot_ = next;
    nodes_ = std::move(nodes);
    return absl::OkStatus();
  }

 private:
  using Dist = std::pair<float, hnswlib::tableint>;
  // hnswlib's own heap type (farthest on top), so its search result is used as is.
  using MaxHeap =
      std::priority_queue<Dist, std::vector<Dist>, hnswlib::HierarchicalNSW<float>::CompareByFirst>;

  void Reset(size_t capacity) {
    index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        space_.get(), capacity, options_.m, options_.ef_construction, /*random_seed=*/100);
    slot_to_id_.clear();
    free_slots_.clear();
    id_to_slot_.clear();
    next_slot_ = 0;
    nodes_ = NodeTable();
  }

  float ToScore(float dist) const {
    // hnswlib: L2 space returns squared distance; IP space returns 1 - dot.
    return options_.metric == Metric::kL2 ? -dist : 1.0f - dist;
  }

  // Greedy descent through the upper layers to the layer-0 entry point.
  // `scored`, if given, receives every node the descent computed a distance
  // for (the filtered walk takes the accepted ones as free, query-near seeds).
  hnswlib::tableint Descend(const float* q, float* entry_dist,
                            std::vector<Dist>* scored = nullptr) const {
    const auto& h = *index_;
    auto dist = [&](hnswlib::tableint id) {
      return h.fstdistfunc_(q, h.getDataByInternalId(id), h.dist_func_param_);
    };
    hnswlib::tableint cur = h.enterpoint_node_;
    float cur_d = dist(cur);
    for (int level = h.maxlevel_; level > 0; --level) {
      bool changed = true;
      while (changed) {
        changed = false;
        auto* ll = h.get_linklist(cur, level);
        const int n = h.getListCount(ll);
        const auto* nb = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
        for (int i = 0; i < n; ++i) {
          const float d = dist(nb[i]);
          if (scored != nullptr) scored->emplace_back(d, nb[i]);
          if (d < cur_d) {
            cur_d = d;
            cur = nb[i];
            changed = true;
          }
        }
      }
    }
    *entry_dist = cur_d;
    return cur;
  }

  // Unfiltered layer-0 search by hnswlib itself. Returns a max-heap
  // (farthest on top) of at most `ef` non-deleted nodes.
  MaxHeap BaseSearch(const float* q, size_t ef) const {
    const auto& h = *index_;
    float entry_d;
    const hnswlib::tableint entry = Descend(q, &entry_d);
    return h.num_deleted_ ? h.template searchBaseLayerST<true>(entry, q, ef)
                          : h.template searchBaseLayerST<false>(entry, q, ef);
  }

  // Filtered beam search of layer 0 after the greedy descent. Returns a
  // max-heap (farthest on top) of at most `ef` accepted, non-deleted nodes.
  MaxHeap BeamSearch(const float* q, size_t ef, const IdFilter& filter) const {
    const auto& h = *index_;
    auto dist = [&](hnswlib::tableint id) {
      return h.fstdistfunc_(q, h.getDataByInternalId(id), h.dist_func_param_);
    };
    float cur_d;
    const hnswlib::tableint cur = Descend(q, &cur_d);
    auto accept = [&](hnswlib::tableint id) {
      return nodes_.Live(id) && (!filter || filter(nodes_.Id(id)));
    };
    hnswlib::VisitedList* vl = h.visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* visited = vl->mass;
    const hnswlib::vl_type tag = vl->curV;
    MaxHeap top;
    std::priority_queue<Dist> candidates;  // by negated distance: nearest on top
    float lower = std::numeric_limits<float>::max();
    if (accept(cur)) {
      top.emplace(cur_d, cur);
      lower = cur_d;
    }
    candidates.emplace(-cur_d, cur);
    visited[cur] = tag;
    while (!candidates.empty()) {
      const auto [neg_d, c] = candidates.top();
      if (-neg_d > lower && top.size() >= ef) break;
      candidates.pop();
      auto* ll = h.get_linklist0(c);
      const int n = h.getListCount(ll);
      const auto* nb = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
      // Prefetch the next neighbour's visited mark and vector while this one
      // is scored, as hnswlib's own base-layer search does; for 3 KB vectors
      // this is most of the difference to a naive walk.
      if (n > 0) {
        _mm_prefetch(reinterpret_cast<const char*>(visited + nb[0]), _MM_HINT_T0);
        _mm_prefetch(h.getDataByInternalId(nb[0]), _MM_HINT_T0);
      }
      for (int i = 0; i < n; ++i) {
        const hnswlib::tableint x = nb[i];
        if (i + 1 < n) {
          _mm_prefetch(reinterpret_cast<const char*>(visited + nb[i + 1]), _MM_HINT_T0);
          _mm_prefetch(h.getDataByInternalId(nb[i + 1]), _MM_HINT_T0);
        }
        if (visited[x] == tag) continue;
        visited[x] = tag;
        const float d = dist(x);
        if (top.size() < ef || d < lower) {
          candidates.emplace(-d, x);
          if (accept(x)) {
            top.emplace(d, x);
            if (top.size() > ef) top.pop();
          }
          if (!top.empty() && top.size() >= ef) lower = top.top().first;
        }
      }
    }
    h.visited_list_pool_->releaseVisitedList(vl);
    return top;
  }

  // Layer-0 beam search over accepted nodes only, seeded with the greedy
  // descent's entry point (if accepted) and `seeds`. A rejected neighbour is
  // not scored; its neighbours are considered instead (two hops), and each
  // expansion scores at most 2M new nodes, so the cost per expansion stays
  // that of an unfiltered walk.
  MaxHeap AcornSearch(const float* q, size_t ef, const IdFilter& filter,
                      absl::Span<const int64_t> seeds) const {
    const auto& h = *index_;
    auto dist = [&](hnswlib::tableint id) {
      return h.fstdistfunc_(q, h.getDataByInternalId(id), h.dist_func_param_);
    };
    auto accept = [&](hnswlib::tableint id) { return nodes_.Live(id) && filter(nodes_.Id(id)); };
    hnswlib::VisitedList* vl = h.visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* visited = vl->mass;
    const hnswlib::vl_type tag = vl->curV;
    MaxHeap top;
    std::priority_queue<Dist> candidates;  // by negated distance: nearest on top
    float lower = std::numeric_limits<float>::max();
    auto consider = [&](hnswlib::tableint x, float d) {
      if (top.size() >= ef && d >= lower) return;
      candidates.emplace(-d, x);
      top.emplace(d, x);
      if (top.size() > ef) top.pop();
      if (top.size() >= ef) lower = top.top().first;
    };
    float entry_d;
    std::vector<Dist> scored;
    const hnswlib::tableint entry = Descend(q, &entry_d, &scored);
    scored.emplace_back(entry_d, entry);
    // Accepted nodes the upper-layer descent met near the query are the
    // best entry points there are, and their distances are already known.
    for (const auto& [d, x] : scored) {
      if (visited[x] == tag || !accept(x)) continue;
      visited[x] = tag;
      consider(x, d);
    }
    // Plus the caller's seeds, spread over all matches (measured: dropping
    // them when the descent found matching nodes made the walk slower).
    for (int64_t id : seeds) {
      auto it = id_to_slot_.find(id);
      if (it == id_to_slot_.end()) continue;
      auto lt = h.label_lookup_.find(it->second);
      if (lt == h.label_lookup_.end()) continue;
      const hnswlib::tableint x = lt->second;
      if (visited[x] == tag || !accept(x)) continue;
      visited[x] = tag;
      consider(x, dist(x));
    }
    const size_t cap = 2 * options_.m;
    std::vector<hnswlib::tableint> bridges, fresh;
    while (!candidates.empty()) {
      const auto [neg_d, c] = candidates.top();
      if (-neg_d > lower && top.size() >= ef) break;
      candidates.pop();
      bridges.clear();
      fresh.clear();
      auto* ll = h.get_linklist0(c);
      const int n = h.getListCount(ll);
      const auto* nb = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
      size_t matching = 0;  // accepted direct neighbours, visited or not
      for (int i = 0; i < n; ++i) {
        const hnswlib::tableint x = nb[i];
        if (visited[x] == tag) {
          ++matching;  // only accepted nodes are ever marked visited
          continue;
        }
        if (accept(x)) {
          visited[x] = tag;
          ++matching;
          fresh.push_back(x);
        } else {
          // Rejected nodes stay unmarked: each matching node that meets
          // one may bridge through it to a different part of its neighbourhood.
          bridges.push_back(x);
        }
      }
      // Two hops only where the filter has thinned this node's links: where
      // most neighbours match, the one-hop walk is already connected, and
      // scoring two-hop nodes there only adds distance computations.
      const size_t two_hop_until = matching >= cap / 2 ? 0 : cap - matching;
      for (size_t b = 0; b < bridges.size() && fresh.size() < two_hop_until; ++b) {
        auto* ll2 = h.get_linklist0(bridges[b]);
        const int n2 = h.getListCount(ll2);
        const auto* nb2 = reinterpret_cast<const hnswlib::tableint*>(ll2 + 1);
        for (int i = 0; i < n2 && fresh.size() < two_hop_until; ++i) {
          const hnswlib::tableint y = nb2[i];
          if (visited[y] == tag || !accept(y)) continue;
          visited[y] = tag;
          fresh.push_back(y);
        }
      }
      for (size_t i = 0; i < fresh.size(); ++i) {
        if (i + 1 < fresh.size()) _mm_prefetch(h.getDataByInternalId(fresh[i + 1]), _MM_HINT_T0);
        consider(fresh[i], dist(fresh[i]));
      }
    }
    h.visited_list_pool_->releaseVisitedList(vl);
    return top;
  }

  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
  std::vector<int64_t> slot_to_id_;  // hnswlib label (slot) -> caller id
  std::vector<size_t> free_slots_;   // deleted slots awaiting reuse
  absl::flat_hash_map<int64_t, size_t> id_to_slot_;
  size_t next_slot_ = 0;
  NodeTable nodes_;  // live bit and caller id per hnswlib internal id
};

}  // namespace

std::unique_ptr<VectorIndex> NewHnswlibIndex(const VectorIndexOptions& options) {
  return std::make_unique<HnswlibIndex>(options);
}

}  // namespace kos::memory_internal
