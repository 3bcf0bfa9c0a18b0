// C API: kos_store_* and kos_scan_result_*.
#include "capi/c_internal.h"

using kos::capi::Bytes;
using kos::capi::CopyOut;
using kos::capi::Guard;
using kos::capi::Report;
using kos::capi::Require;
using kos::capi::SetError;
using kos::capi::Str;

namespace {

uint64_t Put(kos_store_t* store, const char* collection, const char* key, const char* value,
             size_t value_len, std::optional<uint64_t> expected, char** errptr) {
  if (!Require(store, "store", errptr)) return 0;
  auto bytes = Bytes(value, value_len, "value");
  if (!bytes.ok()) return SetError(errptr, bytes.status()), 0;
  auto r = store->rep->Put(Str(collection), Str(key), *bytes, expected);
  if (!r.ok()) return SetError(errptr, r.status()), 0;
  return r->version;
}

}  // namespace

extern "C" {

kos_store_t* kos_store_open(const char* uri, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_store_t*>(nullptr), [&]() -> kos_store_t* {
    if (!Require(uri, "uri", errptr)) return nullptr;
    auto store = kos::OpenStore(uri);
    if (!store.ok()) return SetError(errptr, store.status()), nullptr;
    return new kos_store_t{std::move(*store)};
  });
}

void kos_store_close(kos_store_t* store) {
  Guard(__func__, nullptr, 0, [&] {
    delete store;
    return 0;
  });
}

uint64_t kos_store_put(kos_store_t* store, const char* collection, const char* key,
                       const char* value, size_t value_len, char** errptr) {
  return Guard(__func__, errptr, uint64_t{0},
               [&] { return Put(store, collection, key, value, value_len, std::nullopt, errptr); });
}

uint64_t kos_store_put_if(kos_store_t* store, const char* collection, const char* key,
                          const char* value, size_t value_len, uint64_t expected_version,
                          char** errptr) {
  return Guard(__func__, errptr, uint64_t{0}, [&] {
    return Put(store, collection, key, value, value_len, expected_version, errptr);
  });
}

char* kos_store_get(kos_store_t* store, const char* collection, const char* key, size_t* value_len,
                    uint64_t* version, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(store, "store", errptr)) return nullptr;
    auto r = store->rep->Get(Str(collection), Str(key));
    if (!r.ok()) return SetError(errptr, r.status()), nullptr;
    char* out = CopyOut(r->value, value_len, errptr);
    if (out != nullptr && version != nullptr) *version = r->version;
    return out;
  });
}

kos_code_t kos_store_delete(kos_store_t* store, const char* collection, const char* key,
                            char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(store, "store", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, store->rep->Delete(Str(collection), Str(key)));
  });
}

kos_scan_result_t* kos_store_scan(kos_store_t* store, const char* collection, const char* prefix,
                                  const char* page_token, size_t limit, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_scan_result_t*>(nullptr),
               [&]() -> kos_scan_result_t* {
                 if (!Require(store, "store", errptr)) return nullptr;
                 kos::ScanOptions options;
                 options.prefix = std::string(Str(prefix));
                 options.page_token = std::string(Str(page_token));
                 options.limit = limit;
                 auto page = store->rep->Scan(Str(collection), options);
                 if (!page.ok()) return SetError(errptr, page.status()), nullptr;
                 return new kos_scan_result_t{std::move(*page)};
               });
}

size_t kos_scan_result_count(const kos_scan_result_t* result) {
  return result == nullptr ? 0 : result->page.records.size();
}

const char* kos_scan_result_key(const kos_scan_result_t* result, size_t i) {
  if (result == nullptr || i >= result->page.records.size()) return nullptr;
  return result->page.records[i].key.c_str();
}

const char* kos_scan_result_value(const kos_scan_result_t* result, size_t i, size_t* value_len) {
  if (result == nullptr || i >= result->page.records.size()) return nullptr;
  const std::string& v = result->page.records[i].value;
  if (value_len != nullptr) *value_len = v.size();
  return v.c_str();
}

uint64_t kos_scan_result_version(const kos_scan_result_t* result, size_t i) {
  if (result == nullptr || i >= result->page.records.size()) return 0;
  return result->page.records[i].version;
}

const char* kos_scan_result_next_page_token(const kos_scan_result_t* result) {
  return result == nullptr ? "" : result->page.next_page_token.c_str();
}

void kos_scan_result_destroy(kos_scan_result_t* result) { delete result; }

}  // extern "C"
