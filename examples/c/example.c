/* A small tour of the libkos C API: keep a secret in the vault, sign a task
 * and verify it as the agent that receives it, and search agent memory.
 *
 *   cc example.c $(pkg-config --cflags --libs kos) -o kos-example && ./kos-example
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kos/c.h"

/* Prints the error, frees it and returns 1 if `err` is set. */
static int Failed(const char* what, char* err) {
  if (err == NULL) return 0;
  fprintf(stderr, "%s failed: %s (code %d)\n", what, err, (int)kos_error_code(err));
  kos_free(err);
  return 1;
}

int main(void) {
  char* err = NULL;
  unsigned char master_key[32], public_key[32], seed[32];
  kos_store_t* store;
  kos_vault_options_t* vault_options;
  kos_vault_t* vault;
  kos_key_registry_t* keys;
  kos_task_signer_t* signer;
  kos_task_verifier_t* verifier;
  kos_memory_t* memory;
  kos_search_result_t* hits;
  char* secret;
  char* envelope;
  char* task;
  size_t len = 0, i;

  /* Everything lives in one store; "sqlite:kos.db" would make it durable. */
  store = kos_store_open("memory:", &err);
  if (Failed("kos_store_open", err)) return 1;

  /* 1. A secret, encrypted at rest under a master key (keep yours outside
   *    the program: KOS_VAULT_MASTER_KEY or a key file). */
  kos_random_bytes(master_key, sizeof master_key, NULL);
  vault_options = kos_vault_options_create();
  kos_vault_options_set_master_key(vault_options, master_key, sizeof master_key, NULL);
  vault = kos_vault_open(store, vault_options, &err);
  kos_vault_options_destroy(vault_options);
  if (Failed("kos_vault_open", err)) return 1;
  kos_vault_put(vault, "example", "kv/demo/api-key", "sk-demo-123", 11, &err);
  if (Failed("kos_vault_put", err)) return 1;
  secret = kos_vault_get(vault, "example", "kv/demo/api-key", 0, &len, NULL, &err);
  if (Failed("kos_vault_get", err)) return 1;
  printf("vault: read back %u bytes from kv/demo/api-key\n", (unsigned)len);
  kos_free_secret(secret, len);

  /* 2. A signed task from kCore to kExecutor, verified by the executor. */
  kos_ed25519_generate(public_key, seed, NULL);
  keys = kos_key_registry_open(store, &err);
  if (Failed("kos_key_registry_open", err)) return 1;
  kos_key_registry_add(keys, "core-1", "kCore", public_key, sizeof public_key, &err);
  if (Failed("kos_key_registry_add", err)) return 1;
  signer = kos_task_signer_open("kCore", "core-1", seed, sizeof seed, 0, &err);
  if (Failed("kos_task_signer_open", err)) return 1;
  envelope =
      kos_task_signer_sign(signer, "kExecutor", "{\"input\":{\"query\":\"cats\"}}", NULL, &err);
  if (Failed("kos_task_signer_sign", err)) return 1;
  verifier = kos_task_verifier_open(keys, store, "kExecutor", &err);
  if (Failed("kos_task_verifier_open", err)) return 1;
  task = kos_task_verifier_verify(verifier, envelope, &err);
  if (Failed("kos_task_verifier_verify", err)) return 1;
  printf("signed task: verified %s\n", strstr(task, "\"payload\"") != NULL ? "ok" : "??");
  kos_free(task);
  /* The same envelope twice is a replay. */
  task = kos_task_verifier_verify(verifier, envelope, &err);
  printf("signed task: replay refused with %s\n", kos_code_name(kos_error_code(err)));
  kos_free(err);
  err = NULL;
  kos_free(envelope);

  /* 3. Memory: add notes, search with a metadata filter. */
  memory = kos_memory_open(store, 0, &err);
  if (Failed("kos_memory_open", err)) return 1;
  kos_memory_create_namespace(memory, "agents/kExecutor", NULL, &err);
  if (Failed("kos_memory_create_namespace", err)) return 1;
  kos_free(kos_memory_add(memory, "agents/kExecutor", NULL, "cats sleep most of the day",
                          "{\"kind\":\"fact\"}", 0.5, &err));
  kos_free(kos_memory_add(memory, "agents/kExecutor", NULL, "feed the cat at six",
                          "{\"kind\":\"todo\"}", 0.9, &err));
  kos_free(kos_memory_add(memory, "agents/kExecutor", NULL, "dogs like long walks",
                          "{\"kind\":\"fact\"}", 0.1, &err));
  if (Failed("kos_memory_add", err)) return 1;
  hits = kos_memory_search(memory, "agents/kExecutor", "what do cats do", 2, "{\"kind\":\"fact\"}",
                           &err);
  if (Failed("kos_memory_search", err)) return 1;
  for (i = 0; i < kos_search_result_count(hits); ++i) {
    printf("memory: %.3f %s\n", kos_search_result_score(hits, i), kos_search_result_text(hits, i));
  }
  kos_search_result_destroy(hits);

  kos_memory_close(memory);
  kos_task_verifier_close(verifier);
  kos_task_signer_close(signer);
  kos_key_registry_close(keys);
  kos_vault_close(vault);
  kos_store_close(store);
  return 0;
}
