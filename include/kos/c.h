/* libkos C API, modelled on LevelDB's include/leveldb/c.h and DuckDB's duckdb.h.
 *
 * Conventions (docs/c-api.md has the full text and a function index):
 *  - Handles are opaque and distinct: kos_x_t* made by kos_x_open() (or
 *    _create()) is released by kos_x_close() (or _destroy()); NULL is a no-op.
 *    A handle passed to an open function must outlive the object opened with
 *    it (a vault needs its store, a verifier its key registry, ...).
 *  - Every call that can fail takes `char** errptr` last. On failure it frees
 *    any message already in *errptr and stores a new malloc'd one, which the
 *    caller releases with kos_free(); on success *errptr is left unchanged (so
 *    set it to NULL before a call you want to check alone). errptr may be
 *    NULL to discard the message. Messages read "<CODE>: <text>" with CODE an
 *    absl::StatusCode name; kos_error_code() turns one back into a kos_code_t.
 *  - Calls without a result return a kos_code_t (KOS_OK, i.e. 0, on success).
 *    Calls returning a pointer return NULL on failure; calls returning a
 *    version number return 0 on failure (valid versions start at 1).
 *  - Strings and byte buffers returned to the caller are malloc'd, always
 *    NUL-terminated (even byte buffers, one byte past *len), and released
 *    with kos_free() (or kos_free_secret() for secret plaintexts, which wipes
 *    them first). `const char*` returned by result handles belongs to the
 *    handle.
 *  - JSON crosses the boundary as UTF-8 text.
 *  - No C++ exception ever leaves a kos_ function; an unexpected one becomes
 *    an INTERNAL error.
 *  - Threading: store, vault, key registry, signer, verifier, authenticator,
 *    access controller, memory, prompt registry and orchestrator handles are
 *    thread-safe (so are the C++ objects they wrap). Options handles and
 *    result handles are not: use each from one thread at a time.
 *
 * Written in C89 with <stddef.h>/<stdint.h>; usable from C++ too.
 */
#ifndef KOS_C_H_
#define KOS_C_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__cplusplus) || (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L)
#include "kos/export.h"
#elif !defined(KOS_EXPORT)
/* kos/export.h uses // comments, which strict C89 refuses; this is the same
 * definition (token for token, so including both is harmless). */
#if defined(_WIN32)
#if defined(KOS_BUILDING_LIBRARY)
#define KOS_EXPORT __declspec(dllexport)
#else
#define KOS_EXPORT __declspec(dllimport)
#endif
#else
#define KOS_EXPORT __attribute__((visibility("default")))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Status codes, errors, memory
 * ------------------------------------------------------------------------ */

/* The values of absl::StatusCode (and of gRPC status codes). */
typedef enum kos_code_t {
  KOS_OK = 0,
  KOS_CANCELLED = 1,
  KOS_UNKNOWN = 2,
  KOS_INVALID_ARGUMENT = 3,
  KOS_DEADLINE_EXCEEDED = 4,
  KOS_NOT_FOUND = 5,
  KOS_ALREADY_EXISTS = 6,
  KOS_PERMISSION_DENIED = 7,
  KOS_RESOURCE_EXHAUSTED = 8,
  KOS_FAILED_PRECONDITION = 9,
  KOS_ABORTED = 10,
  KOS_OUT_OF_RANGE = 11,
  KOS_UNIMPLEMENTED = 12,
  KOS_INTERNAL = 13,
  KOS_UNAVAILABLE = 14,
  KOS_DATA_LOSS = 15,
  KOS_UNAUTHENTICATED = 16
} kos_code_t;

/* Frees anything libkos returned: strings, buffers, error messages. */
KOS_EXPORT void kos_free(void* ptr);
/* Wipes `len` bytes of `ptr` and frees it (for secret plaintexts). */
KOS_EXPORT void kos_free_secret(void* ptr, size_t len);
/* The code of an error message from *errptr: KOS_OK for NULL, KOS_UNKNOWN
 * for text that does not start with a code name. */
KOS_EXPORT kos_code_t kos_error_code(const char* err);
/* "OK", "NOT_FOUND", ... (static storage; "UNKNOWN" for other values). */
KOS_EXPORT const char* kos_code_name(int code);
/* The library version, e.g. "0.1.0" (static storage). */
KOS_EXPORT const char* kos_version(void);

/* ------------------------------------------------------------------------
 * Store: versioned records in collections (kos/store.h)
 * ------------------------------------------------------------------------ */

typedef struct kos_store_t kos_store_t;
typedef struct kos_scan_result_t kos_scan_result_t;

/* `memory:`, `sqlite:///abs/path.db` or `sqlite:rel/path.db`.
 * INVALID_ARGUMENT for an unknown scheme or malformed URI. */
KOS_EXPORT kos_store_t* kos_store_open(const char* uri, char** errptr);
KOS_EXPORT void kos_store_close(kos_store_t* store);

/* Writes `value` (`value_len` bytes, may hold NULs); returns the new version
 * (>= 1), or 0 on failure. */
KOS_EXPORT uint64_t kos_store_put(kos_store_t* store, const char* collection, const char* key,
                                  const char* value, size_t value_len, char** errptr);
/* As kos_store_put, only if the stored version equals `expected_version`
 * (0: the record must not exist); FAILED_PRECONDITION otherwise. */
KOS_EXPORT uint64_t kos_store_put_if(kos_store_t* store, const char* collection, const char* key,
                                     const char* value, size_t value_len, uint64_t expected_version,
                                     char** errptr);
/* The value (malloc'd, *value_len bytes plus a NUL) and, if `version` is not
 * NULL, its version. NULL with NOT_FOUND if absent or expired. */
KOS_EXPORT char* kos_store_get(kos_store_t* store, const char* collection, const char* key,
                               size_t* value_len, uint64_t* version, char** errptr);
/* Deletes the record; KOS_OK also when it is absent (deletes are idempotent). */
KOS_EXPORT kos_code_t kos_store_delete(kos_store_t* store, const char* collection, const char* key,
                                       char** errptr);

/* One page of records of `collection` whose keys start with `prefix` (NULL or
 * "" for all), in key order, at most `limit` (1..10000) records, starting at
 * `page_token` (NULL or "" for the first page). */
KOS_EXPORT kos_scan_result_t* kos_store_scan(kos_store_t* store, const char* collection,
                                             const char* prefix, const char* page_token,
                                             size_t limit, char** errptr);
KOS_EXPORT size_t kos_scan_result_count(const kos_scan_result_t* result);
/* Entry `i` (< count); NULL / 0 when out of range. */
KOS_EXPORT const char* kos_scan_result_key(const kos_scan_result_t* result, size_t i);
KOS_EXPORT const char* kos_scan_result_value(const kos_scan_result_t* result, size_t i,
                                             size_t* value_len);
KOS_EXPORT uint64_t kos_scan_result_version(const kos_scan_result_t* result, size_t i);
/* Token of the next page; "" when there are no more. */
KOS_EXPORT const char* kos_scan_result_next_page_token(const kos_scan_result_t* result);
KOS_EXPORT void kos_scan_result_destroy(kos_scan_result_t* result);

/* ------------------------------------------------------------------------
 * Crypto (kos/crypto.h; libsodium underneath)
 * ------------------------------------------------------------------------ */

#define KOS_ED25519_PUBLIC_KEY_BYTES 32
#define KOS_ED25519_SEED_BYTES 32
#define KOS_ED25519_SIGNATURE_BYTES 64
#define KOS_AEAD_KEY_BYTES 32

/* Fills `buf` with `len` bytes from the operating system CSPRNG. */
KOS_EXPORT kos_code_t kos_random_bytes(unsigned char* buf, size_t len, char** errptr);

/* A fresh key pair: the 32-byte public key and the 32-byte seed (the private
 * key; wipe it when done). */
KOS_EXPORT kos_code_t kos_ed25519_generate(unsigned char* public_key, unsigned char* seed,
                                           char** errptr);
/* The public key of a 32-byte seed. */
KOS_EXPORT kos_code_t kos_ed25519_public_key(const unsigned char* seed, size_t seed_len,
                                             unsigned char* public_key, char** errptr);
/* Signs with a 32-byte seed (or a 64-byte libsodium secret key) into
 * `signature` (64 bytes). INVALID_ARGUMENT for other key sizes. */
KOS_EXPORT kos_code_t kos_ed25519_sign(const unsigned char* key, size_t key_len,
                                       const char* message, size_t message_len,
                                       unsigned char* signature, char** errptr);
/* KOS_OK if the signature verifies; UNAUTHENTICATED if not; INVALID_ARGUMENT
 * for a key that is not 32 bytes or a signature that is not 64. */
KOS_EXPORT kos_code_t kos_ed25519_verify(const unsigned char* public_key, size_t public_key_len,
                                         const char* message, size_t message_len,
                                         const unsigned char* signature, size_t signature_len,
                                         char** errptr);

/* Authenticated encryption in libkos's sealed format (XChaCha20-Poly1305, a
 * random nonce, `key_version` recorded in the header; see kos/crypto.h).
 * `key` is 32 bytes; `aad` (may be NULL when aad_len is 0) is bound in and
 * must be given again to open. Returns the sealed blob (*sealed_len bytes). */
KOS_EXPORT char* kos_aead_seal(const unsigned char* key, size_t key_len, uint32_t key_version,
                               const char* plaintext, size_t plaintext_len, const char* aad,
                               size_t aad_len, size_t* sealed_len, char** errptr);
/* The plaintext (free with kos_free_secret). UNAUTHENTICATED if the blob, the
 * key or the aad do not match; NOT_FOUND if the blob names another key
 * version; INVALID_ARGUMENT if malformed. */
KOS_EXPORT char* kos_aead_open(const unsigned char* key, size_t key_len, uint32_t key_version,
                               const char* sealed, size_t sealed_len, const char* aad,
                               size_t aad_len, size_t* plaintext_len, char** errptr);

/* RFC 4648 base64url without padding. Decoding is strict (INVALID_ARGUMENT
 * for padding, foreign characters or non-canonical input). */
KOS_EXPORT char* kos_base64url_encode(const unsigned char* bytes, size_t len, char** errptr);
KOS_EXPORT char* kos_base64url_decode(const char* text, size_t* len, char** errptr);

/* ------------------------------------------------------------------------
 * Vault: encrypted secrets and transit encryption (kos/vault.h)
 * ------------------------------------------------------------------------ */

typedef struct kos_vault_t kos_vault_t;
typedef struct kos_vault_options_t kos_vault_options_t;

/* Defaults: master key from the KOS_VAULT_MASTER_KEY environment variable
 * (base64url of 32 bytes); no key file; not development mode; audit events
 * appended to a hash-chained audit log in collection "audit" of the vault's
 * own store; 10 versions kept per secret. */
KOS_EXPORT kos_vault_options_t* kos_vault_options_create(void);
KOS_EXPORT void kos_vault_options_destroy(kos_vault_options_t* options);
/* A 32-byte master key (copied). Takes precedence over environment and file. */
KOS_EXPORT kos_code_t kos_vault_options_set_master_key(kos_vault_options_t* options,
                                                       const unsigned char* key, size_t key_len,
                                                       char** errptr);
/* A file holding base64url of 32 bytes, mode 0600 (NULL or "": none). */
KOS_EXPORT void kos_vault_options_set_master_key_file(kos_vault_options_t* options,
                                                      const char* path);
/* Development only: without any master key, a new vault makes one (written
 * to the key file when one is set, otherwise lost with the process). */
KOS_EXPORT void kos_vault_options_set_development_mode(kos_vault_options_t* options, int enabled);
/* Where the audit log lives (NULL: the vault's store). Not owned. */
KOS_EXPORT void kos_vault_options_set_audit_store(kos_vault_options_t* options,
                                                  kos_store_t* audit_store);
/* Versions kept per secret (default 10). */
KOS_EXPORT void kos_vault_options_set_max_versions(kos_vault_options_t* options,
                                                   uint32_t max_versions);

/* `options` may be NULL (defaults). UNAUTHENTICATED if the master key does
 * not open the stored keyring; FAILED_PRECONDITION without a master key. */
KOS_EXPORT kos_vault_t* kos_vault_open(kos_store_t* store, const kos_vault_options_t* options,
                                       char** errptr);
KOS_EXPORT void kos_vault_close(kos_vault_t* vault);

/* `actor` names the caller in audit events. Paths: "kv/team/openai" (1..16
 * segments of [A-Za-z0-9_.-]). Returns the new version, 0 on failure. */
KOS_EXPORT uint64_t kos_vault_put(kos_vault_t* vault, const char* actor, const char* path,
                                  const char* value, size_t value_len, char** errptr);
/* Check-and-set: only if the current version is `cas` (0: no version yet). */
KOS_EXPORT uint64_t kos_vault_put_cas(kos_vault_t* vault, const char* actor, const char* path,
                                      const char* value, size_t value_len, uint64_t cas,
                                      char** errptr);
/* Version `version` (0: latest). Free the result with kos_free_secret.
 * `version_out` (may be NULL) receives the version read. NOT_FOUND if
 * absent, deleted or destroyed; DATA_LOSS if the ciphertext was tampered. */
KOS_EXPORT char* kos_vault_get(kos_vault_t* vault, const char* actor, const char* path,
                               uint64_t version, size_t* value_len, uint64_t* version_out,
                               char** errptr);
/* Soft-deletes the current version. */
KOS_EXPORT kos_code_t kos_vault_delete(kos_vault_t* vault, const char* actor, const char* path,
                                       char** errptr);
/* Paths starting with `prefix` as a JSON array of strings. */
KOS_EXPORT char* kos_vault_list(kos_vault_t* vault, const char* actor, const char* prefix,
                                char** errptr);
/* Adds a keyring key and makes it current; returns its version (0 on
 * failure). Existing secrets stay readable; kos_vault_rewrap re-seals them. */
KOS_EXPORT uint32_t kos_vault_rotate(kos_vault_t* vault, const char* actor, char** errptr);
/* Re-seals every data key under the current keyring key; returns how many
 * were re-sealed (*rewrapped may be NULL). */
KOS_EXPORT kos_code_t kos_vault_rewrap(kos_vault_t* vault, const char* actor, size_t* rewrapped,
                                       char** errptr);

/* Transit: encryption with named keys, nothing stored. */
KOS_EXPORT kos_code_t kos_vault_transit_create_key(kos_vault_t* vault, const char* actor,
                                                   const char* name, char** errptr);
/* Returns the new key version (0 on failure). */
KOS_EXPORT uint32_t kos_vault_transit_rotate_key(kos_vault_t* vault, const char* actor,
                                                 const char* name, char** errptr);
/* "kos:v<N>:<base64url>". `context` (NULL: none) must be given to decrypt. */
KOS_EXPORT char* kos_vault_transit_encrypt(kos_vault_t* vault, const char* actor, const char* name,
                                           const char* plaintext, size_t plaintext_len,
                                           const char* context, char** errptr);
/* Free with kos_free_secret. UNAUTHENTICATED if tampered or the context
 * differs; INVALID_ARGUMENT if malformed. */
KOS_EXPORT char* kos_vault_transit_decrypt(kos_vault_t* vault, const char* actor, const char* name,
                                           const char* ciphertext, const char* context,
                                           size_t* plaintext_len, char** errptr);

/* ------------------------------------------------------------------------
 * Signed tasks (kos/signed_task.h)
 * ------------------------------------------------------------------------ */

typedef struct kos_key_registry_t kos_key_registry_t;
typedef struct kos_task_signer_t kos_task_signer_t;
typedef struct kos_task_verifier_t kos_task_verifier_t;

/* Trusted public keys kept in `store` (collection "signed_task_keys"). */
KOS_EXPORT kos_key_registry_t* kos_key_registry_open(kos_store_t* store, char** errptr);
KOS_EXPORT void kos_key_registry_close(kos_key_registry_t* registry);
/* Trusts a 32-byte public key for `issuer` under `kid`. ALREADY_EXISTS if
 * the kid was ever registered. */
KOS_EXPORT kos_code_t kos_key_registry_add(kos_key_registry_t* registry, const char* kid,
                                           const char* issuer, const unsigned char* public_key,
                                           size_t public_key_len, char** errptr);
/* Tasks signed with `kid` are refused from now on. NOT_FOUND if unknown. */
KOS_EXPORT kos_code_t kos_key_registry_revoke(kos_key_registry_t* registry, const char* kid,
                                              char** errptr);

/* Signs as `issuer` with key `kid` (a 32-byte seed, copied). Tasks live
 * `ttl_seconds` (0: 300). */
KOS_EXPORT kos_task_signer_t* kos_task_signer_open(const char* issuer, const char* kid,
                                                   const unsigned char* seed, size_t seed_len,
                                                   int64_t ttl_seconds, char** errptr);
KOS_EXPORT void kos_task_signer_close(kos_task_signer_t* signer);
/* The canonical envelope JSON of a task for agent `audience` carrying
 * `payload_json` (a JSON object; NULL: {}). `task_id` NULL or "": a fresh
 * ULID. INVALID_ARGUMENT for a bad request. */
KOS_EXPORT char* kos_task_signer_sign(kos_task_signer_t* signer, const char* audience,
                                      const char* payload_json, const char* task_id, char** errptr);

/* Verifies envelopes for agent `audience` against `registry`, recording
 * accepted nonces in `nonce_store` (NULL: none, the call fails). */
KOS_EXPORT kos_task_verifier_t* kos_task_verifier_open(kos_key_registry_t* registry,
                                                       kos_store_t* nonce_store,
                                                       const char* audience, char** errptr);
KOS_EXPORT void kos_task_verifier_close(kos_task_verifier_t* verifier);
/* Checks the envelope and consumes its nonce; returns the task as JSON
 * {"v","kid","iss","aud","tid","nonce","iat","exp","parent"?,"payload"}.
 * UNAUTHENTICATED for a bad signature, unknown or revoked key, wrong
 * audience, expiry or replay; INVALID_ARGUMENT for malformed envelopes. */
KOS_EXPORT char* kos_task_verifier_verify(kos_task_verifier_t* verifier, const char* envelope,
                                          char** errptr);

/* ------------------------------------------------------------------------
 * Authentication and access control (kos/authenticator.h, kos/rbac.h)
 * ------------------------------------------------------------------------ */

typedef struct kos_authenticator_t kos_authenticator_t;
typedef struct kos_auth_options_t kos_auth_options_t;
typedef struct kos_access_controller_t kos_access_controller_t;

/* Defaults: issuer "kos", audience "kos-api", access tokens valid 900 s,
 * sessions idle-expire after 3600 s, sessions in process memory
 * ("memory:"), Argon2id with OWASP parameters. A signing-key protection is
 * required: a key-encryption key or a vault. */
KOS_EXPORT kos_auth_options_t* kos_auth_options_create(void);
KOS_EXPORT void kos_auth_options_destroy(kos_auth_options_t* options);
KOS_EXPORT void kos_auth_options_set_issuer(kos_auth_options_t* options, const char* issuer);
KOS_EXPORT void kos_auth_options_set_audience(kos_auth_options_t* options, const char* audience);
KOS_EXPORT void kos_auth_options_set_token_lifetime(kos_auth_options_t* options, int64_t seconds);
KOS_EXPORT void kos_auth_options_set_session_timeout(kos_auth_options_t* options, int64_t seconds);
/* Session storage: "memory:" or "redis://host:port/db". */
KOS_EXPORT void kos_auth_options_set_ephemeral_uri(kos_auth_options_t* options, const char* uri);
/* 32 bytes sealing the token signing keys in the store (copied). */
KOS_EXPORT kos_code_t kos_auth_options_set_key_encryption_key(kos_auth_options_t* options,
                                                              const unsigned char* key,
                                                              size_t key_len, char** errptr);
/* Keep the signing keys in `vault` instead (not owned; must outlive). */
KOS_EXPORT void kos_auth_options_set_vault(kos_auth_options_t* options, kos_vault_t* vault);
/* Nonzero: libsodium's minimum Argon2id cost. Tests only. */
KOS_EXPORT void kos_auth_options_set_fast_password_hashing(kos_auth_options_t* options,
                                                           int enabled);

KOS_EXPORT kos_authenticator_t* kos_authenticator_open(kos_store_t* store,
                                                       const kos_auth_options_t* options,
                                                       char** errptr);
KOS_EXPORT void kos_authenticator_close(kos_authenticator_t* auth);
/* Creates a user; returns its id. `email` may be NULL; `roles_json` is a JSON
 * array of role names (NULL: none). ALREADY_EXISTS for a taken name. */
KOS_EXPORT char* kos_auth_create_user(kos_authenticator_t* auth, const char* username,
                                      const char* password, const char* email,
                                      const char* roles_json, char** errptr);
/* Tokens as JSON {"access_token","token_type","expires_in","refresh_token",
 * "session_id","scope","subject"}. UNAUTHENTICATED for bad credentials.
 * `address` (NULL: "") is the client address for lockout and logs. */
KOS_EXPORT char* kos_auth_login(kos_authenticator_t* auth, const char* username,
                                const char* password, const char* address, char** errptr);
/* The principal as JSON {"subject","session_id","client_id","roles","scope",
 * "expires","user":{"id","username","email","display_name","roles"}}.
 * UNAUTHENTICATED for an invalid, expired or logged-out token. */
KOS_EXPORT char* kos_auth_validate(kos_authenticator_t* auth, const char* access_token,
                                   char** errptr);
/* Rotates the refresh token; returns new tokens as kos_auth_login does. */
KOS_EXPORT char* kos_auth_refresh(kos_authenticator_t* auth, const char* refresh_token,
                                  const char* address, char** errptr);
KOS_EXPORT kos_code_t kos_auth_logout(kos_authenticator_t* auth, const char* access_token,
                                      char** errptr);

/* RBAC with a policy document (schema: docs/access-control.md); NULL starts
 * with the empty policy, which denies everything. */
KOS_EXPORT kos_access_controller_t* kos_access_controller_open(const char* policy_json,
                                                               char** errptr);
KOS_EXPORT void kos_access_controller_close(kos_access_controller_t* ac);
/* Replaces the policy; on error the current one stays. */
KOS_EXPORT kos_code_t kos_access_controller_load_json(kos_access_controller_t* ac,
                                                      const char* policy_json, char** errptr);
KOS_EXPORT kos_code_t kos_access_controller_load_file(kos_access_controller_t* ac, const char* path,
                                                      char** errptr);
/* KOS_OK if `subject` ("user:alice", "agent:kPlanner") may do `action` on
 * `resource`; PERMISSION_DENIED if not; INVALID_ARGUMENT if malformed. */
KOS_EXPORT kos_code_t kos_access_controller_check(const kos_access_controller_t* ac,
                                                  const char* subject, const char* resource,
                                                  const char* action, char** errptr);
/* The decision as JSON {"allowed","effect","source","rule",...}. */
KOS_EXPORT char* kos_access_controller_explain(const kos_access_controller_t* ac,
                                               const char* subject, const char* resource,
                                               const char* action, char** errptr);

/* ------------------------------------------------------------------------
 * Memory: namespaced records with vector search (kos/memory.h)
 * ------------------------------------------------------------------------ */

typedef struct kos_memory_t kos_memory_t;
typedef struct kos_search_result_t kos_search_result_t;

/* Opens memory over `store` with the built-in deterministic feature-hashing
 * embedder of `embedding_dimension` (8..65536; 0: 384). */
KOS_EXPORT kos_memory_t* kos_memory_open(kos_store_t* store, int embedding_dimension,
                                         char** errptr);
KOS_EXPORT void kos_memory_close(kos_memory_t* memory);
/* `config_json` (NULL: defaults) may hold "dimension" (0: the embedder's),
 * "metric" ("cosine" | "ip" | "l2"), "index" ("hnswlib" | "faiss_flat" |
 * "faiss_hnsw" | "faiss_ivf"), "m", "ef_construction", "ef_search", "default_ttl_seconds",
 * "nlist", "nprobe", "ivf_train_size" (the last three for "faiss_ivf").
 * KOS_OK if it exists with the same config; ALREADY_EXISTS otherwise. */
KOS_EXPORT kos_code_t kos_memory_create_namespace(kos_memory_t* memory, const char* name,
                                                  const char* config_json, char** errptr);
/* Adds a record embedded from `text`; `id` NULL or "": a fresh ULID;
 * `metadata_json` NULL: {}; `importance` 0..1. Returns the id. */
KOS_EXPORT char* kos_memory_add(kos_memory_t* memory, const char* ns, const char* id,
                                const char* text, const char* metadata_json, double importance,
                                char** errptr);
/* The record as JSON {"id","text","metadata","importance","created",
 * "accessed","expires"}; NOT_FOUND if absent or expired. */
KOS_EXPORT char* kos_memory_get(kos_memory_t* memory, const char* ns, const char* id,
                                char** errptr);
KOS_EXPORT kos_code_t kos_memory_delete(kos_memory_t* memory, const char* ns, const char* id,
                                        char** errptr);
/* The `k` records nearest to `query_text` that match `filter_json` (NULL:
 * none; e.g. {"kind":"note","score":{"$gte":0.5}}). INVALID_ARGUMENT for a
 * malformed filter or one naming a field no record has. */
KOS_EXPORT kos_search_result_t* kos_memory_search(kos_memory_t* memory, const char* ns,
                                                  const char* query_text, size_t k,
                                                  const char* filter_json, char** errptr);
/* Search rescored by similarity, recency and importance. `options_json`
 * (NULL: defaults) may hold "w_similarity", "w_recency", "w_importance" (1),
 * "half_life_seconds" (86400), "candidate_multiplier" (4), "mmr" (false),
 * "mmr_lambda" (0.7), "touch" (true). */
KOS_EXPORT kos_search_result_t* kos_memory_recall(kos_memory_t* memory, const char* ns,
                                                  const char* query_text, size_t k,
                                                  const char* filter_json, const char* options_json,
                                                  char** errptr);
KOS_EXPORT size_t kos_search_result_count(const kos_search_result_t* result);
/* Hit `i` (< count), best first; NULL / 0 when out of range. */
KOS_EXPORT const char* kos_search_result_id(const kos_search_result_t* result, size_t i);
KOS_EXPORT const char* kos_search_result_text(const kos_search_result_t* result, size_t i);
KOS_EXPORT const char* kos_search_result_metadata(const kos_search_result_t* result, size_t i);
KOS_EXPORT double kos_search_result_score(const kos_search_result_t* result, size_t i);
KOS_EXPORT double kos_search_result_similarity(const kos_search_result_t* result, size_t i);
/* Every hit as a JSON array of {"id","text","metadata","importance",
 * "similarity","score"} (malloc'd; free with kos_free). */
KOS_EXPORT char* kos_search_result_json(const kos_search_result_t* result, char** errptr);
KOS_EXPORT void kos_search_result_destroy(kos_search_result_t* result);

/* ------------------------------------------------------------------------
 * Prompts: versioned Mustache templates (kos/prompt.h)
 * ------------------------------------------------------------------------ */

typedef struct kos_prompt_registry_t kos_prompt_registry_t;

KOS_EXPORT kos_prompt_registry_t* kos_prompt_registry_open(kos_store_t* store, char** errptr);
KOS_EXPORT void kos_prompt_registry_close(kos_prompt_registry_t* registry);
/* Saves a text template as the next version of `name` and points `label`
 * (NULL: none besides "latest") at it. Returns the version (0 on failure). */
KOS_EXPORT int64_t kos_prompt_save_text(kos_prompt_registry_t* registry, const char* name,
                                        const char* text, const char* label, char** errptr);
/* The general form: `content_json` is {"text": ...} or {"messages":
 * [{"role","content"}...]} plus optional "variables": [{"name","type",
 * "required","default","description"}]; `options_json` (NULL: {}) may hold
 * "author", "commit_message", "labels" (array) and "expected_latest_version". */
KOS_EXPORT int64_t kos_prompt_save(kos_prompt_registry_t* registry, const char* name,
                                   const char* content_json, const char* options_json,
                                   char** errptr);
/* Renders version `version` (> 0) or else the version `label` points at
 * (NULL: "production"; "latest" for the newest) with `variables_json` (a
 * JSON object; NULL: {}). Returns the text (a chat template: its messages as
 * a JSON array). INVALID_ARGUMENT for missing or mistyped variables. */
KOS_EXPORT char* kos_prompt_render(kos_prompt_registry_t* registry, const char* name,
                                   const char* label, int64_t version, const char* variables_json,
                                   const char* caller, char** errptr);
/* As kos_prompt_render, returning {"name","version","text"|"messages",
 * "template_hash","input_hash","output_hash","history_id"}. */
KOS_EXPORT char* kos_prompt_render_json(kos_prompt_registry_t* registry, const char* name,
                                        const char* label, int64_t version,
                                        const char* variables_json, const char* caller,
                                        char** errptr);

/* ------------------------------------------------------------------------
 * Orchestrator: signed tasks run by agent handlers (kos/orchestrator.h)
 * ------------------------------------------------------------------------ */

typedef struct kos_orchestrator_t kos_orchestrator_t;
typedef struct kos_orchestrator_options_t kos_orchestrator_options_t;
typedef struct kos_task_context_t kos_task_context_t;

/* An agent handler. `input_json` is the task's input object. Return the
 * task's output as JSON text allocated with malloc() (libkos frees it with
 * free()); or return NULL and set *errptr to a malloc'd message, optionally
 * starting with a code name ("INVALID_ARGUMENT: ...") that decides whether
 * the attempt is retried (default UNKNOWN). Runs on a worker thread; `state`
 * is what was passed to kos_orchestrator_register_handler. */
typedef char* (*kos_handler_fn)(void* state, kos_task_context_t* context, const char* input_json,
                                char** errptr);

/* The task being handled (valid only during the handler call). */
KOS_EXPORT const char* kos_task_context_task_id(const kos_task_context_t* context);
KOS_EXPORT const char* kos_task_context_agent(const kos_task_context_t* context);
KOS_EXPORT int kos_task_context_attempt(const kos_task_context_t* context);
/* Nonzero once the task was cancelled, timed out or the orchestrator stops. */
KOS_EXPORT int kos_task_context_cancelled(const kos_task_context_t* context);
/* Appends a line to the task log; `level` 0 debug, 1 info, 2 warning, 3 error. */
KOS_EXPORT void kos_task_context_log(kos_task_context_t* context, int level, const char* message);

/* Defaults: no agents, 4 workers, a 300 s attempt timeout, accepted nonces
 * in the orchestrator's store, no access controller (no permission checks). */
KOS_EXPORT kos_orchestrator_options_t* kos_orchestrator_options_create(void);
KOS_EXPORT void kos_orchestrator_options_destroy(kos_orchestrator_options_t* options);
/* An agent with a native handler and no permissions. */
KOS_EXPORT kos_code_t kos_orchestrator_options_add_agent(kos_orchestrator_options_t* options,
                                                         const char* name, char** errptr);
/* An agent from its profile JSON (the format of config/agents/<name>:<profile>.json). */
KOS_EXPORT kos_code_t kos_orchestrator_options_add_agent_json(kos_orchestrator_options_t* options,
                                                              const char* profile_json,
                                                              char** errptr);
/* Every agent of <agents_dir>/manifest.json. */
KOS_EXPORT kos_code_t kos_orchestrator_options_load_agents(kos_orchestrator_options_t* options,
                                                           const char* agents_dir, char** errptr);
KOS_EXPORT void kos_orchestrator_options_set_max_concurrent(kos_orchestrator_options_t* options,
                                                            int max_concurrent);
KOS_EXPORT void kos_orchestrator_options_set_default_timeout(kos_orchestrator_options_t* options,
                                                             int64_t milliseconds);
/* Agent permission checks (not owned; must outlive the orchestrator). */
KOS_EXPORT void kos_orchestrator_options_set_access_controller(kos_orchestrator_options_t* options,
                                                               const kos_access_controller_t* ac);

/* Loads durable state from `store`, trusts envelopes signed by keys in
 * `registry`, and starts the workers. */
KOS_EXPORT kos_orchestrator_t* kos_orchestrator_open(kos_store_t* store,
                                                     kos_key_registry_t* registry,
                                                     const kos_orchestrator_options_t* options,
                                                     char** errptr);
/* Cancels running handlers, waits for them and stops the workers. */
KOS_EXPORT void kos_orchestrator_close(kos_orchestrator_t* orchestrator);
/* Registers (or replaces) the handler of a configured agent. `destroy_state`
 * (may be NULL) is called with `state` once the handler is replaced or the
 * orchestrator closed. On failure it is not called. */
KOS_EXPORT kos_code_t kos_orchestrator_register_handler(kos_orchestrator_t* orchestrator,
                                                        const char* agent, kos_handler_fn handler,
                                                        void* state,
                                                        void (*destroy_state)(void* state),
                                                        char** errptr);
/* Verifies and queues a signed envelope; returns the task id.
 * UNAUTHENTICATED for a bad, expired or replayed envelope. */
KOS_EXPORT char* kos_orchestrator_submit(kos_orchestrator_t* orchestrator, const char* envelope,
                                         char** errptr);
/* Accepts a whole plan signed as ONE envelope for audience KOS_PLAN_AUDIENCE
 * with payload {"tasks":[{"agent":...,"id":...,"depends_on":[...],...}]}:
 * one signature check, all tasks or none. Returns the plan id (the
 * envelope's task id). UNAUTHENTICATED for a bad or replayed envelope. */
#define KOS_PLAN_AUDIENCE "kos.plan"
KOS_EXPORT char* kos_orchestrator_submit_signed_plan(kos_orchestrator_t* orchestrator,
                                                     const char* envelope, char** errptr);
/* The task as JSON {"id","agent","issuer","state","attempt","input","output",
 * "error","error_code","plan_id","depends_on","trace_id",...}. */
KOS_EXPORT char* kos_orchestrator_get(kos_orchestrator_t* orchestrator, const char* task_id,
                                      char** errptr);
/* Blocks until the task is finished or awaits review, at most `timeout_ms`
 * (DEADLINE_EXCEEDED); returns it as kos_orchestrator_get does. */
KOS_EXPORT char* kos_orchestrator_wait(kos_orchestrator_t* orchestrator, const char* task_id,
                                       int64_t timeout_ms, char** errptr);
/* Cancels a task and its dependants. FAILED_PRECONDITION if already finished. */
KOS_EXPORT kos_code_t kos_orchestrator_cancel(kos_orchestrator_t* orchestrator, const char* task_id,
                                              char** errptr);
/* Log lines with seq > after_seq as a JSON array of {"seq","time","level",
 * "message","fields"}. */
KOS_EXPORT char* kos_orchestrator_logs(kos_orchestrator_t* orchestrator, const char* task_id,
                                       uint64_t after_seq, char** errptr);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KOS_C_H_ */
