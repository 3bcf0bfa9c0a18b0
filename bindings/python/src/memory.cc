// kos.Memory: namespaced records with vector search. Vectors go in as any
// float32 buffer (numpy arrays without conversion) and come out as numpy
// arrays that own the C++ vector (no copy).
#include "kos/memory.h"

#include <pybind11/numpy.h>

#include <vector>

#include "common.h"
#include "kos/embedder.h"

namespace kos_py {
namespace {

// A Python callable `fn(texts: list[str]) -> (len(texts), dimension) floats`
// as a kos::Embedder. Memory calls it with the GIL released (from a search or
// add), so it takes the GIL for the Python call only.
class PyEmbedder : public kos::Embedder {
 public:
  PyEmbedder(py::object fn, int dimension, std::string model)
      : fn_(fn.release().ptr()), dimension_(dimension), model_(std::move(model)) {}
  ~PyEmbedder() override {
    // Leaked at interpreter shutdown: touching Python objects then would crash.
    if (fn_ == nullptr || !Py_IsInitialized() || _Py_IsFinalizing()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(fn_);
  }

  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override {
    for (const auto& t : texts) {
      if (t.empty()) return absl::InvalidArgumentError("cannot embed an empty text");
    }
    if (!Py_IsInitialized() || _Py_IsFinalizing()) {
      return absl::UnavailableError("the Python interpreter is shutting down");
    }
    py::gil_scoped_acquire gil;
    try {
      py::object out = py::handle(fn_)(py::cast(texts));
      auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(out);
      if (!a) {
        PyErr_Clear();
        return absl::InvalidArgumentError("embedder must return a 2-D array of floats");
      }
      if (a.ndim() != 2 || static_cast<size_t>(a.shape(0)) != texts.size() ||
          a.shape(1) != dimension_) {
        return absl::InvalidArgumentError("embedder returned an array of the wrong shape (want (" +
                                          std::to_string(texts.size()) + ", " +
                                          std::to_string(dimension_) + "))");
      }
      std::vector<std::vector<float>> vectors(texts.size());
      const float* p = a.data();
      for (size_t i = 0; i < texts.size(); ++i) {
        vectors[i].assign(p + i * dimension_, p + (i + 1) * dimension_);
      }
      return vectors;
    } catch (py::error_already_set& e) {
      return StatusFromPython(e);
    }
  }
  int dimension() const override { return dimension_; }
  std::string model() const override { return model_; }

 private:
  PyObject* fn_;
  const int dimension_;
  const std::string model_;
};

struct MemoryBox {
  std::shared_ptr<StoreBox> store;
  std::shared_ptr<kos::Clock> clock;
  std::unique_ptr<kos::Embedder> embedder;
  std::unique_ptr<kos::Memory> memory;
};
using PyMemory = Handle<MemoryBox>;

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// The one copy the C++ API needs (it takes std::vector<float>): straight from
// the caller's buffer, which forcecast leaves alone when it already is
// C-contiguous float32.
std::vector<float> VectorFrom(const FloatArray& a) {
  if (a.ndim() != 1) throw py::value_error("a vector must be one-dimensional");
  const float* p = a.data();
  return std::vector<float>(p, p + a.shape(0));
}

// Hands the vector's buffer to numpy: the array owns it through a capsule.
py::array VectorTo(std::vector<float>&& v) {
  auto* owned = new std::vector<float>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  return py::array_t<float>({static_cast<py::ssize_t>(owned->size())}, {sizeof(float)},
                            owned->data(), free_when_done);
}

// What Python sees of a record. The embedding is already a numpy array.
struct PyMemoryRecord {
  std::string id;
  std::string text;
  py::object metadata;
  py::object embedding;  // numpy float32 array, or None
  double created = 0;
  double accessed = 0;
  double importance = 0;
  py::object expires;
};

PyMemoryRecord ToPy(kos::MemoryRecord&& r) {
  PyMemoryRecord out;
  out.id = std::move(r.id);
  out.text = std::move(r.text);
  out.metadata = FromJson(r.metadata);
  out.embedding =
      r.embedding.empty() ? py::object(py::none()) : py::object(VectorTo(std::move(r.embedding)));
  out.created = absl::ToDoubleSeconds(r.created - absl::UnixEpoch());
  out.accessed = absl::ToDoubleSeconds(r.accessed - absl::UnixEpoch());
  out.importance = r.importance;
  out.expires = TimeToPy(r.expires);
  return out;
}

struct PySearchHit {
  PyMemoryRecord record;
  float similarity = 0;
  double score = 0;
};

py::list HitsToPy(std::vector<kos::SearchHit>&& hits) {
  py::list out;
  for (auto& h : hits) {
    out.append(PySearchHit{ToPy(std::move(h.record)), h.similarity, h.score});
  }
  return out;
}

kos::Metric ParseMetric(const std::string& s) {
  if (s == "cosine") return kos::Metric::kCosine;
  if (s == "ip" || s == "inner_product") return kos::Metric::kInnerProduct;
  if (s == "l2") return kos::Metric::kL2;
  ThrowStatus(absl::InvalidArgumentError("metric must be 'cosine', 'ip' or 'l2', not '" + s + "'"));
}
const char* PyMetricName(kos::Metric m) {
  switch (m) {
    case kos::Metric::kCosine:
      return "cosine";
    case kos::Metric::kInnerProduct:
      return "ip";
    case kos::Metric::kL2:
      return "l2";
  }
  return "cosine";
}
kos::IndexKind ParseIndex(const std::string& s) {
  if (s == "hnswlib") return kos::IndexKind::kHnswlib;
  if (s == "faiss_flat" || s == "flat") return kos::IndexKind::kFaissFlat;
  if (s == "faiss_hnsw") return kos::IndexKind::kFaissHnsw;
  if (s == "faiss_ivf") return kos::IndexKind::kFaissIvf;
  ThrowStatus(absl::InvalidArgumentError(
      "index must be 'hnswlib', 'faiss_flat', 'faiss_hnsw' or 'faiss_ivf', not '" + s + "'"));
}
const char* PyIndexName(kos::IndexKind k) {
  switch (k) {
    case kos::IndexKind::kHnswlib:
      return "hnswlib";
    case kos::IndexKind::kFaissFlat:
      return "faiss_flat";
    case kos::IndexKind::kFaissHnsw:
      return "faiss_hnsw";
    case kos::IndexKind::kFaissIvf:
      return "faiss_ivf";
  }
  return "hnswlib";
}

kos::SearchRequest MakeRequest(const std::string& ns, const std::optional<FloatArray>& vector,
                               const std::string& text, size_t k, py::object filter, int ef_search,
                               bool include_embeddings) {
  kos::SearchRequest r;
  r.ns = ns;
  if (vector) r.vector = VectorFrom(*vector);
  r.text = text;
  r.k = k;
  r.filter = filter.is_none() ? kos::Json(nullptr) : ToJson(filter);
  r.ef_search = ef_search;
  r.include_embeddings = include_embeddings;
  return r;
}

kos::MemoryRecord MakeRecord(const std::string& id, const std::string& text,
                             const std::optional<FloatArray>& embedding, py::object metadata,
                             double importance, std::optional<double> ttl) {
  kos::MemoryRecord r;
  r.id = id;
  r.text = text;
  if (embedding) r.embedding = VectorFrom(*embedding);
  r.metadata = metadata.is_none() ? kos::Json::object() : ToJson(metadata);
  r.importance = importance;
  r.ttl = OptSeconds(ttl);
  return r;
}

}  // namespace

void BindMemory(py::module_& m) {
  py::class_<PyMemoryRecord>(m, "MemoryRecord",
                             "A memory record. `embedding` is a float32 numpy array (or None).")
      .def_readonly("id", &PyMemoryRecord::id)
      .def_readonly("text", &PyMemoryRecord::text)
      .def_readonly("metadata", &PyMemoryRecord::metadata)
      .def_readonly("embedding", &PyMemoryRecord::embedding)
      .def_readonly("created", &PyMemoryRecord::created)
      .def_readonly("accessed", &PyMemoryRecord::accessed)
      .def_readonly("importance", &PyMemoryRecord::importance)
      .def_readonly("expires", &PyMemoryRecord::expires)
      .def("__repr__", [](const PyMemoryRecord& r) {
        return "MemoryRecord(id=" + std::string(py::repr(py::str(r.id))) +
               ", text=" + std::string(py::repr(py::str(r.text.substr(0, 60)))) + ")";
      });
  py::class_<PySearchHit>(m, "SearchHit", "One search or recall result: the record and its scores.")
      .def_readonly("record", &PySearchHit::record)
      .def_readonly("similarity", &PySearchHit::similarity,
                    "Raw index score (cosine, dot product, or -squared L2).")
      .def_readonly("score", &PySearchHit::score,
                    "Search: the similarity. Recall: the weighted recall score.")
      .def_property_readonly("id", [](const PySearchHit& h) { return h.record.id; })
      .def("__repr__", [](const PySearchHit& h) {
        return "SearchHit(id=" + std::string(py::repr(py::str(h.record.id))) +
               ", score=" + std::to_string(h.score) + ")";
      });

  py::class_<PyMemory> cls(
      m, "Memory",
      "Agent memory: namespaces of records (text, JSON metadata, embedding) with vector "
      "search, metadata filters, TTLs and recall scoring, durable in a Store. Thread-safe: "
      "searches release the GIL and run in parallel.");
  cls.def(py::init([](const PyStore& store, py::object embedder, int dimension,
                      size_t exact_filter_threshold, const std::string& model,
                      std::optional<PyClock> clock) {
            auto box = std::make_shared<MemoryBox>();
            box->store = store.get();
            box->clock = clock ? ClockOrReal(clock) : box->store->clock;
            if (py::isinstance<py::str>(embedder)) {
              if (embedder.cast<std::string>() != "hashing") {
                Check(absl::InvalidArgumentError("embedder must be 'hashing', a callable or None"));
              }
              kos::HashingEmbedderOptions eo;
              eo.dimension = dimension;
              box->embedder = Unwrap(kos::HashingEmbedder::Open(eo));
            } else if (!embedder.is_none()) {
              if (!PyCallable_Check(embedder.ptr())) {
                throw py::type_error("embedder must be 'hashing', a callable or None");
              }
              if (dimension < 1 || dimension > 65536) {
                Check(absl::InvalidArgumentError("dimension must be 1..65536"));
              }
              box->embedder = std::make_unique<PyEmbedder>(embedder, dimension, model);
            }
            kos::MemoryOptions o;
            o.store = box->store->store.get();
            o.clock = box->clock.get();
            o.embedder = box->embedder.get();
            o.exact_filter_threshold = exact_filter_threshold;
            box->memory = Unwrap(NoGil([&] { return kos::Memory::Open(o); }));
            return PyMemory{std::move(box), "Memory"};
          }),
          py::arg("store"), py::arg("embedder") = "hashing", py::arg("dimension") = 384,
          py::arg("exact_filter_threshold") = 2000, py::arg("model") = "python",
          py::arg("clock") = py::none(),
          "Opens memory on `store`, rebuilding every namespace's index. `embedder`: 'hashing' "
          "(built-in, deterministic, offline; `dimension` floats), a callable "
          "`fn(texts: list[str])` returning a (len(texts), dimension) float array (it runs "
          "with the GIL taken just for the call; `model` names it), or None (vectors "
          "required).")
      .def(
          "create_namespace",
          [](const PyMemory& self, const std::string& name, int dimension,
             const std::string& metric, const std::string& index, int m_, int ef_construction,
             int ef_search, std::optional<double> default_ttl, int nlist, int nprobe,
             int ivf_train_size) {
            auto box = self.get();
            kos::NamespaceConfig c;
            c.name = name;
            c.dimension = dimension;
            c.metric = ParseMetric(metric);
            c.index = ParseIndex(index);
            c.m = m_;
            c.ef_construction = ef_construction;
            c.ef_search = ef_search;
            c.nlist = nlist;
            c.nprobe = nprobe;
            c.ivf_train_size = ivf_train_size;
            if (default_ttl) c.default_ttl = Seconds(*default_ttl);
            Check(NoGil([&] { return box->memory->CreateNamespace(c); }));
          },
          py::arg("name"), py::arg("dimension") = 0, py::arg("metric") = "cosine",
          py::arg("index") = "hnswlib", py::arg("m") = 16, py::arg("ef_construction") = 200,
          py::arg("ef_search") = 64, py::arg("default_ttl") = py::none(), py::arg("nlist") = 0,
          py::arg("nprobe") = 16, py::arg("ivf_train_size") = 10000,
          "Creates a namespace (OK if it exists with the same config; AlreadyExistsError if "
          "with another). dimension 0: the embedder's. metric: cosine|ip|l2; index: "
          "hnswlib|faiss_flat|faiss_hnsw|faiss_ivf. nlist/nprobe/ivf_train_size apply to "
          "faiss_ivf (nlist 0: about sqrt(n)).")
      .def(
          "get_namespace",
          [](const PyMemory& self, const std::string& name) {
            auto box = self.get();
            kos::NamespaceConfig c = Unwrap(box->memory->GetNamespace(name));
            py::dict d;
            d["name"] = c.name;
            d["dimension"] = c.dimension;
            d["metric"] = PyMetricName(c.metric);
            d["index"] = PyIndexName(c.index);
            d["m"] = c.m;
            d["ef_construction"] = c.ef_construction;
            d["ef_search"] = c.ef_search;
            d["nlist"] = c.nlist;
            d["nprobe"] = c.nprobe;
            d["ivf_train_size"] = c.ivf_train_size;
            d["default_ttl"] = c.default_ttl == absl::ZeroDuration()
                                   ? py::object(py::none())
                                   : py::object(py::float_(absl::ToDoubleSeconds(c.default_ttl)));
            return d;
          },
          py::arg("name"))
      .def(
          "list_namespaces",
          [](const PyMemory& self, const std::string& prefix) {
            auto box = self.get();
            return box->memory->ListNamespaces(prefix);
          },
          py::arg("prefix") = "")
      .def(
          "delete_namespace",
          [](const PyMemory& self, const std::string& name) {
            auto box = self.get();
            Check(NoGil([&] { return box->memory->DeleteNamespace(name); }));
          },
          py::arg("name"))
      .def(
          "add",
          [](const PyMemory& self, const std::string& ns, const std::string& text,
             std::optional<FloatArray> embedding, py::object metadata, const std::string& id,
             double importance, std::optional<double> ttl) {
            auto box = self.get();
            kos::MemoryRecord r = MakeRecord(id, text, embedding, metadata, importance, ttl);
            return Unwrap(NoGil([&] { return box->memory->Add(ns, std::move(r)); }));
          },
          py::arg("ns"), py::arg("text") = "", py::arg("embedding") = py::none(),
          py::arg("metadata") = py::none(), py::arg("id") = "", py::arg("importance") = 0.0,
          py::arg("ttl") = py::none(),
          "Adds a record and returns its id (a ULID unless `id` is given). `embedding`: any "
          "1-D float buffer (float32 numpy arrays are read in place); computed from `text` "
          "when omitted. `ttl` in seconds (None: namespace default, 0: never).")
      .def(
          "add_batch",
          [](const PyMemory& self, const std::string& ns, std::optional<FloatArray> embeddings,
             std::optional<std::vector<std::string>> texts, std::optional<py::list> metadatas,
             std::optional<std::vector<std::string>> ids,
             std::optional<std::vector<double>> importances) {
            auto box = self.get();
            size_t n = 0;
            if (embeddings) {
              if (embeddings->ndim() != 2) throw py::value_error("embeddings must be 2-D (n, dim)");
              n = embeddings->shape(0);
            } else if (texts) {
              n = texts->size();
            } else {
              throw py::value_error("give embeddings or texts");
            }
            auto check = [n](size_t size, const char* what) {
              if (size != n) throw py::value_error(std::string(what) + " has the wrong length");
            };
            if (texts) check(texts->size(), "texts");
            if (metadatas) check(metadatas->size(), "metadatas");
            if (ids) check(ids->size(), "ids");
            if (importances) check(importances->size(), "importances");
            std::vector<kos::MemoryRecord> records(n);
            const size_t dim = embeddings ? embeddings->shape(1) : 0;
            const float* base = embeddings ? embeddings->data() : nullptr;
            for (size_t i = 0; i < n; ++i) {
              auto& r = records[i];
              if (base) r.embedding.assign(base + i * dim, base + (i + 1) * dim);
              if (texts) r.text = (*texts)[i];
              if (metadatas) r.metadata = ToJson(py::object((*metadatas)[i]));
              if (ids) r.id = (*ids)[i];
              if (importances) r.importance = (*importances)[i];
            }
            return Unwrap(NoGil([&] { return box->memory->AddBatch(ns, std::move(records)); }));
          },
          py::arg("ns"), py::arg("embeddings") = py::none(), py::arg("texts") = py::none(),
          py::arg("metadatas") = py::none(), py::arg("ids") = py::none(),
          py::arg("importances") = py::none(),
          "Adds all records or none. `embeddings` is a 2-D (n, dim) float array.")
      .def(
          "get",
          [](const PyMemory& self, const std::string& ns, const std::string& id) {
            auto box = self.get();
            return ToPy(Unwrap(NoGil([&] { return box->memory->Get(ns, id); })));
          },
          py::arg("ns"), py::arg("id"), "NotFoundError if absent or expired.")
      .def(
          "update",
          [](const PyMemory& self, const std::string& ns, const std::string& id,
             const std::string& text, std::optional<FloatArray> embedding, py::object metadata,
             double importance, std::optional<double> ttl) {
            auto box = self.get();
            kos::MemoryRecord r = MakeRecord(id, text, embedding, metadata, importance, ttl);
            Check(NoGil([&] { return box->memory->Update(ns, std::move(r)); }));
          },
          py::arg("ns"), py::arg("id"), py::arg("text") = "", py::arg("embedding") = py::none(),
          py::arg("metadata") = py::none(), py::arg("importance") = 0.0,
          py::arg("ttl") = py::none(), "Replaces the record's content; keeps `created`.")
      .def(
          "delete",
          [](const PyMemory& self, const std::string& ns, const std::string& id) {
            auto box = self.get();
            Check(NoGil([&] { return box->memory->Delete(ns, id); }));
          },
          py::arg("ns"), py::arg("id"))
      .def(
          "list",
          [](const PyMemory& self, const std::string& ns, const std::string& page_token,
             size_t limit) {
            auto box = self.get();
            kos::ListPage p =
                Unwrap(NoGil([&] { return box->memory->List(ns, page_token, limit); }));
            py::list records;
            for (auto& r : p.records) records.append(ToPy(std::move(r)));
            return py::make_tuple(records, p.next_page_token);
          },
          py::arg("ns"), py::arg("page_token") = "", py::arg("limit") = 100,
          "(records, next_page_token) in id order, without embeddings.")
      .def(
          "search",
          [](const PyMemory& self, const std::string& ns, std::optional<FloatArray> vector,
             const std::string& text, size_t k, py::object filter, int ef_search,
             bool include_embeddings) {
            auto box = self.get();
            kos::SearchRequest r =
                MakeRequest(ns, vector, text, k, filter, ef_search, include_embeddings);
            return HitsToPy(Unwrap(NoGil([&] { return box->memory->Search(r); })));
          },
          py::arg("ns"), py::arg("vector") = py::none(), py::arg("text") = "", py::arg("k") = 10,
          py::arg("filter") = py::none(), py::arg("ef_search") = 0,
          py::arg("include_embeddings") = false,
          "Nearest records to `vector` (or to the embedding of `text`), best first, filtered "
          "by `filter` (MongoDB-style dict over metadata). Releases the GIL.")
      .def(
          "recall",
          [](const PyMemory& self, const std::string& ns, std::optional<FloatArray> vector,
             const std::string& text, size_t k, py::object filter, bool include_embeddings,
             double w_similarity, double w_recency, double w_importance, double half_life,
             size_t candidate_multiplier, bool mmr, double mmr_lambda, bool touch) {
            auto box = self.get();
            kos::SearchRequest r = MakeRequest(ns, vector, text, k, filter, 0, include_embeddings);
            kos::RecallOptions o;
            o.w_similarity = w_similarity;
            o.w_recency = w_recency;
            o.w_importance = w_importance;
            o.recency_half_life = Seconds(half_life);
            o.candidate_multiplier = candidate_multiplier;
            o.mmr = mmr;
            o.mmr_lambda = mmr_lambda;
            o.touch = touch;
            return HitsToPy(Unwrap(NoGil([&] { return box->memory->Recall(r, o); })));
          },
          py::arg("ns"), py::arg("vector") = py::none(), py::arg("text") = "", py::arg("k") = 10,
          py::arg("filter") = py::none(), py::arg("include_embeddings") = false,
          py::arg("w_similarity") = 1.0, py::arg("w_recency") = 1.0, py::arg("w_importance") = 1.0,
          py::arg("half_life") = 86400.0, py::arg("candidate_multiplier") = 4,
          py::arg("mmr") = false, py::arg("mmr_lambda") = 0.7, py::arg("touch") = true,
          "Search rescored by similarity, recency (half-life in seconds) and importance, "
          "optionally re-ranked by maximal marginal relevance.")
      .def("purge_expired",
           [](const PyMemory& self) {
             auto box = self.get();
             return Unwrap(NoGil([&] { return box->memory->PurgeExpired(); }));
           })
      .def(
          "stats",
          [](const PyMemory& self, const std::string& ns) {
            auto box = self.get();
            kos::NamespaceStats s = Unwrap(box->memory->Stats(ns));
            py::dict d;
            d["records"] = s.records;
            d["index_bytes"] = s.index_bytes;
            return d;
          },
          py::arg("ns"))
      .def_property_readonly("dimension", [](const PyMemory& self) {
        auto box = self.get();
        return box->embedder ? box->embedder->dimension() : 0;
      });
  BindContextManager(cls);

  m.def(
      "embed",
      [](const std::vector<std::string>& texts, int dimension) {
        kos::HashingEmbedderOptions eo;
        eo.dimension = dimension;
        auto e = Unwrap(kos::HashingEmbedder::Open(eo));
        auto vs = Unwrap(NoGil([&] { return e->Embed(texts); }));
        py::array_t<float> out(
            {static_cast<py::ssize_t>(vs.size()), static_cast<py::ssize_t>(dimension)});
        auto w = out.mutable_unchecked<2>();
        for (size_t i = 0; i < vs.size(); ++i) {
          for (int j = 0; j < dimension; ++j) w(i, j) = vs[i][j];
        }
        return out;
      },
      py::arg("texts"), py::arg("dimension") = 384,
      "The built-in hashing embedder's vectors for `texts`, as an (n, dimension) float32 array.");
}

}  // namespace kos_py
