// JSON Canonicalization Scheme (RFC 8785, "JCS").
//
// JCS gives every JSON value one byte representation, so that a signature made
// over it in one language verifies in another: no whitespace, object members
// sorted by the UTF-16 code units of their names, strings escaped minimally,
// and numbers written as ECMAScript's Number.prototype.toString writes them.
//
// Input rules (I-JSON, RFC 7493, which JCS assumes):
//   * duplicate object keys are refused;
//   * strings must be valid Unicode: lone surrogates (escaped or encoded) and
//     invalid UTF-8 are refused;
//   * NaN and +/-Infinity are refused (JSON cannot spell them, but a Json built
//     in C++ can hold them);
//   * every number is an IEEE-754 double. A number written with a fraction or
//     an exponent is rounded to the nearest double like every JCS
//     implementation does. An integer written WITHOUT fraction or exponent
//     whose magnitude exceeds 2^53 is refused with INVALID_ARGUMENT instead of
//     being rounded silently, because such values (64-bit ids, amounts) would
//     change meaning between signer and verifier. Send them as strings.
//
// All functions are thread-safe (they hold no state).
#ifndef KOS_JCS_H_
#define KOS_JCS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/export.h"
#include "kos/json.h"

namespace kos {

// Largest integer magnitude JCS accepts exactly: 2^53.
inline constexpr int64_t kJcsMaxExactInteger = int64_t{1} << 53;

// Parses `json_text` and returns its canonical form. INVALID_ARGUMENT for
// malformed JSON or any violation of the input rules above.
KOS_EXPORT absl::StatusOr<std::string> Canonicalize(absl::string_view json_text);
// Text overloads: Json converts implicitly from strings, so without these a
// std::string or literal argument would be ambiguous. They always mean JSON
// text; to canonicalize a JSON string value, pass Json(str).
inline absl::StatusOr<std::string> Canonicalize(const std::string& json_text) {
  return Canonicalize(absl::string_view(json_text));
}
inline absl::StatusOr<std::string> Canonicalize(const char* json_text) {
  return Canonicalize(absl::string_view(json_text));
}

// Canonical form of an already parsed value. INVALID_ARGUMENT for NaN/Inf,
// integers beyond +/-2^53, invalid UTF-8 in strings or keys, binary values, or
// nesting deeper than 128.
KOS_EXPORT absl::StatusOr<std::string> Canonicalize(const Json& value);

// Appends the canonical form of `value` to `*out` (avoids a copy when the
// caller builds a larger buffer). On error `*out` may hold a partial value.
KOS_EXPORT absl::Status AppendCanonical(const Json& value, std::string* out);

// Parses `json_text` with the JCS input rules (duplicate keys, nesting,
// integers beyond 2^53 that the JSON parser would otherwise turn into doubles).
KOS_EXPORT absl::StatusOr<Json> ParseJsonForJcs(absl::string_view json_text);

// ECMAScript Number.prototype.toString of `value` (e.g. 1e+30, 0.002, 5e-324,
// -0 -> "0"). INVALID_ARGUMENT for NaN and infinities.
KOS_EXPORT absl::StatusOr<std::string> JcsNumber(double value);

}  // namespace kos

#endif  // KOS_JCS_H_
