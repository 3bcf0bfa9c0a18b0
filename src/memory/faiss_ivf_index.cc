// VectorIndex on FAISS IndexIVFFlat (Debian libfaiss-dev 1.7.3), for large
// namespaces where an HNSW graph costs too much memory or build time.
//
// An IVF index needs k-means centroids before it can hold anything, so it has
// two phases:
//  - untrained: vectors are kept in a flat array and searched exactly (a small
//    namespace never needs more);
//  - trained: once Options::ivf_train_size vectors have arrived (or on an
//    explicit Train()), k-means runs on everything held so far and the vectors
//    move into the inverted lists. Train() on a trained index re-clusters all
//    live vectors (a rebuild, e.g. after the distribution drifted).
// The inverted lists store the caller's ids directly, so filters see ids, and
// remove_ids() takes entries out of the lists (and of the id -> entry hash
// map that GetVector uses): deletes free memory instead of leaving tombstones.
// List capacities are kept within 1.25x of their size (see Reserve/Shrink),
// because std::vector doubling alone would let memory reach 2x the live set.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "faiss/IndexFlat.h"
#include "faiss/IndexIVFFlat.h"
#include "faiss/impl/IDSelector.h"
#include "faiss/impl/io.h"
#include "faiss/index_io.h"
#include "faiss/invlists/InvertedLists.h"
#include "faiss/utils/distances.h"
#include "kos/status.h"
#include "memory/index_impls.h"

namespace kos::memory_internal {
namespace {

constexpr absl::string_view kMagic = "KOSFIVF1";
// FAISS warns on stderr (and clusters poorly) below 39 points per centroid.
constexpr size_t kMinPointsPerCentroid = 39;

// Accepts an id the caller's filter accepts.
struct FilterSelector : faiss::IDSelector {
  const IdFilter* filter;
  bool is_member(faiss::Index::idx_t id) const override { return (*filter)(id); }
};

class FaissIvfIndex final : public VectorIndex {
 public:
  explicit FaissIvfIndex(const VectorIndexOptions& o) : VectorIndex(o) {}

  absl::Status Add(absl::Span<const int64_t> ids, absl::Span<const float> vectors) override {
    std::vector<float> v;
    KOS_RETURN_IF_ERROR(PrepareVectors(ids, vectors, &v));
    std::vector<int64_t> replaced;
    for (int64_t id : ids) {
      if (Contains(id)) replaced.push_back(id);
    }
    if (!replaced.empty()) KOS_RETURN_IF_ERROR(Remove(replaced).status());
    if (ivf_ != nullptr) return AddTrained(ivf_.get(), &ivf_ids_, ids, v.data());
    const size_t d = options_.dimension;
    for (size_t i = 0; i < ids.size(); ++i) {
      pend_pos_[ids[i]] = pend_ids_.size();
      pend_ids_.push_back(ids[i]);
      pend_.insert(pend_.end(), v.data() + i * d, v.data() + (i + 1) * d);
    }
    if (pend_ids_.size() >= options_.ivf_train_size) return Train();
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Remove(absl::Span<const int64_t> ids) override {
    const size_t d = options_.dimension;
    std::vector<faiss::Index::idx_t> in_ivf;
    size_t n = 0;
    for (int64_t id : ids) {
      if (auto it = pend_pos_.find(id); it != pend_pos_.end()) {
        // Swap with the last row so the flat array stays dense.
        const size_t pos = it->second, last = pend_ids_.size() - 1;
        pend_pos_.erase(it);
        if (pos != last) {
          std::copy(pend_.begin() + last * d, pend_.begin() + (last + 1) * d,
                    pend_.begin() + pos * d);
          pend_ids_[pos] = pend_ids_[last];
          pend_pos_[pend_ids_[pos]] = pos;
        }
        pend_ids_.pop_back();
        pend_.resize(last * d);
        ++n;
      } else if (ivf_ids_.erase(id)) {
        in_ivf.push_back(id);
        ++n;
      }
    }
    if (!in_ivf.empty()) {
      try {
        // The hash-table direct map only supports removal by an id array.
        faiss::IDSelectorArray sel(in_ivf.size(), in_ivf.data());
        ivf_->remove_ids(sel);
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat("faiss remove failed: ", e.what()));
      }
      Shrink(ivf_.get());
    }
    if (pend_.capacity() > 2 * pend_.size() + 4096) {
      pend_.shrink_to_fit();
      pend_ids_.shrink_to_fit();
    }
    return n;
  }

  absl::StatusOr<std::vector<Neighbor>> Search(absl::Span<const float> query, size_t k,
                                               const IdFilter& filter,
                                               int ef_search) const override {
    std::vector<float> q;
    KOS_RETURN_IF_ERROR(PrepareQuery(query, &q));
    std::vector<Neighbor> out;
    if (k == 0 || Size() == 0) return out;
    if (ivf_ == nullptr) return ScanPending(q.data(), k, filter, nullptr);
    k = std::min(k, Size());
    FilterSelector sel;
    sel.filter = &filter;
    faiss::SearchParametersIVF p;
    size_t nprobe = ef_search > 0 ? ef_search : options_.nprobe;
    if (filter) {
      // The nearest matches of a filter lie farther out than the nearest
      // vectors, so probe 1/selectivity times more lists: for an evenly
      // spread filter that scores as many vectors as the unfiltered search
      // (the rest cost one selector test each), and keeps its recall.
      const double sel = EstimateSelectivity(filter);
      nprobe = static_cast<size_t>(std::ceil(nprobe / std::max(sel, 1e-6)));
    }
    p.nprobe = std::min(nprobe, ivf_->nlist);
    p.sel = filter ? &sel : nullptr;
    std::vector<float> dist(k);
    std::vector<faiss::Index::idx_t> labels(k, -1);
    try {
      for (;;) {
        std::fill(labels.begin(), labels.end(), -1);
        ivf_->search(1, q.data(), k, dist.data(), labels.data(), &p);
        // A filter whose matches are not in the probed lists leaves holes:
        // probe more lists (all of them is an exact filtered scan) rather
        // than return fewer than k.
        if (!filter || labels[k - 1] >= 0 || p.nprobe >= ivf_->nlist) break;
        p.nprobe = std::min(p.nprobe * 4, ivf_->nlist);
      }
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("faiss search failed: ", e.what()));
    }
    for (size_t i = 0; i < k && labels[i] >= 0; ++i) {
      out.push_back({labels[i], options_.metric == Metric::kL2 ? -dist[i] : dist[i]});
    }
    return out;
  }

  absl::StatusOr<std::vector<Neighbor>> SearchSubset(
      absl::Span<const float> query, size_t k,
      absl::Span<const int64_t> candidates) const override {
    if (ivf_ != nullptr) return VectorIndex::SearchSubset(query, k, candidates);
    std::vector<float> q;
    KOS_RETURN_IF_ERROR(PrepareQuery(query, &q));
    return ScanPending(q.data(), k, nullptr, &candidates);
  }

  absl::Status Train() override {
    const size_t d = options_.dimension;
    std::vector<int64_t> ids = pend_ids_;
    std::vector<float> x = pend_;
    if (ivf_ != nullptr) {
      // Rebuild: re-cluster every live vector.
      ids.reserve(ids.size() + ivf_ids_.size());
      x.resize((ids.size() + ivf_ids_.size()) * d);
      try {
        for (int64_t id : ivf_ids_) {
          ivf_->reconstruct(id, x.data() + ids.size() * d);
          ids.push_back(id);
        }
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat("faiss reconstruct failed: ", e.what()));
      }
    }
    if (ids.empty()) return absl::OkStatus();
    const size_t n = ids.size();
    const size_t most = std::max<size_t>(1, n / kMinPointsPerCentroid);
    size_t nlist = options_.nlist > 0 ? static_cast<size_t>(options_.nlist)
                                      : static_cast<size_t>(std::lround(std::sqrt(double(n))));
    nlist = std::clamp<size_t>(nlist, 1, most);
    const auto metric =
        options_.metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    std::unique_ptr<faiss::IndexIVFFlat> fresh;
    absl::flat_hash_set<int64_t> fresh_ids;
    try {
      faiss::IndexFlat* quantizer = new faiss::IndexFlat(d, metric);
      fresh = std::make_unique<faiss::IndexIVFFlat>(quantizer, d, nlist, metric);
      fresh->own_fields = true;
      fresh->cp.verbose = false;
      fresh->train(n, x.data());
      fresh->set_direct_map_type(faiss::DirectMap::Hashtable);
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(absl::StrCat("faiss IVF training failed: ", e.what()));
    }
    KOS_RETURN_IF_ERROR(AddTrained(fresh.get(), &fresh_ids, ids, x.data()));
    ivf_ = std::move(fresh);
    ivf_ids_ = std::move(fresh_ids);
    pend_.clear();
    pend_.shrink_to_fit();
    pend_ids_.clear();
    pend_ids_.shrink_to_fit();
    pend_pos_.clear();
    return absl::OkStatus();
  }

  bool Trained() const override { return ivf_ != nullptr; }

  absl::Status GetVector(int64_t id, float* out) const override {
    if (auto it = pend_pos_.find(id); it != pend_pos_.end()) {
      memcpy(out, pend_.data() + it->second * options_.dimension,
             options_.dimension * sizeof(float));
      return absl::OkStatus();
    }
    if (!ivf_ids_.contains(id)) return absl::NotFoundError(absl::StrCat("no vector ", id));
    try {
      ivf_->reconstruct(id, out);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("faiss reconstruct failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  bool Contains(int64_t id) const override {
    return pend_pos_.contains(id) || ivf_ids_.contains(id);
  }
  size_t Size() const override { return pend_ids_.size() + ivf_ids_.size(); }

  size_t MemoryUsage() const override {
    size_t bytes = pend_.capacity() * sizeof(float) + pend_ids_.capacity() * sizeof(int64_t) +
                   pend_pos_.capacity() * (sizeof(int64_t) + sizeof(size_t) + 1) +
                   ivf_ids_.capacity() * (sizeof(int64_t) + 1);
    if (ivf_ != nullptr) {
      auto* lists = static_cast<const faiss::ArrayInvertedLists*>(ivf_->invlists);
      for (size_t l = 0; l < lists->nlist; ++l) {
        bytes += lists->codes[l].capacity() + lists->ids[l].capacity() * sizeof(int64_t);
      }
      bytes += ivf_->nlist * options_.dimension * sizeof(float);
      // The direct map is an unordered_map<idx_t, idx_t>: node + bucket.
      bytes += ivf_->direct_map.hashtable.size() * 40;
    }
    return bytes;
  }

  absl::Status Save(const std::string& path) const override {
    std::string payload;
    PutOptions(&payload, options_);
    PutPod<uint8_t>(&payload, ivf_ != nullptr);
    if (ivf_ == nullptr) {
      PutPod<uint64_t>(&payload, pend_ids_.size());
      for (int64_t id : pend_ids_) PutPod(&payload, id);
      payload.append(reinterpret_cast<const char*>(pend_.data()), pend_.size() * sizeof(float));
      return WriteFramedFile(path, kMagic, payload);
    }
    faiss::VectorIOWriter w;
    try {
      faiss::write_index(ivf_.get(), &w);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("faiss write failed: ", e.what()));
    }
    payload.append(reinterpret_cast<const char*>(w.data.data()), w.data.size());
    return WriteFramedFile(path, kMagic, payload);
  }

  absl::Status Load(const std::string& path) override {
    KOS_ASSIGN_OR_RETURN(std::string payload, ReadFramedFile(path, kMagic));
    absl::string_view in(payload);
    KOS_RETURN_IF_ERROR(CheckOptions(&in, options_));
    uint8_t trained = 0;
    if (!GetPod(&in, &trained) || trained > 1) {
      return absl::DataLossError(absl::StrCat(path, ": bad IVF header"));
    }
    const size_t d = options_.dimension;
    if (!trained) {
      uint64_t n = 0;
      if (!GetPod(&in, &n) || n > in.size() || in.size() != n * (8 + d * sizeof(float))) {
        return absl::DataLossError(absl::StrCat(path, ": bad vector table"));
      }
      std::vector<int64_t> ids(n);
      absl::flat_hash_map<int64_t, size_t> pos;
      for (size_t i = 0; i < n; ++i) {
        GetPod(&in, &ids[i]);
        if (!pos.emplace(ids[i], i).second) {
          return absl::DataLossError(absl::StrCat(path, ": duplicate id"));
        }
      }
      std::vector<float> x(n * d);
      memcpy(x.data(), in.data(), x.size() * sizeof(float));
      pend_ = std::move(x);
      pend_ids_ = std::move(ids);
      pend_pos_ = std::move(pos);
      ivf_.reset();
      ivf_ids_.clear();
      return absl::OkStatus();
    }
    faiss::VectorIOReader r;
    r.data.assign(in.begin(), in.end());
    std::unique_ptr<faiss::Index> idx;
    try {
      idx.reset(faiss::read_index(&r));
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat(path, ": bad faiss index: ", e.what()));
    }
    auto* ivf = dynamic_cast<faiss::IndexIVFFlat*>(idx.get());
    const auto want =
        options_.metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    if (ivf == nullptr || ivf->d != options_.dimension || ivf->metric_type != want ||
        ivf->direct_map.type != faiss::DirectMap::Hashtable ||
        dynamic_cast<faiss::ArrayInvertedLists*>(ivf->invlists) == nullptr) {
      return absl::DataLossError(absl::StrCat(path, ": not an IVF-flat index of these options"));
    }
    absl::flat_hash_set<int64_t> ids;
    auto* lists = static_cast<faiss::ArrayInvertedLists*>(ivf->invlists);
    for (size_t l = 0; l < lists->nlist; ++l) {
      for (auto id : lists->ids[l]) {
        if (!ids.insert(id).second) {
          return absl::DataLossError(absl::StrCat(path, ": duplicate id"));
        }
      }
    }
    if (ids.size() != static_cast<size_t>(ivf->ntotal)) {
      return absl::DataLossError(absl::StrCat(path, ": IVF lists disagree with ntotal"));
    }
    idx.release();
    ivf_.reset(ivf);
    ivf_ids_ = std::move(ids);
    pend_.clear();
    pend_ids_.clear();
    pend_pos_.clear();
    return absl::OkStatus();
  }

 private:
  // Adds prepared vectors to a trained index. The coarse assignment is
  // computed first so each list can be reserved with 25% headroom (instead
  // of std::vector's doubling) before FAISS appends to it.
  absl::Status AddTrained(faiss::IndexIVFFlat* ivf, absl::flat_hash_set<int64_t>* live,
                          absl::Span<const int64_t> ids, const float* x) const {
    const size_t n = ids.size();
    std::vector<faiss::Index::idx_t> assign(n);
    try {
      ivf->quantizer->assign(n, x, assign.data());
      auto* lists = static_cast<faiss::ArrayInvertedLists*>(ivf->invlists);
      std::vector<size_t> more(ivf->nlist, 0);
      for (auto a : assign) ++more[a];
      for (size_t l = 0; l < ivf->nlist; ++l) {
        if (more[l] == 0) continue;
        const size_t want = lists->ids[l].size() + more[l];
        if (want > lists->ids[l].capacity()) {
          const size_t cap = std::max(want, lists->ids[l].size() * 5 / 4);
          lists->ids[l].reserve(cap);
          lists->codes[l].reserve(cap * lists->code_size);
        }
      }
      ivf->add_core(n, x, ids.data(), assign.data());
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(absl::StrCat("faiss add failed: ", e.what()));
    }
    live->insert(ids.begin(), ids.end());
    return absl::OkStatus();
  }

  // Fraction of stored vectors the filter accepts, from up to 256 ids taken
  // at an even stride through the inverted lists.
  double EstimateSelectivity(const IdFilter& filter) const {
    auto* lists = static_cast<const faiss::ArrayInvertedLists*>(ivf_->invlists);
    const size_t total = static_cast<size_t>(ivf_->ntotal);
    const size_t stride = std::max<size_t>(1, total / 256);
    size_t seen = 0, tried = 0, hits = 0;
    for (size_t l = 0; l < lists->nlist; ++l) {
      const auto& ids = lists->ids[l];
      // First index in this list that falls on the stride.
      for (size_t j = (stride - seen % stride) % stride; j < ids.size(); j += stride) {
        ++tried;
        hits += filter(ids[j]) ? 1 : 0;
      }
      seen += ids.size();
    }
    return tried ? static_cast<double>(hits) / tried : 1.0;
  }

  // Returns slack left by removals to the allocator.
  static void Shrink(faiss::IndexIVFFlat* ivf) {
    auto* lists = static_cast<faiss::ArrayInvertedLists*>(ivf->invlists);
    for (size_t l = 0; l < lists->nlist; ++l) {
      auto& ids = lists->ids[l];
      if (ids.capacity() > ids.size() * 5 / 4 + 16) {
        ids.shrink_to_fit();
        lists->codes[l].shrink_to_fit();
      }
    }
  }

  // Exact top-k over the untrained flat array: all rows, or `subset` ids.
  std::vector<Neighbor> ScanPending(const float* q, size_t k, const IdFilter& filter,
                                    const absl::Span<const int64_t>* subset) const {
    const size_t d = options_.dimension;
    const bool l2 = options_.metric == Metric::kL2;
    std::vector<Neighbor> all;
    auto score = [&](size_t pos) {
      const float* v = pend_.data() + pos * d;
      all.push_back(
          {pend_ids_[pos], l2 ? -faiss::fvec_L2sqr(q, v, d) : faiss::fvec_inner_product(q, v, d)});
    };
    if (subset != nullptr) {
      for (int64_t id : *subset) {
        if (auto it = pend_pos_.find(id); it != pend_pos_.end()) score(it->second);
      }
    } else {
      for (size_t pos = 0; pos < pend_ids_.size(); ++pos) {
        if (!filter || filter(pend_ids_[pos])) score(pos);
      }
    }
    const size_t m = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + m, all.end(),
                      [](const Neighbor& a, const Neighbor& b) {
                        return a.score > b.score || (a.score == b.score && a.id < b.id);
                      });
    all.resize(m);
    return all;
  }

  // Untrained phase: dense rows, their ids, and id -> row.
  std::vector<float> pend_;
  std::vector<int64_t> pend_ids_;
  absl::flat_hash_map<int64_t, size_t> pend_pos_;
  // Trained phase.
  std::unique_ptr<faiss::IndexIVFFlat> ivf_;
  absl::flat_hash_set<int64_t> ivf_ids_;
};

}  // namespace

std::unique_ptr<VectorIndex> NewFaissIvfIndex(const VectorIndexOptions& options) {
  return std::make_unique<FaissIvfIndex>(options);
}

}  // namespace kos::memory_internal
