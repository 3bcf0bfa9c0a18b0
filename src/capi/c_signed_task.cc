// C API: kos_key_registry_*, kos_task_signer_*, kos_task_verifier_* (kos/signed_task.h).
#include "capi/c_internal.h"

using kos::capi::Bytes;
using kos::capi::CopyOut;
using kos::capi::Guard;
using kos::capi::JsonArg;
using kos::capi::Report;
using kos::capi::Require;
using kos::capi::SetError;
using kos::capi::Str;

extern "C" {

kos_key_registry_t* kos_key_registry_open(kos_store_t* store, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_key_registry_t*>(nullptr),
               [&]() -> kos_key_registry_t* {
                 if (!Require(store, "store", errptr)) return nullptr;
                 kos::KeyRegistryOptions o;
                 o.store = store->rep.get();
                 auto r = kos::KeyRegistry::Open(o);
                 if (!r.ok()) return SetError(errptr, r.status()), nullptr;
                 return new kos_key_registry_t{std::move(*r)};
               });
}

void kos_key_registry_close(kos_key_registry_t* registry) { delete registry; }

kos_code_t kos_key_registry_add(kos_key_registry_t* registry, const char* kid, const char* issuer,
                                const unsigned char* public_key, size_t public_key_len,
                                char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(registry, "registry", errptr)) return KOS_INVALID_ARGUMENT;
    auto pk = Bytes(public_key, public_key_len, "public_key");
    if (!pk.ok()) return Report(errptr, pk.status());
    return Report(errptr, registry->rep->AddKey(Str(kid), Str(issuer), *pk));
  });
}

kos_code_t kos_key_registry_revoke(kos_key_registry_t* registry, const char* kid, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(registry, "registry", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, registry->rep->Revoke(Str(kid)));
  });
}

kos_task_signer_t* kos_task_signer_open(const char* issuer, const char* kid,
                                        const unsigned char* seed, size_t seed_len,
                                        int64_t ttl_seconds, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_task_signer_t*>(nullptr),
               [&]() -> kos_task_signer_t* {
                 auto s = Bytes(seed, seed_len, "seed");
                 if (!s.ok()) return SetError(errptr, s.status()), nullptr;
                 auto pair = kos::Ed25519KeyPair::FromSeed(*s);
                 if (!pair.ok()) return SetError(errptr, pair.status()), nullptr;
                 if (ttl_seconds < 0) {
                   SetError(errptr, absl::InvalidArgumentError("ttl_seconds must be >= 0"));
                   return nullptr;
                 }
                 kos::TaskSignerOptions o;
                 o.issuer = std::string(Str(issuer));
                 o.kid = std::string(Str(kid));
                 o.key_pair = &*pair;
                 if (ttl_seconds > 0) o.ttl = absl::Seconds(ttl_seconds);
                 auto signer = kos::TaskSigner::Open(o);
                 if (!signer.ok()) return SetError(errptr, signer.status()), nullptr;
                 return new kos_task_signer_t{std::move(*signer)};
               });
}

void kos_task_signer_close(kos_task_signer_t* signer) { delete signer; }

char* kos_task_signer_sign(kos_task_signer_t* signer, const char* audience,
                           const char* payload_json, const char* task_id, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(signer, "signer", errptr)) return nullptr;
    auto payload = JsonArg(payload_json, "payload_json", kos::Json::object());
    if (!payload.ok()) return SetError(errptr, payload.status()), nullptr;
    kos::TaskRequest request;
    request.audience = std::string(Str(audience));
    request.payload = std::move(*payload);
    request.task_id = std::string(Str(task_id));
    auto envelope = signer->rep->Sign(request);
    if (!envelope.ok()) return SetError(errptr, envelope.status()), nullptr;
    return CopyOut(envelope->text, nullptr, errptr);
  });
}

kos_task_verifier_t* kos_task_verifier_open(kos_key_registry_t* registry, kos_store_t* nonce_store,
                                            const char* audience, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_task_verifier_t*>(nullptr),
               [&]() -> kos_task_verifier_t* {
                 if (!Require(registry, "registry", errptr) ||
                     !Require(nonce_store, "nonce_store", errptr)) {
                   return nullptr;
                 }
                 kos::TaskVerifierOptions o;
                 o.keys = registry->rep.get();
                 o.nonce_store = nonce_store->rep.get();
                 o.audience = std::string(Str(audience));
                 auto v = kos::TaskVerifier::Open(o);
                 if (!v.ok()) return SetError(errptr, v.status()), nullptr;
                 return new kos_task_verifier_t{std::move(*v)};
               });
}

void kos_task_verifier_close(kos_task_verifier_t* verifier) { delete verifier; }

char* kos_task_verifier_verify(kos_task_verifier_t* verifier, const char* envelope, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(verifier, "verifier", errptr)) return nullptr;
    auto task = verifier->rep->Verify(Str(envelope));
    if (!task.ok()) return SetError(errptr, task.status()), nullptr;
    kos::Json j = {{"v", task->version},
                   {"kid", task->kid},
                   {"iss", task->issuer},
                   {"aud", task->audience},
                   {"tid", task->task_id},
                   {"nonce", task->nonce},
                   {"iat", absl::ToUnixSeconds(task->issued_at)},
                   {"exp", absl::ToUnixSeconds(task->expires_at)},
                   {"payload", task->payload}};
    if (task->parent_task_id.has_value()) j["parent"] = *task->parent_task_id;
    return CopyOut(kos::DumpJson(j), nullptr, errptr);
  });
}

}  // extern "C"
