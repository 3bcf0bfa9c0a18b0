#include "kos/vector_index.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "kos/status.h"
#include "memory/index_impls.h"

namespace kos {

VectorIndex::~VectorIndex() = default;

absl::Status VectorIndex::Train() { return absl::OkStatus(); }
bool VectorIndex::Trained() const { return true; }

absl::StatusOr<Metric> ParseMetric(absl::string_view s) {
  if (s == "cosine") return Metric::kCosine;
  if (s == "ip" || s == "inner_product") return Metric::kInnerProduct;
  if (s == "l2") return Metric::kL2;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown metric '", s, "' (expected cosine, ip or l2)"));
}

const char* MetricName(Metric m) {
  switch (m) {
    case Metric::kCosine:
      return "cosine";
    case Metric::kInnerProduct:
      return "ip";
    case Metric::kL2:
      return "l2";
  }
  return "?";
}

absl::StatusOr<IndexKind> ParseIndexKind(absl::string_view s) {
  if (s == "faiss_flat") return IndexKind::kFaissFlat;
  if (s == "faiss_hnsw") return IndexKind::kFaissHnsw;
  if (s == "hnswlib") return IndexKind::kHnswlib;
  if (s == "faiss_ivf") return IndexKind::kFaissIvf;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown index kind '", s, "' (expected faiss_flat, faiss_hnsw, faiss_ivf or hnswlib)"));
}

const char* IndexKindName(IndexKind k) {
  switch (k) {
    case IndexKind::kFaissFlat:
      return "faiss_flat";
    case IndexKind::kFaissHnsw:
      return "faiss_hnsw";
    case IndexKind::kHnswlib:
      return "hnswlib";
    case IndexKind::kFaissIvf:
      return "faiss_ivf";
  }
  return "?";
}

absl::Status ValidateVector(absl::Span<const float> v, int dimension) {
  if (static_cast<int64_t>(v.size()) != dimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("vector has ", v.size(), " components, expected ", dimension));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("vector component ", i, " is not finite (NaN or Inf)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<VectorIndex>> VectorIndex::Create(const VectorIndexOptions& o) {
  if (o.dimension < 1 || o.dimension > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("dimension must be 1..65536, got ", o.dimension));
  }
  if (o.m < 2 || o.m > 256) {
    return absl::InvalidArgumentError(absl::StrCat("M must be 2..256, got ", o.m));
  }
  if (o.ef_construction < 1 || o.ef_search < 1) {
    return absl::InvalidArgumentError("ef_construction and ef_search must be >= 1");
  }
  if (!(o.rebuild_tombstone_fraction > 0 && o.rebuild_tombstone_fraction <= 10)) {
    return absl::InvalidArgumentError("rebuild_tombstone_fraction must be in (0, 10]");
  }
  if (o.nlist < 0 || o.nlist > (1 << 20) || o.nprobe < 1) {
    return absl::InvalidArgumentError("nlist must be 0..2^20 and nprobe >= 1");
  }
  if (o.ivf_train_size < 1 || o.ivf_train_size > (size_t{1} << 32)) {
    return absl::InvalidArgumentError("ivf_train_size must be 1..2^32");
  }
  switch (o.kind) {
    case IndexKind::kHnswlib:
      return memory_internal::NewHnswlibIndex(o);
    case IndexKind::kFaissFlat:
    case IndexKind::kFaissHnsw:
      return memory_internal::NewFaissIndex(o);
    case IndexKind::kFaissIvf:
      return memory_internal::NewFaissIvfIndex(o);
  }
  return absl::InvalidArgumentError("unknown index kind");
}

static void NormalizeInPlace(float* v, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) s += static_cast<double>(v[i]) * v[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (int i = 0; i < d; ++i) v[i] *= inv;
}

absl::Status VectorIndex::PrepareVectors(absl::Span<const int64_t> ids,
                                         absl::Span<const float> vectors,
                                         std::vector<float>* out) const {
  const size_t d = options_.dimension;
  if (vectors.size() != ids.size() * d) {
    return absl::InvalidArgumentError(
        absl::StrCat("got ", vectors.size(), " floats for ", ids.size(), " ids of dimension ", d));
  }
  absl::flat_hash_set<int64_t> seen;
  seen.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!seen.insert(ids[i]).second) {
      return absl::InvalidArgumentError(absl::StrCat("id ", ids[i], " repeated in one Add"));
    }
    absl::Status s = ValidateVector(vectors.subspan(i * d, d), d);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("id ", ids[i], ": ", s.message()));
  }
  out->assign(vectors.begin(), vectors.end());
  if (options_.metric == Metric::kCosine) {
    for (size_t i = 0; i < ids.size(); ++i) {
      float* v = out->data() + i * d;
      double n = 0;
      for (size_t j = 0; j < d; ++j) n += static_cast<double>(v[j]) * v[j];
      if (n == 0 || !std::isfinite(n)) {
        return absl::InvalidArgumentError(
            absl::StrCat("id ", ids[i], ": zero or overflowing vector under cosine metric"));
      }
      NormalizeInPlace(v, d);
    }
  }
  return absl::OkStatus();
}

absl::Status VectorIndex::PrepareQuery(absl::Span<const float> query,
                                       std::vector<float>* out) const {
  KOS_RETURN_IF_ERROR(ValidateVector(query, options_.dimension));
  out->assign(query.begin(), query.end());
  if (options_.metric == Metric::kCosine) {
    double n = 0;
    for (float x : *out) n += static_cast<double>(x) * x;
    if (n == 0 || !std::isfinite(n)) {
      return absl::InvalidArgumentError("query is a zero vector under cosine metric");
    }
    NormalizeInPlace(out->data(), options_.dimension);
  }
  return absl::OkStatus();
}

float VectorIndex::Score(const float* a, const float* b) const {
  const int d = options_.dimension;
  if (options_.metric == Metric::kL2) {
    float s = 0;
    for (int i = 0; i < d; ++i) {
      const float t = a[i] - b[i];
      s += t * t;
    }
    return -s;
  }
  float s = 0;
  for (int i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

absl::StatusOr<std::vector<Neighbor>> VectorIndex::SearchFiltered(
    absl::Span<const float> query, size_t k, const IdFilter& filter, int ef_search,
    absl::Span<const int64_t> /*seeds*/) const {
  return Search(query, k, filter, ef_search);
}

absl::StatusOr<std::vector<Neighbor>> VectorIndex::SearchSubset(
    absl::Span<const float> query, size_t k, absl::Span<const int64_t> candidates) const {
  std::vector<float> q;
  KOS_RETURN_IF_ERROR(PrepareQuery(query, &q));
  std::vector<float> v(options_.dimension);
  std::vector<Neighbor> all;
  all.reserve(candidates.size());
  for (int64_t id : candidates) {
    if (!GetVector(id, v.data()).ok()) continue;
    all.push_back({id, Score(q.data(), v.data())});
  }
  const size_t n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + n, all.end(),
                    [](const Neighbor& a, const Neighbor& b) {
                      return a.score > b.score || (a.score == b.score && a.id < b.id);
                    });
  all.resize(n);
  return all;
}

namespace memory_internal {

uint64_t Fnv1a64(absl::string_view data, uint64_t h) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

absl::Status WriteFramedFile(const std::string& path, absl::string_view magic,
                             absl::string_view payload) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return absl::UnavailableError(absl::StrCat("cannot create ", tmp));
    std::string head(magic);
    PutPod<uint64_t>(&head, payload.size());
    f.write(head.data(), head.size());
    f.write(payload.data(), payload.size());
    const uint64_t sum = Fnv1a64(payload);
    f.write(reinterpret_cast<const char*>(&sum), sizeof(sum));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return absl::UnavailableError(absl::StrCat("write failed: ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFramedFile(const std::string& path, absl::string_view magic) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string all = ss.str();
  absl::string_view in(all);
  if (in.size() < magic.size() + 16 || in.substr(0, magic.size()) != magic) {
    return absl::DataLossError(absl::StrCat(path, ": not an index file of this kind"));
  }
  in.remove_prefix(magic.size());
  uint64_t len = 0;
  GetPod(&in, &len);
  if (len != in.size() - 8) return absl::DataLossError(absl::StrCat(path, ": truncated"));
  absl::string_view payload = in.substr(0, len);
  in.remove_prefix(len);
  uint64_t sum = 0;
  GetPod(&in, &sum);
  if (sum != Fnv1a64(payload)) return absl::DataLossError(absl::StrCat(path, ": bad checksum"));
  return std::string(payload);
}

void PutOptions(std::string* out, const VectorIndexOptions& o) {
  PutPod<int32_t>(out, static_cast<int32_t>(o.kind));
  PutPod<int32_t>(out, static_cast<int32_t>(o.metric));
  PutPod<int32_t>(out, o.dimension);
}

absl::Status CheckOptions(absl::string_view* in, const VectorIndexOptions& o) {
  int32_t kind, metric, dim;
  if (!GetPod(in, &kind) || !GetPod(in, &metric) || !GetPod(in, &dim)) {
    return absl::DataLossError("index file header truncated");
  }
  if (kind != static_cast<int32_t>(o.kind) || metric != static_cast<int32_t>(o.metric) ||
      dim != o.dimension) {
    return absl::DataLossError(absl::StrCat("index file was written with other options (kind ",
                                            kind, ", metric ", metric, ", dimension ", dim, ")"));
  }
  return absl::OkStatus();
}

}  // namespace memory_internal
}  // namespace kos
