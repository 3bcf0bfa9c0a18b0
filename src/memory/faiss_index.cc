// VectorIndex on FAISS (Debian libfaiss-dev 1.7.3): IndexFlat (exact) and
// IndexHNSWFlat. FAISS numbers vectors by insertion position; we keep the
// position <-> caller id tables ourselves (rather than IndexIDMap, whose 1.7.3
// search hands positions, not ids, to an IDSelector) and pass a selector that
// translates positions to ids, so filters run inside FAISS's search loops.
//
// Removal: IndexFlat::remove_ids compacts storage in order, and we compact our
// table the same way. IndexHNSW cannot remove, so removed positions become
// tombstones excluded by the selector, and the graph is rebuilt from the live
// vectors once tombstones pass Options::rebuild_tombstone_fraction.
#include <algorithm>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "faiss/IndexFlat.h"
#include "faiss/IndexHNSW.h"
#include "faiss/impl/IDSelector.h"
#include "faiss/impl/io.h"
#include "faiss/index_io.h"
#include "kos/status.h"
#include "memory/index_impls.h"

namespace kos::memory_internal {
namespace {

constexpr absl::string_view kMagic = "KOSFAIS1";

// Accepts a FAISS position when it is not a tombstone and the caller's filter
// accepts its id.
struct PositionSelector : faiss::IDSelector {
  const std::vector<int64_t>* pos_to_id;
  const std::vector<uint8_t>* dead;
  const IdFilter* filter;
  bool is_member(faiss::Index::idx_t pos) const override {
    if (pos < 0 || static_cast<size_t>(pos) >= pos_to_id->size()) return false;
    if ((*dead)[pos]) return false;
    return !*filter || (*filter)((*pos_to_id)[pos]);
  }
};

class FaissIndex final : public VectorIndex {
 public:
  explicit FaissIndex(const VectorIndexOptions& o) : VectorIndex(o) { index_ = NewEmpty(); }

  absl::Status Add(absl::Span<const int64_t> ids, absl::Span<const float> vectors) override {
    std::vector<float> v;
    KOS_RETURN_IF_ERROR(PrepareVectors(ids, vectors, &v));
    std::vector<int64_t> replaced;
    for (int64_t id : ids) {
      if (id_to_pos_.contains(id)) replaced.push_back(id);
    }
    if (!replaced.empty()) KOS_RETURN_IF_ERROR(Remove(replaced).status());
    try {
      index_->add(ids.size(), v.data());
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(absl::StrCat("faiss add failed: ", e.what()));
    }
    for (int64_t id : ids) {
      id_to_pos_[id] = pos_to_id_.size();
      pos_to_id_.push_back(id);
      dead_.push_back(0);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Remove(absl::Span<const int64_t> ids) override {
    std::vector<faiss::Index::idx_t> pos;
    for (int64_t id : ids) {
      auto it = id_to_pos_.find(id);
      if (it == id_to_pos_.end()) continue;
      pos.push_back(it->second);
      id_to_pos_.erase(it);
    }
    if (pos.empty()) return 0;
    if (options_.kind == IndexKind::kFaissFlat) {
      try {
        faiss::IDSelectorBatch sel(pos.size(), pos.data());
        index_->remove_ids(sel);
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat("faiss remove failed: ", e.what()));
      }
      std::vector<uint8_t> gone(pos_to_id_.size(), 0);
      for (auto p : pos) gone[p] = 1;
      size_t j = 0;
      for (size_t i = 0; i < pos_to_id_.size(); ++i) {
        if (gone[i]) continue;
        pos_to_id_[j] = pos_to_id_[i];
        id_to_pos_[pos_to_id_[j]] = j;
        ++j;
      }
      pos_to_id_.resize(j);
      dead_.assign(j, 0);
      auto* flat = static_cast<faiss::IndexFlat*>(index_.get());
      if (flat->codes.capacity() > 2 * flat->codes.size() + 4096) {
        flat->codes.shrink_to_fit();
        pos_to_id_.shrink_to_fit();
        dead_.shrink_to_fit();
      }
      return pos.size();
    }
    for (auto p : pos) dead_[p] = 1;
    tombstones_ += pos.size();
    if (tombstones_ > options_.rebuild_tombstone_fraction * std::max<size_t>(Size(), 1)) {
      KOS_RETURN_IF_ERROR(Rebuild());
    }
    return pos.size();
  }

  absl::StatusOr<std::vector<Neighbor>> Search(absl::Span<const float> query, size_t k,
                                               const IdFilter& filter,
                                               int ef_search) const override {
    std::vector<float> q;
    KOS_RETURN_IF_ERROR(PrepareQuery(query, &q));
    std::vector<Neighbor> out;
    if (k == 0 || id_to_pos_.empty()) return out;
    k = std::min(k, Size());
    PositionSelector sel;
    sel.pos_to_id = &pos_to_id_;
    sel.dead = &dead_;
    sel.filter = &filter;
    const bool need_sel = filter || tombstones_ > 0;
    std::vector<float> dist(k);
    std::vector<faiss::Index::idx_t> labels(k, -1);
    auto count = [&] {
      return static_cast<size_t>(std::count_if(labels.begin(), labels.end(),
                                               [](faiss::Index::idx_t l) { return l >= 0; }));
    };
    try {
      if (options_.kind == IndexKind::kFaissHnsw) {
        // FAISS 1.7.3's HNSW stops once its beam is exhausted even when the
        // selector rejected most of it, so a selective filter can return fewer
        // than k. Widen the beam a few times, then fall back to an exact scan
        // of the flat storage with the same selector: filtered results keep
        // their recall either way.
        //
        // A very selective filter (estimated below 5% from a fixed sample of
        // positions) goes straight to the exact scan: the graph walk would
        // visit mostly rejected nodes and its recall depends on how the
        // (multi-threaded, hence non-deterministic) build wired the few matches.
        faiss::SearchParametersHNSW p;
        p.efSearch = std::max<int>(k, ef_search > 0 ? ef_search : options_.ef_search);
        p.sel = need_sel ? &sel : nullptr;
        bool exact = false;
        if (filter) {
          const size_t n = pos_to_id_.size();
          const size_t stride = std::max<size_t>(1, n / 256);
          size_t sampled = 0, hits = 0;
          for (size_t pos = 0; pos < n; pos += stride) {
            if (dead_[pos]) continue;
            ++sampled;
            hits += filter(pos_to_id_[pos]) ? 1 : 0;
          }
          exact = sampled > 0 && hits * 20 < sampled;
        }
        for (int attempt = 0;; ++attempt) {
          if (exact) {
            faiss::SearchParameters fp;
            fp.sel = &sel;
            std::fill(labels.begin(), labels.end(), -1);
            Storage()->search(1, q.data(), k, dist.data(), labels.data(), &fp);
            break;
          }
          std::fill(labels.begin(), labels.end(), -1);
          index_->search(1, q.data(), k, dist.data(), labels.data(), &p);
          if (!filter || count() >= k) break;
          if (attempt == 2 || static_cast<size_t>(p.efSearch) >= pos_to_id_.size()) {
            faiss::SearchParameters fp;
            fp.sel = &sel;
            std::fill(labels.begin(), labels.end(), -1);
            Storage()->search(1, q.data(), k, dist.data(), labels.data(), &fp);
            break;
          }
          p.efSearch *= 4;
        }
      } else {
        faiss::SearchParameters p;
        p.sel = need_sel ? &sel : nullptr;
        index_->search(1, q.data(), k, dist.data(), labels.data(), need_sel ? &p : nullptr);
      }
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("faiss search failed: ", e.what()));
    }
    for (size_t i = 0; i < k; ++i) {
      const faiss::Index::idx_t p = labels[i];
      if (p < 0 || static_cast<size_t>(p) >= pos_to_id_.size() || dead_[p]) continue;
      const float score = options_.metric == Metric::kL2 ? -dist[i] : dist[i];
      out.push_back({pos_to_id_[p], score});
    }
    return out;
  }

  absl::Status GetVector(int64_t id, float* out) const override {
    auto it = id_to_pos_.find(id);
    if (it == id_to_pos_.end()) return absl::NotFoundError(absl::StrCat("no vector ", id));
    const faiss::IndexFlat* flat = Storage();
    memcpy(out, flat->get_xb() + it->second * options_.dimension,
           options_.dimension * sizeof(float));
    return absl::OkStatus();
  }

  bool Contains(int64_t id) const override { return id_to_pos_.contains(id); }
  size_t Size() const override { return id_to_pos_.size(); }

  size_t MemoryUsage() const override {
    size_t bytes = Storage()->codes.capacity();
    if (options_.kind == IndexKind::kFaissHnsw) {
      const auto& h = static_cast<const faiss::IndexHNSW*>(index_.get())->hnsw;
      bytes += h.neighbors.capacity() * sizeof(h.neighbors[0]) +
               h.levels.capacity() * sizeof(h.levels[0]) +
               h.offsets.capacity() * sizeof(h.offsets[0]);
    }
    bytes += pos_to_id_.capacity() * sizeof(int64_t) + dead_.capacity();
    bytes += id_to_pos_.capacity() * (sizeof(int64_t) + sizeof(size_t) + 1);
    return bytes;
  }

  absl::Status Save(const std::string& path) const override {
    faiss::VectorIOWriter w;
    try {
      faiss::write_index(index_.get(), &w);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("faiss write failed: ", e.what()));
    }
    std::string payload;
    PutOptions(&payload, options_);
    PutPod<uint64_t>(&payload, pos_to_id_.size());
    for (size_t i = 0; i < pos_to_id_.size(); ++i) {
      PutPod(&payload, pos_to_id_[i]);
      PutPod(&payload, dead_[i]);
    }
    payload.append(reinterpret_cast<const char*>(w.data.data()), w.data.size());
    return WriteFramedFile(path, kMagic, payload);
  }

  absl::Status Load(const std::string& path) override {
    KOS_ASSIGN_OR_RETURN(std::string payload, ReadFramedFile(path, kMagic));
    absl::string_view in(payload);
    KOS_RETURN_IF_ERROR(CheckOptions(&in, options_));
    uint64_t n = 0;
    if (!GetPod(&in, &n) || in.size() < n * 9) {
      return absl::DataLossError(absl::StrCat(path, ": bad id table"));
    }
    std::vector<int64_t> pos_to_id(n);
    std::vector<uint8_t> dead(n);
    absl::flat_hash_map<int64_t, size_t> id_to_pos;
    size_t tombstones = 0;
    for (size_t i = 0; i < n; ++i) {
      GetPod(&in, &pos_to_id[i]);
      GetPod(&in, &dead[i]);
      if (dead[i]) {
        ++tombstones;
      } else if (!id_to_pos.emplace(pos_to_id[i], i).second) {
        return absl::DataLossError(absl::StrCat(path, ": duplicate id"));
      }
    }
    faiss::VectorIOReader r;
    r.data.assign(in.begin(), in.end());
    std::unique_ptr<faiss::Index> idx;
    try {
      idx.reset(faiss::read_index(&r));
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat(path, ": bad faiss index: ", e.what()));
    }
    const bool kind_ok = options_.kind == IndexKind::kFaissHnsw
                             ? dynamic_cast<faiss::IndexHNSWFlat*>(idx.get()) != nullptr
                             : dynamic_cast<faiss::IndexFlat*>(idx.get()) != nullptr;
    if (!kind_ok || idx->d != options_.dimension || static_cast<uint64_t>(idx->ntotal) != n) {
      return absl::DataLossError(absl::StrCat(path, ": faiss index does not match its id table"));
    }
    index_ = std::move(idx);
    pos_to_id_ = std::move(pos_to_id);
    dead_ = std::move(dead);
    id_to_pos_ = std::move(id_to_pos);
    tombstones_ = tombstones;
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<faiss::Index> NewEmpty() const {
    const auto metric =
        options_.metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    if (options_.kind == IndexKind::kFaissHnsw) {
      auto h = std::make_unique<faiss::IndexHNSWFlat>(options_.dimension, options_.m, metric);
      h->hnsw.efConstruction = options_.ef_construction;
      h->hnsw.efSearch = options_.ef_search;
      return h;
    }
    return std::make_unique<faiss::IndexFlat>(options_.dimension, metric);
  }

  const faiss::IndexFlat* Storage() const {
    if (options_.kind == IndexKind::kFaissHnsw) {
      return static_cast<const faiss::IndexFlat*>(
          static_cast<const faiss::IndexHNSW*>(index_.get())->storage);
    }
    return static_cast<const faiss::IndexFlat*>(index_.get());
  }

  // Rebuilds the HNSW graph from live vectors, dropping tombstones.
  absl::Status Rebuild() {
    const size_t d = options_.dimension;
    std::vector<int64_t> ids;
    std::vector<float> vecs;
    ids.reserve(Size());
    vecs.reserve(Size() * d);
    const float* xb = Storage()->get_xb();
    for (size_t p = 0; p < pos_to_id_.size(); ++p) {
      if (dead_[p]) continue;
      ids.push_back(pos_to_id_[p]);
      vecs.insert(vecs.end(), xb + p * d, xb + (p + 1) * d);
    }
    auto fresh = NewEmpty();
    try {
      if (!ids.empty()) fresh->add(ids.size(), vecs.data());
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(absl::StrCat("faiss rebuild failed: ", e.what()));
    }
    index_ = std::move(fresh);
    pos_to_id_ = std::move(ids);
    pos_to_id_.shrink_to_fit();
    dead_.assign(pos_to_id_.size(), 0);
    dead_.shrink_to_fit();
    id_to_pos_.clear();
    for (size_t p = 0; p < pos_to_id_.size(); ++p) id_to_pos_[pos_to_id_[p]] = p;
    tombstones_ = 0;
    return absl::OkStatus();
  }

  std::unique_ptr<faiss::Index> index_;
  std::vector<int64_t> pos_to_id_;
  std::vector<uint8_t> dead_;  // 1 = tombstone (HNSW only)
  absl::flat_hash_map<int64_t, size_t> id_to_pos_;
  size_t tombstones_ = 0;
};

}  // namespace

std::unique_ptr<VectorIndex> NewFaissIndex(const VectorIndexOptions& options) {
  return std::make_unique<FaissIndex>(options);
}

}  // namespace kos::memory_internal
