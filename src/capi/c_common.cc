// Errors, memory and versions of the C API.
#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "capi/c_internal.h"

namespace kos::capi {

namespace {

// Status code names in value order (absl::StatusCodeToString spellings).
constexpr const char* kCodeNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};
constexpr int kCodeCount = sizeof(kCodeNames) / sizeof(kCodeNames[0]);

// Stores `text` in *errptr without allocating through C++ (so it cannot throw).
void SetErrorText(char** errptr, const char* text, size_t len) noexcept {
  if (errptr == nullptr) return;
  std::free(*errptr);
  *errptr = static_cast<char*>(std::malloc(len + 1));
  if (*errptr == nullptr) return;  // out of memory: the message is lost, not the code path
  std::memcpy(*errptr, text, len);
  (*errptr)[len] = '\0';
}

}  // namespace

void SetError(char** errptr, const absl::Status& status) {
  if (errptr == nullptr) return;
  int code = static_cast<int>(status.code());
  const char* name = (code > 0 && code < kCodeCount) ? kCodeNames[code] : "UNKNOWN";
  try {
    std::string text = absl::StrCat(name, ": ", status.message());
    SetErrorText(errptr, text.data(), text.size());
  } catch (...) {
    SetErrorText(errptr, name, std::strlen(name));
  }
}

kos_code_t Report(char** errptr, const absl::Status& status) {
  if (status.ok()) return KOS_OK;
  SetError(errptr, status);
  int code = static_cast<int>(status.code());
  return (code > 0 && code < kCodeCount) ? static_cast<kos_code_t>(code) : KOS_UNKNOWN;
}

bool Require(const void* p, const char* what, char** errptr) {
  if (p != nullptr) return true;
  SetError(errptr, absl::InvalidArgumentError(absl::StrCat(what, " is NULL")));
  return false;
}

char* CopyOut(absl::string_view s, size_t* len, char** errptr) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) {
    SetError(errptr, absl::ResourceExhaustedError("out of memory"));
    return nullptr;
  }
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  if (len != nullptr) *len = s.size();
  return out;
}

absl::StatusOr<absl::string_view> Bytes(const void* ptr, size_t len, const char* what) {
  if (ptr == nullptr) {
    if (len > 0) return absl::InvalidArgumentError(absl::StrCat(what, " is NULL"));
    return absl::string_view();
  }
  return absl::string_view(static_cast<const char*>(ptr), len);
}

absl::StatusOr<Json> JsonArg(const char* text, const char* what, Json fallback) {
  if (text == nullptr || *text == '\0') return fallback;
  auto parsed = ParseJson(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", parsed.status().message()));
  }
  return std::move(*parsed);
}

Json TimeJson(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return nullptr;
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

void ReportException(char** errptr, const char* function) {
  const char* what = "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  try {
    SetError(errptr, absl::InternalError(absl::StrCat(function, ": unexpected C++ exception: ",
                                                      absl::string_view(what).substr(0, 200))));
  } catch (...) {
    SetErrorText(errptr, "INTERNAL: unexpected C++ exception", 34);
  }
}

}  // namespace kos::capi

using kos::capi::kCodeCount;
using kos::capi::kCodeNames;

extern "C" {

void kos_free(void* ptr) { std::free(ptr); }

void kos_free_secret(void* ptr, size_t len) {
  if (ptr == nullptr) return;
  sodium_memzero(ptr, len);
  std::free(ptr);
}

kos_code_t kos_error_code(const char* err) {
  if (err == nullptr) return KOS_OK;
  const char* colon = std::strchr(err, ':');
  if (colon == nullptr) return KOS_UNKNOWN;
  size_t n = static_cast<size_t>(colon - err);
  for (int i = 1; i < kCodeCount; ++i) {
    if (std::strlen(kCodeNames[i]) == n && std::strncmp(err, kCodeNames[i], n) == 0) {
      return static_cast<kos_code_t>(i);
    }
  }
  return KOS_UNKNOWN;
}

const char* kos_code_name(int code) {
  return (code >= 0 && code < kCodeCount) ? kCodeNames[code] : "UNKNOWN";
}

const char* kos_version(void) { return KOS_VERSION_STRING; }

}  // extern "C"
