// kos.Store: versioned records by URI (memory:, sqlite:///path.db).
#include <vector>

#include "common.h"

namespace kos_py {

void BindStore(py::module_& m) {
  py::class_<kos::Record>(m, "Record", "A stored record. `value` is bytes.")
      .def_readonly("collection", &kos::Record::collection)
      .def_readonly("key", &kos::Record::key)
      .def_property_readonly("value", [](const kos::Record& r) { return py::bytes(r.value); })
      .def_readonly("version", &kos::Record::version)
      .def_readonly("sequence", &kos::Record::sequence)
      .def_property_readonly("updated", [](const kos::Record& r) { return TimeToPy(r.updated); })
      .def_property_readonly(
          "expires", [](const kos::Record& r) { return TimeToPy(r.expires); },
          "Unix seconds, or None if the record never expires.")
      .def("__repr__", [](const kos::Record& r) {
        return "Record(collection=" + std::string(py::repr(py::str(r.collection))) +
               ", key=" + std::string(py::repr(py::str(r.key))) +
               ", version=" + std::to_string(r.version) + ")";
      });

  py::class_<kos::WriteResult>(m, "WriteResult", "The outcome of one committed write.")
      .def_readonly("version", &kos::WriteResult::version)
      .def_readonly("sequence", &kos::WriteResult::sequence)
      .def("__repr__", [](const kos::WriteResult& w) {
        return "WriteResult(version=" + std::to_string(w.version) +
               ", sequence=" + std::to_string(w.sequence) + ")";
      });

  py::class_<kos::WriteOp>(m, "WriteOp", "One write of an atomic Store.commit() batch.")
      .def_static(
          "put",
          [](std::string collection, std::string key, std::string value,
             std::optional<uint64_t> expected_version, std::optional<double> ttl) {
            return kos::WriteOp::Put(std::move(collection), std::move(key), std::move(value),
                                     expected_version, ttl ? Seconds(*ttl) : absl::ZeroDuration());
          },
          py::arg("collection"), py::arg("key"), py::arg("value"),
          py::arg("expected_version") = py::none(), py::arg("ttl") = py::none())
      .def_static(
          "delete",
          [](std::string collection, std::string key, std::optional<uint64_t> expected_version) {
            return kos::WriteOp::Delete(std::move(collection), std::move(key), expected_version);
          },
          py::arg("collection"), py::arg("key"), py::arg("expected_version") = py::none())
      .def_property_readonly("kind",
                             [](const kos::WriteOp& op) {
                               return op.kind == kos::WriteOp::Kind::kPut ? "put" : "delete";
                             })
      .def_readonly("collection", &kos::WriteOp::collection)
      .def_readonly("key", &kos::WriteOp::key);

  py::class_<kos::ScanPage>(m, "ScanPage",
                            "One page of Store.scan(): records in key order and the token of the "
                            "next page (\"\" at the end).")
      .def_readonly("records", &kos::ScanPage::records)
      .def_readonly("next_page_token", &kos::ScanPage::next_page_token);

  py::class_<PyStore> cls(m, "Store",
                          "A durable, versioned record store opened by URI: 'memory:' or "
                          "'sqlite:///abs/path.db'. Thread-safe; every call releases the GIL.");
  cls.def(py::init([](const std::string& uri, std::optional<PyClock> clock, size_t max_value_bytes,
                      double busy_timeout, bool sync_full, bool background_checkpoint) {
            auto box = std::make_shared<StoreBox>();
            box->clock = ClockOrReal(clock);
            box->uri = uri;
            kos::StoreOptions o;
            o.clock = box->clock.get();
            o.max_value_bytes = max_value_bytes;
            o.busy_timeout = Seconds(busy_timeout);
            o.sync_full = sync_full;
            o.background_checkpoint = background_checkpoint;
            box->store = Unwrap(NoGil([&] { return kos::OpenStore(uri, o); }));
            return PyStore{std::move(box), "Store"};
          }),
          py::arg("uri") = "memory:", py::arg("clock") = py::none(),
          py::arg("max_value_bytes") = size_t{16 << 20}, py::arg("busy_timeout") = 30.0,
          py::arg("sync_full") = false, py::arg("background_checkpoint") = false,
          "Opens a store. InvalidArgumentError for an unknown scheme or malformed URI. "
          "background_checkpoint (SQLite): copy the write-ahead log into the database on a "
          "thread of the store's own; faster bulk loads, slower streams of small commits.")
      .def_property_readonly("uri", [](const PyStore& s) { return s.get()->uri; })
      .def(
          "put",
          [](const PyStore& self, const std::string& collection, const std::string& key,
             const std::string& value, std::optional<uint64_t> expected_version,
             std::optional<double> ttl) {
            auto box = self.get();
            absl::Duration t = ttl ? Seconds(*ttl) : absl::ZeroDuration();
            return Unwrap(NoGil(
                [&] { return box->store->Put(collection, key, value, expected_version, t); }));
          },
          py::arg("collection"), py::arg("key"), py::arg("value"),
          py::arg("expected_version") = py::none(), py::arg("ttl") = py::none(),
          "Writes `value` (bytes or str). With expected_version (0: must not exist) the write "
          "is a compare-and-set: FailedPreconditionError on a mismatch. `ttl` in seconds.")
      .def(
          "get",
          [](const PyStore& self, const std::string& collection, const std::string& key) {
            auto box = self.get();
            return Unwrap(NoGil([&] { return box->store->Get(collection, key); }));
          },
          py::arg("collection"), py::arg("key"), "NotFoundError if absent or expired.")
      .def(
          "delete",
          [](const PyStore& self, const std::string& collection, const std::string& key,
             std::optional<uint64_t> expected_version) {
            auto box = self.get();
            Check(NoGil([&] { return box->store->Delete(collection, key, expected_version); }));
          },
          py::arg("collection"), py::arg("key"), py::arg("expected_version") = py::none())
      .def(
          "commit",
          [](const PyStore& self, const std::vector<kos::WriteOp>& ops) {
            auto box = self.get();
            return Unwrap(NoGil([&] { return box->store->Commit(ops); }));
          },
          py::arg("ops"), "Applies every WriteOp or none; returns one WriteResult per op.")
      .def(
          "scan",
          [](const PyStore& self, const std::string& collection, const std::string& prefix,
             const std::string& page_token, size_t limit, bool keys_only) {
            auto box = self.get();
            kos::ScanOptions o;
            o.prefix = prefix;
            o.page_token = page_token;
            o.limit = limit;
            o.keys_only = keys_only;
            return Unwrap(NoGil([&] { return box->store->Scan(collection, o); }));
          },
          py::arg("collection"), py::arg("prefix") = "", py::arg("page_token") = "",
          py::arg("limit") = 100, py::arg("keys_only") = false,
          "One page of records in key order; pass next_page_token to continue.")
      .def("last_sequence",
           [](const PyStore& self) {
             auto box = self.get();
             return Unwrap(NoGil([&] { return box->store->LastSequence(); }));
           })
      .def("purge_expired", [](const PyStore& self) {
        auto box = self.get();
        return Unwrap(NoGil([&] { return box->store->PurgeExpired(); }));
      });
  BindContextManager(cls);
}

}  // namespace kos_py
