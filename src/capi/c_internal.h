// Private to the C API: the structs behind the opaque handles of kos/c.h and
// the helpers every wrapper uses to turn absl::Status into `char** errptr`.
#ifndef KOS_SRC_CAPI_C_INTERNAL_H_
#define KOS_SRC_CAPI_C_INTERNAL_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/audit.h"
#include "kos/authenticator.h"
#include "kos/c.h"
#include "kos/embedder.h"
#include "kos/ephemeral.h"
#include "kos/json.h"
#include "kos/memory.h"
#include "kos/orchestrator.h"
#include "kos/prompt.h"
#include "kos/rbac.h"
#include "kos/sessions.h"
#include "kos/signed_task.h"
#include "kos/status.h"
#include "kos/store.h"
#include "kos/tokens.h"
#include "kos/users.h"
#include "kos/vault.h"

struct kos_store_t {
  std::unique_ptr<kos::Store> rep;
};

struct kos_scan_result_t {
  kos::ScanPage page;
};

struct kos_vault_t {
  std::unique_ptr<kos::AuditLog> audit;  // declared first: outlives `rep`
  std::unique_ptr<kos::Vault> rep;
};

struct kos_key_registry_t {
  std::unique_ptr<kos::KeyRegistry> rep;
};

struct kos_task_signer_t {
  std::unique_ptr<kos::TaskSigner> rep;
};

struct kos_task_verifier_t {
  std::unique_ptr<kos::TaskVerifier> rep;
};

struct kos_access_controller_t {
  std::unique_ptr<kos::AccessController> rep;
};

struct kos_memory_t {
  std::unique_ptr<kos::HashingEmbedder> embedder;  // outlives `rep`
  std::unique_ptr<kos::Memory> rep;
};

struct kos_search_result_t {
  std::vector<kos::SearchHit> hits;
  std::vector<std::string> metadata;  // DumpJson of each hit's metadata
};

struct kos_prompt_registry_t {
  std::unique_ptr<kos::PromptRegistry> rep;
};

namespace kos::capi {

// Sets *errptr (if errptr is not null) to a malloc'd "<CODE>: <message>",
// freeing what it held. `status` must not be OK.
void SetError(char** errptr, const absl::Status& status);

// Reports `status` through errptr when it is an error; returns its code.
kos_code_t Report(char** errptr, const absl::Status& status);

// INVALID_ARGUMENT "<what> is NULL" unless `p` is set.
bool Require(const void* p, const char* what, char** errptr);

// A malloc'd copy of `s` with a NUL after it; *len (if given) = s.size().
// RESOURCE_EXHAUSTED through errptr when malloc fails.
char* CopyOut(absl::string_view s, size_t* len, char** errptr);

// "" for NULL.
inline absl::string_view Str(const char* s) { return s == nullptr ? absl::string_view() : s; }

// Bytes from (ptr, len); INVALID_ARGUMENT when ptr is NULL but len > 0.
absl::StatusOr<absl::string_view> Bytes(const void* ptr, size_t len, const char* what);

// Parses a JSON argument; NULL or "" gives `fallback`. Errors name `what`.
absl::StatusOr<Json> JsonArg(const char* text, const char* what, Json fallback);

// RFC 3339 UTC text, or null for an infinite time.
Json TimeJson(absl::Time t);

// Converts an exception escaping a wrapper into INTERNAL.
void ReportException(char** errptr, const char* function);

// Runs `body` (which reports its own errors); an escaping exception becomes
// INTERNAL and `failure` is returned. Every extern "C" body goes through it.
template <typename R, typename F>
R Guard(const char* function, char** errptr, R failure, F&& body) noexcept {
  try {
    return body();
  } catch (...) {
    ReportException(errptr, function);
  }
  return failure;
}

}  // namespace kos::capi

#endif  // KOS_SRC_CAPI_C_INTERNAL_H_
