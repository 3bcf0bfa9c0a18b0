/* Exercises every function of the C API (include/kos/c.h), including its
 * error paths, from a program written and compiled as C99. The model is
 * LevelDB's db/c_test.c: plain asserts, one phase after another, exit status
 * 0 only when every check held. Run under AddressSanitizer it also proves
 * that every returned buffer is released with kos_free. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kos/c.h"

int kos_c89_header_check(void); /* c89_header_check.c */

static int failures = 0;
static const char* phase = "";
static const char kCard[] = "4111111111111111"; /* a test card number */

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "%s:%d [%s]: CHECK failed: %s\n", __FILE__, __LINE__, phase, #cond); \
      failures++;                                                                          \
    }                                                                                      \
  } while (0)

/* No error may be pending; clears it if one is. */
#define CHECK_NOERR(err)                                                                     \
  do {                                                                                       \
    if ((err) != NULL) {                                                                     \
      fprintf(stderr, "%s:%d [%s]: unexpected error: %s\n", __FILE__, __LINE__, phase, err); \
      failures++;                                                                            \
      kos_free(err);                                                                         \
      (err) = NULL;                                                                          \
    }                                                                                        \
  } while (0)

/* An error with `code` must be pending; frees it. */
#define CHECK_ERR(err, code)                                                          \
  do {                                                                                \
    if (kos_error_code(err) != (code)) {                                              \
      fprintf(stderr, "%s:%d [%s]: expected %s, got %s\n", __FILE__, __LINE__, phase, \
              kos_code_name(code), (err) != NULL ? (err) : "no error");               \
      failures++;                                                                     \
    }                                                                                 \
    kos_free(err);                                                                    \
    (err) = NULL;                                                                     \
  } while (0)

#define CHECK_CONTAINS(text, needle)                                                       \
  do {                                                                                     \
    const char* t_ = (text);                                                               \
    if (t_ == NULL || strstr(t_, (needle)) == NULL) {                                      \
      fprintf(stderr, "%s:%d [%s]: '%s' not in %s\n", __FILE__, __LINE__, phase, (needle), \
              t_ != NULL ? t_ : "(null)");                                                 \
      failures++;                                                                          \
    }                                                                                      \
  } while (0)

static void StartPhase(const char* name) {
  phase = name;
  fprintf(stderr, "=== %s\n", name);
}

/* A malloc'd copy of the string member `name` of a flat JSON object whose
 * value holds no escapes (tokens, ids), or NULL. */
static char* JsonString(const char* json, const char* name) {
  char pattern[128];
  const char* start;
  const char* end;
  char* out;
  if (json == NULL) return NULL;
  snprintf(pattern, sizeof pattern, "\"%s\":\"", name);
  start = strstr(json, pattern);
  if (start == NULL) return NULL;
  start += strlen(pattern);
  end = strchr(start, '"');
  if (end == NULL) return NULL;
  out = malloc((size_t)(end - start) + 1);
  memcpy(out, start, (size_t)(end - start));
  out[end - start] = '\0';
  return out;
}

static void SleepMs(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------ */

static void TestBasics(void) {
  char* err = NULL;
  StartPhase("basics");
  CHECK(kos_c89_header_check() == KOS_OK);
  CHECK(strlen(kos_version()) > 0);
  CHECK(strcmp(kos_code_name(KOS_OK), "OK") == 0);
  CHECK(strcmp(kos_code_name(KOS_NOT_FOUND), "NOT_FOUND") == 0);
  CHECK(strcmp(kos_code_name(KOS_UNAUTHENTICATED), "UNAUTHENTICATED") == 0);
  CHECK(strcmp(kos_code_name(99), "UNKNOWN") == 0);
  CHECK(strcmp(kos_code_name(-1), "UNKNOWN") == 0);
  CHECK(kos_error_code(NULL) == KOS_OK);
  CHECK(kos_error_code("NOT_FOUND: x") == KOS_NOT_FOUND);
  CHECK(kos_error_code("DATA_LOSS: y") == KOS_DATA_LOSS);
  CHECK(kos_error_code("no code here") == KOS_UNKNOWN);
  CHECK(kos_error_code("NOT_FOUNDX: x") == KOS_UNKNOWN);
  kos_free(NULL);
  kos_free_secret(NULL, 10);
  /* Every close/destroy accepts NULL. */
  kos_store_close(NULL);
  kos_scan_result_destroy(NULL);
  kos_vault_close(NULL);
  kos_vault_options_destroy(NULL);
  kos_key_registry_close(NULL);
  kos_task_signer_close(NULL);
  kos_task_verifier_close(NULL);
  kos_auth_options_destroy(NULL);
  kos_authenticator_close(NULL);
  kos_access_controller_close(NULL);
  kos_memory_close(NULL);
  kos_search_result_destroy(NULL);
  kos_prompt_registry_close(NULL);
  kos_orchestrator_options_destroy(NULL);
  kos_orchestrator_close(NULL);
  /* NULL handles are refused with INVALID_ARGUMENT, not a crash. */
  CHECK(kos_store_get(NULL, "c", "k", NULL, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_vault_put(NULL, "a", "kv/x", "v", 1, &err) == 0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_search(NULL, "ns", "q", 1, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_orchestrator_submit(NULL, "{}", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
}

static void TestStore(const char* dir) {
  char* err = NULL;
  char* value;
  size_t len = 0;
  uint64_t version = 0;
  kos_store_t* store;
  kos_scan_result_t* page;
  char uri[512];
  char key[16];
  char* token;
  int i, total;
  StartPhase("store");

  CHECK(kos_store_open("bogus:whatever", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_store_open(NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_store_open("bogus:", NULL) == NULL); /* errptr may be NULL */

  store = kos_store_open("memory:", &err);
  CHECK_NOERR(err);
  CHECK(store != NULL);
  CHECK(kos_store_put(store, "notes", "a", "one", 3, &err) == 1);
  CHECK_NOERR(err);
  CHECK(kos_store_put(store, "notes", "a", "two", 3, &err) == 2);
  CHECK_NOERR(err);
  value = kos_store_get(store, "notes", "a", &len, &version, &err);
  CHECK_NOERR(err);
  CHECK(value != NULL && len == 3 && memcmp(value, "two", 3) == 0 && value[3] == '\0');
  CHECK(version == 2);
  kos_free(value);

  /* Binary values keep their NUL bytes. */
  CHECK(kos_store_put(store, "notes", "bin", "x\0y", 3, &err) == 1);
  CHECK_NOERR(err);
  value = kos_store_get(store, "notes", "bin", &len, NULL, &err);
  CHECK(value != NULL && len == 3 && memcmp(value, "x\0y", 3) == 0);
  kos_free(value);
  CHECK(kos_store_put(store, "notes", "nullval", NULL, 5, &err) == 0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  /* Compare-and-set: a stale version changes nothing. */
  CHECK(kos_store_put_if(store, "notes", "a", "three", 5, 1, &err) == 0);
  CHECK_ERR(err, KOS_FAILED_PRECONDITION);
  value = kos_store_get(store, "notes", "a", &len, &version, &err);
  CHECK(value != NULL && len == 3 && memcmp(value, "two", 3) == 0 && version == 2);
  kos_free(value);
  CHECK(kos_store_put_if(store, "notes", "a", "three", 5, 2, &err) == 3);
  CHECK_NOERR(err);
  CHECK(kos_store_put_if(store, "notes", "fresh", "f", 1, 0, &err) == 1);
  CHECK_NOERR(err);
  CHECK(kos_store_put_if(store, "notes", "fresh", "f", 1, 0, &err) == 0);
  CHECK_ERR(err, KOS_FAILED_PRECONDITION);

  CHECK(kos_store_get(store, "notes", "missing", &len, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);
  CHECK(kos_store_put(store, ".bad collection", "k", "v", 1, &err) == 0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_store_delete(store, "notes", "a", &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_store_get(store, "notes", "a", &len, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);
  CHECK(kos_store_delete(store, "notes", "a", &err) == KOS_OK); /* idempotent */
  CHECK_NOERR(err);

  /* LevelDB semantics: a pending message is freed and replaced (ASan would
   * report the first one as leaked otherwise). */
  CHECK(kos_store_get(store, "notes", "missing", &len, NULL, &err) == NULL);
  CHECK(kos_store_open("bogus:", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  /* Scan pages through a prefix. */
  for (i = 0; i < 5; ++i) {
    snprintf(key, sizeof key, "item/%d", i);
    CHECK(kos_store_put(store, "scan", key, key, strlen(key), &err) == 1);
    CHECK_NOERR(err);
  }
  CHECK(kos_store_put(store, "scan", "other", "o", 1, &err) == 1);
  CHECK_NOERR(err);
  page = kos_store_scan(store, "scan", "item/", NULL, 2, &err);
  CHECK_NOERR(err);
  CHECK(kos_scan_result_count(page) == 2);
  CHECK(strcmp(kos_scan_result_key(page, 0), "item/0") == 0);
  value = (char*)kos_scan_result_value(page, 1, &len);
  CHECK(value != NULL && len == 6 && memcmp(value, "item/1", 6) == 0);
  CHECK(kos_scan_result_version(page, 1) == 1);
  CHECK(kos_scan_result_key(page, 2) == NULL);
  CHECK(kos_scan_result_value(page, 2, &len) == NULL);
  CHECK(kos_scan_result_version(page, 2) == 0);
  total = (int)kos_scan_result_count(page);
  while (strlen(kos_scan_result_next_page_token(page)) > 0) {
    token = malloc(strlen(kos_scan_result_next_page_token(page)) + 1);
    strcpy(token, kos_scan_result_next_page_token(page));
    kos_scan_result_destroy(page);
    page = kos_store_scan(store, "scan", "item/", token, 2, &err);
    free(token);
    CHECK_NOERR(err);
    if (page == NULL) break;
    total += (int)kos_scan_result_count(page);
  }
  CHECK(total == 5);
  kos_scan_result_destroy(page);
  CHECK(kos_store_scan(store, "scan", NULL, "not-a-token", 2, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_store_scan(store, "scan", NULL, NULL, 0, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  kos_store_close(store);

  /* SQLite: data survives closing and reopening. */
  snprintf(uri, sizeof uri, "sqlite:%s/kos.db", dir);
  store = kos_store_open(uri, &err);
  CHECK_NOERR(err);
  CHECK(kos_store_put(store, "durable", "k", "kept", 4, &err) == 1);
  CHECK_NOERR(err);
  kos_store_close(store);
  store = kos_store_open(uri, &err);
  CHECK_NOERR(err);
  value = kos_store_get(store, "durable", "k", &len, NULL, &err);
  CHECK_NOERR(err);
  CHECK(value != NULL && len == 4 && memcmp(value, "kept", 4) == 0);
  kos_free(value);
  kos_store_close(store);
}

static void TestCrypto(void) {
  char* err = NULL;
  unsigned char a[32], b[32], pk[32], pk2[32], seed[32], sig[64];
  unsigned char key[32], other_key[32];
  const char* msg = "launch at dawn";
  char* sealed;
  char* opened;
  char* text;
  size_t sealed_len = 0, len = 0;
  StartPhase("crypto");

  CHECK(kos_random_bytes(a, sizeof a, &err) == KOS_OK);
  CHECK(kos_random_bytes(b, sizeof b, &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(memcmp(a, b, sizeof a) != 0);
  CHECK(kos_random_bytes(NULL, 0, &err) == KOS_OK);
  CHECK(kos_random_bytes(NULL, 4, &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  /* A C++ exception inside libkos (std::string throws length_error for this
   * size before allocating anything) comes back as INTERNAL, not a crash. */
  CHECK(kos_random_bytes(a, (size_t)-1, &err) == KOS_INTERNAL);
  CHECK_CONTAINS(err, "kos_random_bytes: unexpected C++ exception");
  CHECK_ERR(err, KOS_INTERNAL);

  CHECK(kos_ed25519_generate(pk, seed, &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_ed25519_public_key(seed, sizeof seed, pk2, &err) == KOS_OK);
  CHECK(memcmp(pk, pk2, sizeof pk) == 0);
  CHECK(kos_ed25519_public_key(seed, 31, pk2, &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_ed25519_sign(seed, sizeof seed, msg, strlen(msg), sig, &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_ed25519_verify(pk, sizeof pk, msg, strlen(msg), sig, sizeof sig, &err) == KOS_OK);
  CHECK_NOERR(err);
  /* A changed message, a changed signature, the wrong key. */
  CHECK(kos_ed25519_verify(pk, sizeof pk, "launch at dusk", 14, sig, sizeof sig, &err) ==
        KOS_UNAUTHENTICATED);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  sig[5] ^= 1;
  CHECK(kos_ed25519_verify(pk, sizeof pk, msg, strlen(msg), sig, sizeof sig, &err) ==
        KOS_UNAUTHENTICATED);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  sig[5] ^= 1;
  CHECK(kos_ed25519_verify(a, sizeof a, msg, strlen(msg), sig, sizeof sig, &err) != KOS_OK);
  CHECK(kos_error_code(err) == KOS_UNAUTHENTICATED || kos_error_code(err) == KOS_INVALID_ARGUMENT);
  kos_free(err);
  err = NULL;
  CHECK(kos_ed25519_verify(pk, 31, msg, strlen(msg), sig, sizeof sig, &err) ==
        KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_ed25519_verify(pk, sizeof pk, msg, strlen(msg), sig, 63, &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_ed25519_sign(seed, 16, msg, strlen(msg), sig, &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  /* Sealed AEAD. */
  kos_random_bytes(key, sizeof key, NULL);
  kos_random_bytes(other_key, sizeof other_key, NULL);
  sealed = kos_aead_seal(key, sizeof key, 7, "secret", 6, "ctx", 3, &sealed_len, &err);
  CHECK_NOERR(err);
  CHECK(sealed != NULL && sealed_len > 6);
  opened = kos_aead_open(key, sizeof key, 7, sealed, sealed_len, "ctx", 3, &len, &err);
  CHECK_NOERR(err);
  CHECK(opened != NULL && len == 6 && memcmp(opened, "secret", 6) == 0);
  kos_free_secret(opened, len);
  CHECK(kos_aead_open(key, sizeof key, 7, sealed, sealed_len, "xtc", 3, &len, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  CHECK(kos_aead_open(other_key, sizeof other_key, 7, sealed, sealed_len, "ctx", 3, &len, &err) ==
        NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  CHECK(kos_aead_open(key, sizeof key, 8, sealed, sealed_len, "ctx", 3, &len, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);
  sealed[sealed_len - 1] ^= 1;
  CHECK(kos_aead_open(key, sizeof key, 7, sealed, sealed_len, "ctx", 3, &len, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  CHECK(kos_aead_open(key, sizeof key, 7, sealed, 5, "ctx", 3, &len, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  kos_free(sealed);
  CHECK(kos_aead_seal(key, 16, 1, "x", 1, NULL, 0, &sealed_len, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  /* base64url. */
  text = kos_base64url_encode((const unsigned char*)"\xfb\xff", 2, &err);
  CHECK_NOERR(err);
  CHECK(text != NULL && strcmp(text, "-_8") == 0);
  opened = kos_base64url_decode(text, &len, &err);
  CHECK_NOERR(err);
  CHECK(opened != NULL && len == 2 && memcmp(opened, "\xfb\xff", 2) == 0);
  kos_free(opened);
  kos_free(text);
  CHECK(kos_base64url_decode("ab==", &len, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_base64url_decode(NULL, &len, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
}

static void TestVault(void) {
  char* err = NULL;
  unsigned char master[32], wrong[32];
  kos_store_t* store;
  kos_vault_options_t* options;
  kos_vault_t* vault;
  kos_vault_t* reopened;
  kos_scan_result_t* audit;
  char* value;
  char* list;
  char* ct;
  char* ct2;
  size_t len = 0, rewrapped = 0;
  uint64_t version = 0;
  StartPhase("vault");

  unsetenv("KOS_VAULT_MASTER_KEY");
  store = kos_store_open("memory:", &err);
  CHECK_NOERR(err);
  /* No master key anywhere. */
  CHECK(kos_vault_open(store, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_FAILED_PRECONDITION);
  CHECK(kos_vault_open(NULL, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  options = kos_vault_options_create();
  CHECK(kos_vault_options_set_master_key(options, master, 31, &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  kos_random_bytes(master, sizeof master, NULL);
  kos_random_bytes(wrong, sizeof wrong, NULL);
  CHECK(kos_vault_options_set_master_key(options, master, sizeof master, &err) == KOS_OK);
  kos_vault_options_set_master_key_file(options, NULL);
  kos_vault_options_set_development_mode(options, 0);
  kos_vault_options_set_audit_store(options, NULL);
  kos_vault_options_set_max_versions(options, 5);
  vault = kos_vault_open(store, options, &err);
  CHECK_NOERR(err);
  CHECK(vault != NULL);

  CHECK(kos_vault_put(vault, "alice", "kv/team/openai", "sk-1", 4, &err) == 1);
  CHECK(kos_vault_put(vault, "alice", "kv/team/openai", "sk-2", 4, &err) == 2);
  CHECK_NOERR(err);
  value = kos_vault_get(vault, "alice", "kv/team/openai", 0, &len, &version, &err);
  CHECK_NOERR(err);
  CHECK(value != NULL && len == 4 && memcmp(value, "sk-2", 4) == 0 && version == 2);
  kos_free_secret(value, len);
  value = kos_vault_get(vault, "alice", "kv/team/openai", 1, &len, NULL, &err);
  CHECK(value != NULL && len == 4 && memcmp(value, "sk-1", 4) == 0);
  kos_free_secret(value, len);
  CHECK(kos_vault_put_cas(vault, "alice", "kv/team/openai", "sk-3", 4, 1, &err) == 0);
  CHECK_ERR(err, KOS_FAILED_PRECONDITION);
  CHECK(kos_vault_put_cas(vault, "alice", "kv/team/openai", "sk-3", 4, 2, &err) == 3);
  CHECK_NOERR(err);
  CHECK(kos_vault_get(vault, "alice", "kv/none", 0, &len, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);
  CHECK(kos_vault_put(vault, "alice", "../escape", "x", 1, &err) == 0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  list = kos_vault_list(vault, "alice", "kv/", &err);
  CHECK_NOERR(err);
  CHECK(list != NULL && strcmp(list, "[\"kv/team/openai\"]") == 0);
  kos_free(list);

  /* Keyring rotation; old secrets stay readable and get rewrapped. */
  CHECK(kos_vault_rotate(vault, "admin", &err) == 2);
  CHECK_NOERR(err);
  value = kos_vault_get(vault, "alice", "kv/team/openai", 0, &len, NULL, &err);
  CHECK(value != NULL && len == 4 && memcmp(value, "sk-3", 4) == 0);
  kos_free_secret(value, len);
  CHECK(kos_vault_rewrap(vault, "admin", &rewrapped, &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(rewrapped == 3);
  CHECK(kos_vault_rewrap(vault, "admin", &rewrapped, &err) == KOS_OK);
  CHECK(rewrapped == 0);

  /* Soft delete. */
  CHECK(kos_vault_delete(vault, "alice", "kv/team/openai", &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_vault_get(vault, "alice", "kv/team/openai", 0, &len, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);

  /* Transit. The plaintext is a whole test card number: a short digit string
     such as "4111" also occurs by chance in the audit records' microsecond
     timestamps, which made the "never audited" check below flaky. */
  CHECK(kos_vault_transit_create_key(vault, "svc", "payments", &err) == KOS_OK);
  CHECK_NOERR(err);
  ct = kos_vault_transit_encrypt(vault, "svc", "payments", kCard, 16, "order-1", &err);
  CHECK_NOERR(err);
  CHECK(ct != NULL && strncmp(ct, "kos:v1:", 7) == 0);
  value = kos_vault_transit_decrypt(vault, "svc", "payments", ct, "order-1", &len, &err);
  CHECK_NOERR(err);
  CHECK(value != NULL && len == 16 && memcmp(value, kCard, 16) == 0);
  kos_free_secret(value, len);
  CHECK(kos_vault_transit_decrypt(vault, "svc", "payments", ct, "order-2", &len, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  CHECK(kos_vault_transit_decrypt(vault, "svc", "payments", "garbage", NULL, &len, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_vault_transit_rotate_key(vault, "svc", "payments", &err) == 2);
  CHECK_NOERR(err);
  ct2 = kos_vault_transit_encrypt(vault, "svc", "payments", kCard, 16, NULL, &err);
  CHECK(ct2 != NULL && strncmp(ct2, "kos:v2:", 7) == 0);
  kos_free(ct2);
  value = kos_vault_transit_decrypt(vault, "svc", "payments", ct, "order-1", &len, &err);
  CHECK(value != NULL && len == 16);
  kos_free_secret(value, len);
  ct[strlen(ct) - 2] = ct[strlen(ct) - 2] == 'A' ? 'B' : 'A';
  CHECK(kos_vault_transit_decrypt(vault, "svc", "payments", ct, "order-1", &len, &err) == NULL);
  CHECK(kos_error_code(err) == KOS_UNAUTHENTICATED || kos_error_code(err) == KOS_INVALID_ARGUMENT);
  kos_free(err);
  err = NULL;
  kos_free(ct);
  CHECK(kos_vault_transit_encrypt(vault, "svc", "nokey", "x", 1, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);

  /* Every access was audited in the store's "audit" collection, values never. */
  audit = kos_store_scan(store, "audit", NULL, NULL, 1000, &err);
  CHECK_NOERR(err);
  CHECK(kos_scan_result_count(audit) > 10);
  {
    size_t i, n = kos_scan_result_count(audit);
    for (i = 0; i < n; ++i) {
      const char* v = kos_scan_result_value(audit, i, &len);
      CHECK(strstr(v, "sk-2") == NULL && strstr(v, kCard) == NULL);
    }
  }
  kos_scan_result_destroy(audit);
  kos_vault_close(vault);

  /* The wrong master key does not open the stored keyring. */
  CHECK(kos_vault_options_set_master_key(options, wrong, sizeof wrong, &err) == KOS_OK);
  reopened = kos_vault_open(store, options, &err);
  CHECK(reopened == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  kos_vault_options_destroy(options);
  kos_store_close(store);
}

static void TestSignedTasks(void) {
  char* err = NULL;
  unsigned char pk[32], seed[32], rogue_pk[32], rogue_seed[32];
  kos_store_t* store;
  kos_key_registry_t* registry;
  kos_task_signer_t* signer;
  kos_task_signer_t* rogue;
  kos_task_verifier_t* verifier;
  char* envelope;
  char* task;
  char* p;
  StartPhase("signed tasks");

  kos_ed25519_generate(pk, seed, NULL);
  kos_ed25519_generate(rogue_pk, rogue_seed, NULL);
  store = kos_store_open("memory:", &err);
  registry = kos_key_registry_open(store, &err);
  CHECK_NOERR(err);
  CHECK(kos_key_registry_add(registry, "core-1", "kCore", pk, sizeof pk, &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_key_registry_add(registry, "core-1", "kCore", pk, sizeof pk, &err) ==
        KOS_ALREADY_EXISTS);
  CHECK_ERR(err, KOS_ALREADY_EXISTS);
  CHECK(kos_key_registry_add(registry, "short", "kCore", pk, 16, &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_key_registry_revoke(registry, "nobody", &err) == KOS_NOT_FOUND);
  CHECK_ERR(err, KOS_NOT_FOUND);

  CHECK(kos_task_signer_open("kCore", "core-1", seed, 16, 0, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_task_signer_open("kCore", "core-1", seed, sizeof seed, -5, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  signer = kos_task_signer_open("kCore", "core-1", seed, sizeof seed, 60, &err);
  CHECK_NOERR(err);
  verifier = kos_task_verifier_open(registry, store, "kExecutor", &err);
  CHECK_NOERR(err);
  CHECK(kos_task_verifier_open(registry, NULL, "kExecutor", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  envelope =
      kos_task_signer_sign(signer, "kExecutor", "{\"input\":{\"q\":\"hello\"}}", "task-1", &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(envelope, "\"tid\":\"task-1\"");
  CHECK(kos_task_signer_sign(signer, "kExecutor", "{not json", NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_task_signer_sign(signer, "kExecutor", "[1,2]", NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_task_signer_sign(signer, "", NULL, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  /* A tampered copy is refused and does not consume the nonce. */
  {
    char* tampered = malloc(strlen(envelope) + 1);
    strcpy(tampered, envelope);
    p = strstr(tampered, "hello");
    CHECK(p != NULL);
    if (p != NULL) p[0] = 'j';
    CHECK(kos_task_verifier_verify(verifier, tampered, &err) == NULL);
    CHECK_ERR(err, KOS_UNAUTHENTICATED);
    free(tampered);
  }
  task = kos_task_verifier_verify(verifier, envelope, &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(task, "\"tid\":\"task-1\"");
  CHECK_CONTAINS(task, "\"iss\":\"kCore\"");
  CHECK_CONTAINS(task, "\"payload\":{\"input\":{\"q\":\"hello\"}}");
  kos_free(task);
  /* Replay. */
  CHECK(kos_task_verifier_verify(verifier, envelope, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  kos_free(envelope);
  CHECK(kos_task_verifier_verify(verifier, "not json", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  /* Wrong audience. */
  envelope = kos_task_signer_sign(signer, "kPlanner", NULL, NULL, &err);
  CHECK(kos_task_verifier_verify(verifier, envelope, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  kos_free(envelope);

  /* A key the registry does not hold under that kid. */
  rogue = kos_task_signer_open("kCore", "core-1", rogue_seed, sizeof rogue_seed, 0, &err);
  envelope = kos_task_signer_sign(rogue, "kExecutor", NULL, NULL, &err);
  CHECK(kos_task_verifier_verify(verifier, envelope, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  kos_free(envelope);
  kos_task_signer_close(rogue);

  /* Revocation takes effect at once. */
  envelope = kos_task_signer_sign(signer, "kExecutor", NULL, NULL, &err);
  CHECK(kos_key_registry_revoke(registry, "core-1", &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_task_verifier_verify(verifier, envelope, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  kos_free(envelope);

  kos_task_verifier_close(verifier);
  kos_task_signer_close(signer);
  kos_key_registry_close(registry);
  kos_store_close(store);
}

static void TestAuth(const char* dir) {
  char* err = NULL;
  unsigned char kek[32];
  kos_store_t* store;
  kos_auth_options_t* options;
  kos_authenticator_t* auth;
  kos_access_controller_t* ac;
  char* id;
  char* tokens;
  char* tokens2;
  char* access;
  char* refresh;
  char* principal;
  char* decision;
  char path[512];
  FILE* f;
  StartPhase("auth");

  store = kos_store_open("memory:", &err);
  options = kos_auth_options_create();
  /* Signing keys must be protected by something. */
  CHECK(kos_authenticator_open(store, options, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_auth_options_set_key_encryption_key(options, kek, 8, &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  kos_random_bytes(kek, sizeof kek, NULL);
  CHECK(kos_auth_options_set_key_encryption_key(options, kek, sizeof kek, &err) == KOS_OK);
  kos_auth_options_set_issuer(options, "https://kos.test");
  kos_auth_options_set_audience(options, "kos-c");
  kos_auth_options_set_token_lifetime(options, 600);
  kos_auth_options_set_session_timeout(options, 1200);
  kos_auth_options_set_ephemeral_uri(options, "bogus://");
  kos_auth_options_set_fast_password_hashing(options, 1);
  kos_auth_options_set_vault(options, NULL);
  CHECK(kos_authenticator_open(store, options, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  kos_auth_options_set_ephemeral_uri(options, "memory:");
  auth = kos_authenticator_open(store, options, &err);
  CHECK_NOERR(err);
  CHECK(auth != NULL);
  kos_auth_options_destroy(options);

  id = kos_auth_create_user(auth, "alice", "correct horse", "alice@example.com", "[\"admin\"]",
                            &err);
  CHECK_NOERR(err);
  CHECK(id != NULL && strlen(id) == 26);
  CHECK(kos_auth_create_user(auth, "ALICE", "correct horse", NULL, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_ALREADY_EXISTS);
  CHECK(kos_auth_create_user(auth, "bob", "short", NULL, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_auth_create_user(auth, "bob", "long enough", NULL, "[1]", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_auth_create_user(auth, "bob", "long enough", NULL, "{", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  CHECK(kos_auth_login(auth, "alice", "wrong horse", "10.0.0.1", &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  CHECK(kos_auth_login(auth, "nobody", "correct horse", NULL, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  tokens = kos_auth_login(auth, "alice", "correct horse", "10.0.0.1", &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(tokens, "\"token_type\":\"Bearer\"");
  CHECK_CONTAINS(tokens, "\"expires_in\":600");
  access = JsonString(tokens, "access_token");
  refresh = JsonString(tokens, "refresh_token");
  CHECK(access != NULL && refresh != NULL);

  principal = kos_auth_validate(auth, access, &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(principal, "\"username\":\"alice\"");
  CHECK_CONTAINS(principal, id);
  CHECK_CONTAINS(principal, "\"roles\":[\"admin\"]");
  kos_free(principal);
  CHECK(kos_auth_validate(auth, "not.a.token", &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);

  /* Refresh rotates; the old refresh token is then reuse and is refused. */
  tokens2 = kos_auth_refresh(auth, refresh, NULL, &err);
  CHECK_NOERR(err);
  CHECK(tokens2 != NULL);
  CHECK(kos_auth_refresh(auth, refresh, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  kos_free(tokens2);

  /* Reuse detection ended the session; log in again and log out. */
  free(access);
  free(refresh);
  kos_free(tokens);
  tokens = kos_auth_login(auth, "alice", "correct horse", NULL, &err);
  CHECK_NOERR(err);
  access = JsonString(tokens, "access_token");
  CHECK(kos_auth_logout(auth, access, &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_auth_validate(auth, access, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  CHECK(kos_auth_logout(auth, "garbage", &err) == KOS_UNAUTHENTICATED);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  free(access);
  kos_free(tokens);
  kos_free(id);
  kos_authenticator_close(auth);

  /* RBAC. */
  CHECK(kos_access_controller_open("{\"roles\":{\"r\":{\"allow\":[\"memory::read\"]}}}", &err) ==
        NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  ac = kos_access_controller_open(NULL, &err);
  CHECK_NOERR(err);
  CHECK(kos_access_controller_check(ac, "user:alice", "memory:ns/a", "read", &err) ==
        KOS_PERMISSION_DENIED);
  CHECK_ERR(err, KOS_PERMISSION_DENIED);
  CHECK(kos_access_controller_load_json(ac,
                                        "{\"roles\":{\"reader\":{\"allow\":[\"memory:ns/**:read\"],"
                                        "\"deny\":[\"memory:ns/secret/**:*\"]}},"
                                        "\"bindings\":{\"user:alice\":[\"reader\"]}}",
                                        &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_access_controller_check(ac, "user:alice", "memory:ns/team/notes", "read", &err) ==
        KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_access_controller_check(ac, "user:alice", "memory:ns/team/notes", "write", &err) ==
        KOS_PERMISSION_DENIED);
  CHECK_ERR(err, KOS_PERMISSION_DENIED);
  CHECK(kos_access_controller_check(ac, "user:alice", "memory:ns/secret/x", "read", &err) ==
        KOS_PERMISSION_DENIED);
  CHECK_ERR(err, KOS_PERMISSION_DENIED);
  CHECK(kos_access_controller_check(ac, "alice", "memory:ns/a", "read", &err) ==
        KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  decision = kos_access_controller_explain(ac, "user:alice", "memory:ns/secret/x", "read", &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(decision, "\"allowed\":false");
  CHECK_CONTAINS(decision, "\"effect\":\"deny\"");
  CHECK_CONTAINS(decision, "\"rule\":\"memory:ns/secret/**:*\"");
  kos_free(decision);
  /* A bad reload keeps the current policy. */
  CHECK(kos_access_controller_load_json(ac, "[]", &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_access_controller_check(ac, "user:alice", "memory:ns/team/notes", "read", &err) ==
        KOS_OK);
  snprintf(path, sizeof path, "%s/missing-policy.json", dir);
  CHECK(kos_access_controller_load_file(ac, path, &err) == KOS_NOT_FOUND);
  CHECK_ERR(err, KOS_NOT_FOUND);
  snprintf(path, sizeof path, "%s/policy.json", dir);
  f = fopen(path, "w");
  CHECK(f != NULL);
  if (f != NULL) {
    fputs(
        "{\"roles\":{\"w\":{\"allow\":[\"memory:ns/**:write\"]}},"
        "\"bindings\":{\"user:alice\":[\"w\"]}}",
        f);
    fclose(f);
  }
  CHECK(kos_access_controller_load_file(ac, path, &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_access_controller_check(ac, "user:alice", "memory:ns/team/notes", "write", &err) ==
        KOS_OK);
  CHECK_NOERR(err);
  kos_access_controller_close(ac);
  kos_store_close(store);
}

static void TestMemory(void) {
  char* err = NULL;
  kos_store_t* store;
  kos_memory_t* memory;
  kos_search_result_t* result;
  char* id;
  char* json;
  size_t i;
  StartPhase("memory");

  store = kos_store_open("memory:", &err);
  CHECK(kos_memory_open(store, 3, &err) == NULL); /* dimension below 8 */
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  memory = kos_memory_open(store, 0, &err);
  CHECK_NOERR(err);
  CHECK(kos_memory_create_namespace(memory, "user/alice", NULL, &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_memory_create_namespace(memory, "user/alice", NULL, &err) == KOS_OK);
  CHECK(kos_memory_create_namespace(memory, "user/alice", "{\"metric\":\"l2\"}", &err) ==
        KOS_ALREADY_EXISTS);
  CHECK_ERR(err, KOS_ALREADY_EXISTS);
  CHECK(kos_memory_create_namespace(memory, "../up", NULL, &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_create_namespace(memory, "x", "{\"colour\":1}", &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_create_namespace(memory, "x", "{\"metric\":\"manhattan\"}", &err) ==
        KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_create_namespace(memory, "user/bob",
                                    "{\"metric\":\"cosine\",\"index\":\"faiss_flat\"}",
                                    &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_memory_create_namespace(
            memory, "user/ivf",
            "{\"index\":\"faiss_ivf\",\"nlist\":4,\"nprobe\":2,\"ivf_train_size\":64}",
            &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_memory_create_namespace(memory, "user/ivf2", "{\"index\":\"faiss_ivf\",\"nprobe\":-1}",
                                    &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  id = kos_memory_add(memory, "user/alice", "n1", "the cat sat on the mat",
                      "{\"kind\":\"note\",\"score\":1}", 0.2, &err);
  CHECK_NOERR(err);
  CHECK(id != NULL && strcmp(id, "n1") == 0);
  kos_free(id);
  id = kos_memory_add(memory, "user/alice", "t1", "buy milk and bread",
                      "{\"kind\":\"todo\",\"score\":5}", 0.9, &err);
  kos_free(id);
  id = kos_memory_add(memory, "user/alice", NULL, "the dog chased the cat",
                      "{\"kind\":\"note\",\"score\":3}", 0.5, &err);
  CHECK_NOERR(err);
  CHECK(id != NULL && strlen(id) == 26);
  kos_free(id);
  CHECK(kos_memory_add(memory, "user/alice", "n1", "dup", NULL, 0, &err) == NULL);
  CHECK_ERR(err, KOS_ALREADY_EXISTS);
  CHECK(kos_memory_add(memory, "user/alice", NULL, "x", "[1]", 0, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_add(memory, "user/alice", NULL, "x", NULL, 1.5, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_add(memory, "user/nobody", NULL, "x", NULL, 0, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);

  result = kos_memory_search(memory, "user/alice", "cat on a mat", 2, NULL, &err);
  CHECK_NOERR(err);
  CHECK(kos_search_result_count(result) == 2);
  CHECK(strcmp(kos_search_result_id(result, 0), "n1") == 0);
  CHECK(strcmp(kos_search_result_text(result, 0), "the cat sat on the mat") == 0);
  CHECK_CONTAINS(kos_search_result_metadata(result, 0), "\"kind\":\"note\"");
  CHECK(kos_search_result_similarity(result, 0) >= kos_search_result_similarity(result, 1));
  CHECK(kos_search_result_score(result, 0) == kos_search_result_similarity(result, 0));
  CHECK(kos_search_result_id(result, 2) == NULL);
  CHECK(kos_search_result_text(result, 2) == NULL);
  CHECK(kos_search_result_metadata(result, 2) == NULL);
  CHECK(kos_search_result_score(result, 2) == 0);
  json = kos_search_result_json(result, &err);
  CHECK_NOERR(err);
  CHECK(json != NULL && json[0] == '[');
  CHECK_CONTAINS(json, "\"id\":\"n1\"");
  kos_free(json);
  kos_search_result_destroy(result);

  /* Filters: equality and ranges, evaluated in the index walk. */
  result = kos_memory_search(memory, "user/alice", "cat", 10, "{\"kind\":\"todo\"}", &err);
  CHECK_NOERR(err);
  CHECK(kos_search_result_count(result) == 1);
  CHECK(kos_search_result_count(result) == 1 && strcmp(kos_search_result_id(result, 0), "t1") == 0);
  kos_search_result_destroy(result);
  result = kos_memory_search(memory, "user/alice", "cat", 10,
                             "{\"kind\":\"note\",\"score\":{\"$gte\":2}}", &err);
  CHECK_NOERR(err);
  CHECK(kos_search_result_count(result) == 1);
  for (i = 0; i < kos_search_result_count(result); ++i) {
    CHECK_CONTAINS(kos_search_result_metadata(result, i), "\"score\":3");
  }
  kos_search_result_destroy(result);
  CHECK(kos_memory_search(memory, "user/alice", "cat", 10, "{\"kind\":", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_search(memory, "user/alice", "cat", 10, "{\"kidn\":\"note\"}", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_search(memory, "user/alice", "cat", 10, "{\"score\":{\"$regex\":1}}", &err) ==
        NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_search(memory, "user/nobody", "cat", 10, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);
  CHECK(kos_memory_search(memory, "user/alice", "cat", 0, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  /* Recall: importance can outrank similarity. */
  result = kos_memory_recall(memory, "user/alice", "cat", 3, NULL,
                             "{\"w_similarity\":0,\"w_recency\":0,\"w_importance\":1}", &err);
  CHECK_NOERR(err);
  CHECK(kos_search_result_count(result) == 3);
  CHECK(kos_search_result_count(result) > 0 && strcmp(kos_search_result_id(result, 0), "t1") == 0);
  kos_search_result_destroy(result);
  result = kos_memory_recall(memory, "user/alice", "cat", 3, "{\"kind\":\"note\"}", NULL, &err);
  CHECK_NOERR(err);
  CHECK(kos_search_result_count(result) == 2);
  kos_search_result_destroy(result);
  CHECK(kos_memory_recall(memory, "user/alice", "cat", 3, NULL, "{\"w_bogus\":1}", &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_memory_recall(memory, "user/alice", "cat", 3, NULL, "{\"half_life_seconds\":0}",
                          &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  json = kos_memory_get(memory, "user/alice", "t1", &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(json, "\"text\":\"buy milk and bread\"");
  CHECK_CONTAINS(json, "\"importance\":0.9");
  kos_free(json);
  CHECK(kos_memory_delete(memory, "user/alice", "t1", &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_memory_get(memory, "user/alice", "t1", &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);
  CHECK(kos_memory_delete(memory, "user/alice", "t1", &err) == KOS_NOT_FOUND);
  CHECK_ERR(err, KOS_NOT_FOUND);
  kos_memory_close(memory);

  /* Reopening rebuilds the index from the store. */
  memory = kos_memory_open(store, 0, &err);
  CHECK_NOERR(err);
  result = kos_memory_search(memory, "user/alice", "cat on a mat", 5, NULL, &err);
  CHECK_NOERR(err);
  CHECK(kos_search_result_count(result) == 2);
  kos_search_result_destroy(result);
  kos_memory_close(memory);
  kos_store_close(store);
}

static void TestPrompts(void) {
  char* err = NULL;
  kos_store_t* store;
  kos_prompt_registry_t* prompts;
  char* out;
  StartPhase("prompts");

  store = kos_store_open("memory:", &err);
  prompts = kos_prompt_registry_open(store, &err);
  CHECK_NOERR(err);
  CHECK(kos_prompt_save_text(prompts, "greet", "Hello {{name}}!", "production", &err) == 1);
  CHECK_NOERR(err);
  CHECK(kos_prompt_save_text(prompts, "greet", "Hi {{name}}.", NULL, &err) == 2);
  CHECK_NOERR(err);
  out = kos_prompt_render(prompts, "greet", NULL, 0, "{\"name\":\"Ada\"}", "c-test", &err);
  CHECK_NOERR(err);
  CHECK(out != NULL && strcmp(out, "Hello Ada!") == 0);
  kos_free(out);
  out = kos_prompt_render(prompts, "greet", "latest", 0, "{\"name\":\"Ada\"}", "c-test", &err);
  CHECK(out != NULL && strcmp(out, "Hi Ada.") == 0);
  kos_free(out);
  out = kos_prompt_render(prompts, "greet", "production", 2, "{\"name\":\"Ada\"}", NULL, &err);
  CHECK(out != NULL && strcmp(out, "Hi Ada.") == 0);
  kos_free(out);
  /* Strict: a missing variable is an error naming it. */
  CHECK(kos_prompt_render(prompts, "greet", NULL, 0, NULL, "c-test", &err) == NULL);
  CHECK_CONTAINS(err, "name");
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_prompt_render(prompts, "nope", NULL, 0, NULL, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);
  CHECK(kos_prompt_render(prompts, "greet", NULL, 9, "{\"name\":\"x\"}", NULL, &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);
  CHECK(kos_prompt_render(prompts, "greet", NULL, -1, NULL, NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_prompt_render(prompts, "greet", NULL, 0, "[]", NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_prompt_save_text(prompts, "bad", "{{#open}}", NULL, &err) == 0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);

  /* Chat templates with declared, typed variables. */
  CHECK(kos_prompt_save(prompts, "chat",
                        "{\"messages\":[{\"role\":\"system\",\"content\":\"You help {{user}}.\"},"
                        "{\"role\":\"user\",\"content\":\"{{question}}\"}],"
                        "\"variables\":[{\"name\":\"user\",\"type\":\"string\"},"
                        "{\"name\":\"question\",\"type\":\"string\",\"required\":false,"
                        "\"default\":\"Hello?\"}]}",
                        "{\"labels\":[\"production\"],\"author\":\"c\"}", &err) == 1);
  CHECK_NOERR(err);
  out = kos_prompt_render(prompts, "chat", NULL, 0, "{\"user\":\"Ada\"}", NULL, &err);
  CHECK_NOERR(err);
  CHECK(out != NULL && strcmp(out,
                              "[{\"content\":\"You help Ada.\",\"role\":\"system\"},"
                              "{\"content\":\"Hello?\",\"role\":\"user\"}]") == 0);
  kos_free(out);
  out = kos_prompt_render_json(prompts, "chat", NULL, 0, "{\"user\":\"Ada\"}", "c", &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(out, "\"template_hash\":\"");
  CHECK_CONTAINS(out, "\"messages\":[");
  CHECK_CONTAINS(out, "\"version\":1");
  kos_free(out);
  out = kos_prompt_render_json(prompts, "greet", NULL, 0, "{\"name\":\"Ada\"}", "c", &err);
  CHECK_CONTAINS(out, "\"text\":\"Hello Ada!\"");
  kos_free(out);
  CHECK(kos_prompt_render(prompts, "chat", NULL, 0, "{\"user\":5}", NULL, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_prompt_render(prompts, "chat", NULL, 0, "{\"user\":\"a\",\"extra\":1}", NULL, &err) ==
        NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_prompt_save(prompts, "chat", "{\"text\":\"x\"}", "{\"expected_latest_version\":0}",
                        &err) == 0);
  CHECK_ERR(err, KOS_FAILED_PRECONDITION);
  CHECK(kos_prompt_save(prompts, "c2", "{\"txt\":\"x\"}", NULL, &err) == 0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_prompt_save(prompts, "c2",
                        "{\"text\":\"x\",\"variables\":[{\"name\":\"v\","
                        "\"type\":\"colour\"}]}",
                        NULL, &err) == 0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_prompt_save(prompts, "c2", NULL, NULL, &err) == 0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_prompt_save(prompts, "c2", "{\"text\":\"x\"}", "{\"labels\":\"production\"}", &err) ==
        0);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  kos_prompt_registry_close(prompts);
  kos_store_close(store);
}

/* Handler state: counts calls; `destroyed` is set by its destructor. */
typedef struct {
  int calls;
  int destroyed;
} HandlerState;

static void DestroyState(void* state) { ((HandlerState*)state)->destroyed = 1; }

static char* CopyC(const char* s) {
  char* out = malloc(strlen(s) + 1);
  strcpy(out, s);
  return out;
}

/* Echoes the input; fails when it holds "fail", returns non-JSON on "garbage". */
static char* EchoHandler(void* state, kos_task_context_t* context, const char* input_json,
                         char** errptr) {
  char* out;
  ((HandlerState*)state)->calls++;
  kos_task_context_log(context, 1, "echo handler running");
  if (kos_task_context_attempt(context) < 1 || strlen(kos_task_context_task_id(context)) == 0 ||
      strcmp(kos_task_context_agent(context), "kExecutor") != 0) {
    *errptr = CopyC("INTERNAL: bad context");
    return NULL;
  }
  if (strstr(input_json, "\"fail\"") != NULL) {
    *errptr = CopyC("INVALID_ARGUMENT: the input asked to fail");
    return NULL;
  }
  if (strstr(input_json, "\"garbage\"") != NULL) return CopyC("{not json");
  if (strstr(input_json, "\"plain\"") != NULL) {
    *errptr = CopyC("just a message");
    return NULL;
  }
  out = malloc(strlen(input_json) + 16);
  sprintf(out, "{\"echo\":%s}", input_json);
  return out;
}

/* Runs until cancelled. */
static char* SlowHandler(void* state, kos_task_context_t* context, const char* input_json,
                         char** errptr) {
  (void)state;
  (void)input_json;
  while (!kos_task_context_cancelled(context)) SleepMs(2);
  *errptr = CopyC("CANCELLED: stopped");
  return NULL;
}

static char* SubmitAndWait(kos_orchestrator_t* orch, kos_task_signer_t* signer, const char* agent,
                           const char* payload) {
  char* err = NULL;
  char* envelope = kos_task_signer_sign(signer, agent, payload, NULL, &err);
  char* id;
  char* task;
  CHECK_NOERR(err);
  id = kos_orchestrator_submit(orch, envelope, &err);
  CHECK_NOERR(err);
  kos_free(envelope);
  if (id == NULL) return NULL;
  task = kos_orchestrator_wait(orch, id, 10000, &err);
  CHECK_NOERR(err);
  kos_free(id);
  return task;
}

static void TestOrchestrator(const char* source_dir) {
  char* err = NULL;
  unsigned char pk[32], seed[32];
  kos_store_t* store;
  kos_key_registry_t* registry;
  kos_task_signer_t* signer;
  kos_orchestrator_options_t* options;
  kos_orchestrator_t* orch;
  HandlerState echo = {0, 0}, rejected = {0, 0}, slow = {0, 0}, replaced = {0, 0};
  char* envelope;
  char* id;
  char* id2;
  char* task;
  char* logs;
  StartPhase("orchestrator");

  kos_ed25519_generate(pk, seed, NULL);
  store = kos_store_open("memory:", &err);
  registry = kos_key_registry_open(store, &err);
  kos_key_registry_add(registry, "core-1", "kCore", pk, sizeof pk, &err);
  signer = kos_task_signer_open("kCore", "core-1", seed, sizeof seed, 0, &err);
  CHECK_NOERR(err);

  options = kos_orchestrator_options_create();
  CHECK(kos_orchestrator_options_add_agent(options, "kExecutor", &err) == KOS_OK);
  CHECK(kos_orchestrator_options_add_agent(options, "9bad", &err) == KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_orchestrator_options_add_agent_json(
            options, "{\"name\":\"kSlow\",\"type\":\"worker\",\"limits\":{\"timeout\":60}}",
            &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(kos_orchestrator_options_add_agent_json(options, "{\"name\":\"kX\"}", &err) ==
        KOS_INVALID_ARGUMENT); /* "type" is required */
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  CHECK(kos_orchestrator_options_load_agents(options, "/nonexistent/agents", &err) != KOS_OK);
  CHECK(err != NULL);
  kos_free(err);
  err = NULL;
  if (source_dir != NULL) { /* the seed agents shipped in deploy/config */
    char dir[512];
    kos_orchestrator_options_t* seed = kos_orchestrator_options_create();
    snprintf(dir, sizeof dir, "%s/deploy/config/agents", source_dir);
    CHECK(kos_orchestrator_options_load_agents(seed, dir, &err) == KOS_OK);
    CHECK_NOERR(err);
    kos_orchestrator_options_destroy(seed);
  }
  kos_orchestrator_options_set_max_concurrent(options, 0);
  CHECK(kos_orchestrator_open(store, registry, options, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  kos_orchestrator_options_set_max_concurrent(options, 2);
  kos_orchestrator_options_set_default_timeout(options, 30000);
  kos_orchestrator_options_set_access_controller(options, NULL);
  CHECK(kos_orchestrator_open(store, NULL, options, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  orch = kos_orchestrator_open(store, registry, options, &err);
  CHECK_NOERR(err);
  CHECK(orch != NULL);
  kos_orchestrator_options_destroy(options);
  if (orch == NULL) return;

  /* Registration failures leave the state with the caller. */
  CHECK(kos_orchestrator_register_handler(orch, "kNobody", EchoHandler, &rejected, DestroyState,
                                          &err) != KOS_OK);
  CHECK(err != NULL);
  kos_free(err);
  err = NULL;
  CHECK(rejected.destroyed == 0);
  CHECK(kos_orchestrator_register_handler(orch, "kExecutor", NULL, NULL, NULL, &err) ==
        KOS_INVALID_ARGUMENT);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  /* Replacing a handler destroys the old state. */
  CHECK(kos_orchestrator_register_handler(orch, "kExecutor", EchoHandler, &replaced, DestroyState,
                                          &err) == KOS_OK);
  CHECK(kos_orchestrator_register_handler(orch, "kExecutor", EchoHandler, &echo, DestroyState,
                                          &err) == KOS_OK);
  CHECK_NOERR(err);
  CHECK(replaced.destroyed == 1);
  CHECK(kos_orchestrator_register_handler(orch, "kSlow", SlowHandler, &slow, NULL, &err) == KOS_OK);
  CHECK_NOERR(err);

  /* A task runs; output, state and log come back. */
  envelope = kos_task_signer_sign(signer, "kExecutor", "{\"input\":{\"n\":2}}", NULL, &err);
  CHECK_NOERR(err);
  id = kos_orchestrator_submit(orch, envelope, &err);
  CHECK_NOERR(err);
  CHECK(id != NULL);
  /* The same envelope again is a replay. */
  CHECK(kos_orchestrator_submit(orch, envelope, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  kos_free(envelope);
  /* A plan under one signature: both tasks run, in dependency order; the
   * envelope cannot be replayed, and a task envelope is not a plan. */
  envelope = kos_task_signer_sign(
      signer, KOS_PLAN_AUDIENCE,
      "{\"tasks\":[{\"agent\":\"kExecutor\",\"id\":\"01J00000000000000000000021\","
      "\"input\":{\"p\":1}},{\"agent\":\"kExecutor\",\"id\":\"01J00000000000000000000022\","
      "\"depends_on\":[\"01J00000000000000000000021\"]}]}",
      NULL, &err);
  CHECK_NOERR(err);
  id2 = kos_orchestrator_submit_signed_plan(orch, envelope, &err);
  CHECK_NOERR(err);
  CHECK(id2 != NULL);
  CHECK(kos_orchestrator_submit_signed_plan(orch, envelope, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  CHECK(kos_orchestrator_submit_signed_plan(NULL, envelope, &err) == NULL);
  CHECK_ERR(err, KOS_INVALID_ARGUMENT);
  kos_free(envelope);
  task = kos_orchestrator_wait(orch, "01J00000000000000000000022", 10000, &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(task, "\"state\":\"succeeded\"");
  CHECK_CONTAINS(task, "\"depends_on\":[\"01J00000000000000000000021\"]");
  CHECK_CONTAINS(task, id2);
  kos_free(task);
  kos_free(id2);
  envelope = kos_task_signer_sign(signer, "kExecutor", "{}", NULL, &err);
  CHECK_NOERR(err);
  CHECK(kos_orchestrator_submit_signed_plan(orch, envelope, &err) == NULL);
  CHECK(err != NULL);
  kos_free(err);
  err = NULL;
  kos_free(envelope);
  task = kos_orchestrator_wait(orch, id, 10000, &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(task, "\"state\":\"succeeded\"");
  CHECK_CONTAINS(task, "\"output\":{\"echo\":{\"n\":2}}");
  CHECK_CONTAINS(task, "\"agent\":\"kExecutor\"");
  kos_free(task);
  task = kos_orchestrator_get(orch, id, &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(task, "\"state\":\"succeeded\"");
  kos_free(task);
  logs = kos_orchestrator_logs(orch, id, 0, &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(logs, "echo handler running");
  kos_free(logs);
  CHECK(kos_orchestrator_cancel(orch, id, &err) == KOS_FAILED_PRECONDITION);
  CHECK_ERR(err, KOS_FAILED_PRECONDITION);
  kos_free(id);
  CHECK(kos_orchestrator_get(orch, "01HZZZZZZZZZZZZZZZZZZZZZZZ", &err) == NULL);
  CHECK_ERR(err, KOS_NOT_FOUND);

  /* Handler errors: the code prefix decides the recorded code. */
  task = SubmitAndWait(orch, signer, "kExecutor", "{\"input\":{\"fail\":true}}");
  CHECK_CONTAINS(task, "\"state\":\"failed\"");
  CHECK_CONTAINS(task, "\"error_code\":\"INVALID_ARGUMENT\"");
  CHECK_CONTAINS(task, "the input asked to fail");
  kos_free(task);
  task = SubmitAndWait(orch, signer, "kExecutor", "{\"input\":{\"garbage\":true}}");
  CHECK_CONTAINS(task, "\"state\":\"failed\"");
  CHECK_CONTAINS(task, "not JSON");
  kos_free(task);
  task = SubmitAndWait(orch, signer, "kExecutor", "{\"input\":{\"plain\":true}}");
  CHECK_CONTAINS(task, "\"state\":\"failed\"");
  CHECK_CONTAINS(task, "\"error_code\":\"UNKNOWN\"");
  CHECK_CONTAINS(task, "just a message");
  kos_free(task);
  CHECK(echo.calls == 6); /* 4 single tasks + the 2 of the signed plan */

  /* Tampered and foreign envelopes are refused. */
  envelope = kos_task_signer_sign(signer, "kExecutor", "{\"input\":{\"n\":3}}", NULL, &err);
  {
    char* p = strstr(envelope, "\"n\":3");
    if (p != NULL) p[4] = '4';
  }
  CHECK(kos_orchestrator_submit(orch, envelope, &err) == NULL);
  CHECK_ERR(err, KOS_UNAUTHENTICATED);
  kos_free(envelope);
  envelope = kos_task_signer_sign(signer, "kUnknown", NULL, NULL, &err);
  CHECK(kos_orchestrator_submit(orch, envelope, &err) == NULL);
  CHECK(err != NULL);
  kos_free(err);
  err = NULL;
  kos_free(envelope);
  CHECK(kos_orchestrator_submit(orch, "{}", &err) == NULL);
  CHECK(kos_error_code(err) == KOS_INVALID_ARGUMENT || kos_error_code(err) == KOS_UNAUTHENTICATED);
  kos_free(err);
  err = NULL;

  /* Wait times out; cancel stops a running handler. */
  envelope = kos_task_signer_sign(signer, "kSlow", NULL, NULL, &err);
  id2 = kos_orchestrator_submit(orch, envelope, &err);
  CHECK_NOERR(err);
  kos_free(envelope);
  CHECK(kos_orchestrator_wait(orch, id2, 50, &err) == NULL);
  CHECK_ERR(err, KOS_DEADLINE_EXCEEDED);
  CHECK(kos_orchestrator_cancel(orch, id2, &err) == KOS_OK);
  CHECK_NOERR(err);
  task = kos_orchestrator_wait(orch, id2, 10000, &err);
  CHECK_NOERR(err);
  CHECK_CONTAINS(task, "\"state\":\"cancelled\"");
  kos_free(task);
  kos_free(id2);

  kos_orchestrator_close(orch);
  CHECK(echo.destroyed == 1);
  CHECK(rejected.destroyed == 0);
  kos_task_signer_close(signer);
  kos_key_registry_close(registry);
  kos_store_close(store);
}

/* argv[1], when given, is the source tree (for deploy/config/agents). */
int main(int argc, char** argv) {
  char dir_template[] = "/tmp/kos-c-api-XXXXXX";
  char* dir = mkdtemp(dir_template);
  char path[600];
  if (dir == NULL) {
    perror("mkdtemp");
    return 2;
  }
  TestBasics();
  TestStore(dir);
  TestCrypto();
  TestVault();
  TestSignedTasks();
  TestAuth(dir);
  TestMemory();
  TestPrompts();
  TestOrchestrator(argc > 1 ? argv[1] : NULL);

  snprintf(path, sizeof path, "%s/kos.db", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/kos.db-wal", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/kos.db-shm", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/policy.json", dir);
  remove(path);
  rmdir(dir);

  if (failures > 0) {
    fprintf(stderr, "c_api_test: %d check(s) FAILED\n", failures);
    return 1;
  }
  fprintf(stderr, "c_api_test: all checks passed\n");
  return 0;
}
