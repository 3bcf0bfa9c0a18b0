// C API: kos_vault_options_* and kos_vault_* (kos/vault.h).
#include <optional>

#include "capi/c_internal.h"

using kos::capi::Bytes;
using kos::capi::CopyOut;
using kos::capi::Guard;
using kos::capi::Report;
using kos::capi::Require;
using kos::capi::SetError;
using kos::capi::Str;

struct kos_vault_options_t {
  std::optional<kos::SecretBytes> master_key;
  std::string master_key_file;
  bool development_mode = false;
  kos_store_t* audit_store = nullptr;
  uint32_t max_versions = 10;
};

namespace {

uint64_t Put(kos_vault_t* vault, const char* actor, const char* path, const char* value,
             size_t value_len, std::optional<uint64_t> cas, char** errptr) {
  if (!Require(vault, "vault", errptr)) return 0;
  auto bytes = Bytes(value, value_len, "value");
  if (!bytes.ok()) return SetError(errptr, bytes.status()), 0;
  kos::VaultPutOptions options;
  options.cas = cas;
  auto v = vault->rep->Put(Str(actor), Str(path), *bytes, options);
  if (!v.ok()) return SetError(errptr, v.status()), 0;
  return *v;
}

}  // namespace

extern "C" {

kos_vault_options_t* kos_vault_options_create(void) {
  return Guard(__func__, nullptr, static_cast<kos_vault_options_t*>(nullptr),
               [] { return new kos_vault_options_t(); });
}

void kos_vault_options_destroy(kos_vault_options_t* options) { delete options; }

kos_code_t kos_vault_options_set_master_key(kos_vault_options_t* options, const unsigned char* key,
                                            size_t key_len, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(options, "options", errptr)) return KOS_INVALID_ARGUMENT;
    if (key == nullptr || key_len != kos::kAeadKeyBytes) {
      return Report(errptr, absl::InvalidArgumentError("master key must be 32 bytes"));
    }
    options->master_key =
        kos::SecretBytes::CopyFrom(absl::string_view(reinterpret_cast<const char*>(key), key_len));
    return KOS_OK;
  });
}

void kos_vault_options_set_master_key_file(kos_vault_options_t* options, const char* path) {
  Guard(__func__, nullptr, 0, [&] {
    if (options != nullptr) options->master_key_file = std::string(Str(path));
    return 0;
  });
}

void kos_vault_options_set_development_mode(kos_vault_options_t* options, int enabled) {
  if (options != nullptr) options->development_mode = enabled != 0;
}

void kos_vault_options_set_audit_store(kos_vault_options_t* options, kos_store_t* audit_store) {
  if (options != nullptr) options->audit_store = audit_store;
}

void kos_vault_options_set_max_versions(kos_vault_options_t* options, uint32_t max_versions) {
  if (options != nullptr) options->max_versions = max_versions;
}

kos_vault_t* kos_vault_open(kos_store_t* store, const kos_vault_options_t* options, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_vault_t*>(nullptr), [&]() -> kos_vault_t* {
    if (!Require(store, "store", errptr)) return nullptr;
    kos_vault_options_t defaults;
    const kos_vault_options_t& o = options != nullptr ? *options : defaults;
    auto vault = std::make_unique<kos_vault_t>();
    kos::AuditLogOptions ao;
    ao.store = o.audit_store != nullptr ? o.audit_store->rep.get() : store->rep.get();
    auto audit = kos::AuditLog::Open(ao);
    if (!audit.ok()) return SetError(errptr, audit.status()), nullptr;
    vault->audit = std::move(*audit);
    kos::VaultOptions vo;
    vo.store = store->rep.get();
    vo.audit = vault->audit.get();
    if (o.master_key.has_value()) vo.master_key = &*o.master_key;
    vo.master_key_file = o.master_key_file;
    vo.development_mode = o.development_mode;
    vo.default_max_versions = o.max_versions;
    auto rep = kos::Vault::Open(vo);
    if (!rep.ok()) return SetError(errptr, rep.status()), nullptr;
    vault->rep = std::move(*rep);
    return vault.release();
  });
}

void kos_vault_close(kos_vault_t* vault) {
  Guard(__func__, nullptr, 0, [&] {
    delete vault;
    return 0;
  });
}

uint64_t kos_vault_put(kos_vault_t* vault, const char* actor, const char* path, const char* value,
                       size_t value_len, char** errptr) {
  return Guard(__func__, errptr, uint64_t{0},
               [&] { return Put(vault, actor, path, value, value_len, std::nullopt, errptr); });
}

uint64_t kos_vault_put_cas(kos_vault_t* vault, const char* actor, const char* path,
                           const char* value, size_t value_len, uint64_t cas, char** errptr) {
  return Guard(__func__, errptr, uint64_t{0},
               [&] { return Put(vault, actor, path, value, value_len, cas, errptr); });
}

char* kos_vault_get(kos_vault_t* vault, const char* actor, const char* path, uint64_t version,
                    size_t* value_len, uint64_t* version_out, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(vault, "vault", errptr)) return nullptr;
    auto secret = vault->rep->Get(Str(actor), Str(path), version);
    if (!secret.ok()) return SetError(errptr, secret.status()), nullptr;
    char* out = CopyOut(secret->value.view(), value_len, errptr);
    if (out != nullptr && version_out != nullptr) *version_out = secret->version;
    return out;
  });
}

kos_code_t kos_vault_delete(kos_vault_t* vault, const char* actor, const char* path,
                            char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(vault, "vault", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, vault->rep->Delete(Str(actor), Str(path)));
  });
}

char* kos_vault_list(kos_vault_t* vault, const char* actor, const char* prefix, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(vault, "vault", errptr)) return nullptr;
    auto paths = vault->rep->List(Str(actor), Str(prefix));
    if (!paths.ok()) return SetError(errptr, paths.status()), nullptr;
    return CopyOut(kos::DumpJson(kos::Json(*paths)), nullptr, errptr);
  });
}

uint32_t kos_vault_rotate(kos_vault_t* vault, const char* actor, char** errptr) {
  return Guard(__func__, errptr, uint32_t{0}, [&]() -> uint32_t {
    if (!Require(vault, "vault", errptr)) return 0;
    auto v = vault->rep->Rotate(Str(actor));
    if (!v.ok()) return SetError(errptr, v.status()), 0;
    return *v;
  });
}

kos_code_t kos_vault_rewrap(kos_vault_t* vault, const char* actor, size_t* rewrapped,
                            char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(vault, "vault", errptr)) return KOS_INVALID_ARGUMENT;
    size_t total = 0;
    std::string token;
    do {
      auto r = vault->rep->RewrapAll(Str(actor), 1000, token);
      if (!r.ok()) return Report(errptr, r.status());
      total += r->rewrapped;
      token = r->resume_token;
    } while (!token.empty());
    if (rewrapped != nullptr) *rewrapped = total;
    return KOS_OK;
  });
}

kos_code_t kos_vault_transit_create_key(kos_vault_t* vault, const char* actor, const char* name,
                                        char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(vault, "vault", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, vault->rep->CreateTransitKey(Str(actor), Str(name)));
  });
}

uint32_t kos_vault_transit_rotate_key(kos_vault_t* vault, const char* actor, const char* name,
                                      char** errptr) {
  return Guard(__func__, errptr, uint32_t{0}, [&]() -> uint32_t {
    if (!Require(vault, "vault", errptr)) return 0;
    auto v = vault->rep->RotateTransitKey(Str(actor), Str(name));
    if (!v.ok()) return SetError(errptr, v.status()), 0;
    return *v;
  });
}

char* kos_vault_transit_encrypt(kos_vault_t* vault, const char* actor, const char* name,
                                const char* plaintext, size_t plaintext_len, const char* context,
                                char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(vault, "vault", errptr)) return nullptr;
    auto pt = Bytes(plaintext, plaintext_len, "plaintext");
    if (!pt.ok()) return SetError(errptr, pt.status()), nullptr;
    auto ct = vault->rep->TransitEncrypt(Str(actor), Str(name), *pt, Str(context));
    if (!ct.ok()) return SetError(errptr, ct.status()), nullptr;
    return CopyOut(*ct, nullptr, errptr);
  });
}

char* kos_vault_transit_decrypt(kos_vault_t* vault, const char* actor, const char* name,
                                const char* ciphertext, const char* context, size_t* plaintext_len,
                                char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(vault, "vault", errptr)) return nullptr;
    auto pt = vault->rep->TransitDecrypt(Str(actor), Str(name), Str(ciphertext), Str(context));
    if (!pt.ok()) return SetError(errptr, pt.status()), nullptr;
    return CopyOut(pt->view(), plaintext_len, errptr);
  });
}

}  // extern "C"
