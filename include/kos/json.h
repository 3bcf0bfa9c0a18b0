// JSON helpers on nlohmann::json that report errors as absl::Status instead of
// throwing, so that no exception crosses the libkos API.
#ifndef KOS_JSON_H_
#define KOS_JSON_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/export.h"
#include "nlohmann/json.hpp"

namespace kos {

using Json = nlohmann::json;

struct ParseJsonOptions {
  // Refuse objects that repeat a key (RFC 8259 leaves it undefined; security
  // code must not let two parsers disagree on which value wins).
  bool reject_duplicate_keys = true;
  // Refuse documents nested deeper than this, so hostile input cannot exhaust
  // the stack.
  int max_depth = 128;
};

// Parses `text` as one JSON document. INVALID_ARGUMENT with the byte offset on
// malformed input, invalid UTF-8, duplicate keys or excessive nesting.
KOS_EXPORT absl::StatusOr<Json> ParseJson(absl::string_view text,
                                          const ParseJsonOptions& options = {});

// Serializes without throwing: invalid UTF-8 in strings is replaced by U+FFFD.
KOS_EXPORT std::string DumpJson(const Json& j, int indent = -1);

// Appends `s` to `out` as a JSON string literal, escaped exactly as DumpJson
// would write it. For hot paths that write a reply or log line as text
// instead of building a Json document first.
KOS_EXPORT void AppendJsonString(std::string* out, absl::string_view s);

// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
KOS_EXPORT bool IsValidUtf8(absl::string_view s);

// Typed field access with errors that name the field and what was expected,
// e.g. `agents.maxConcurrent: expected integer, got string`. `path` is the
// dotted location of `obj` used as the prefix of messages ("" for the root).
KOS_EXPORT absl::StatusOr<std::string> GetString(const Json& obj, absl::string_view key,
                                                 absl::string_view path = "");
KOS_EXPORT absl::StatusOr<int64_t> GetInt(const Json& obj, absl::string_view key,
                                          absl::string_view path = "");
KOS_EXPORT absl::StatusOr<double> GetNumber(const Json& obj, absl::string_view key,
                                            absl::string_view path = "");
KOS_EXPORT absl::StatusOr<bool> GetBool(const Json& obj, absl::string_view key,
                                        absl::string_view path = "");

// The JSON type name used in error messages ("string", "integer", ...).
KOS_EXPORT const char* JsonTypeName(const Json& j);

}  // namespace kos

#endif  // KOS_JSON_H_
