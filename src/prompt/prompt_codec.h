// Validation of prompt registry input and the JSON form of what the registry
// stores. Private to the prompt component.
#ifndef KOS_SRC_PROMPT_PROMPT_CODEC_H_
#define KOS_SRC_PROMPT_PROMPT_CODEC_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/json.h"
#include "kos/prompt.h"

namespace kos::prompt_internal {

absl::Status ValidateTemplateName(absl::string_view name);
absl::Status ValidateLabel(absl::string_view label);
// Declarations: names, uniqueness, defaults only on optional variables and of
// the declared type.
absl::Status ValidateVariables(const std::vector<PromptVariable>& variables);
// Text vs messages, roles, sizes and UTF-8 (not whether it compiles).
absl::Status ValidateContent(const PromptContent& content, size_t max_template_bytes);

// Checks `vars` (an object) against `decls`. When absent optional variables
// need their defaults, `*filled` receives `vars` with them added; otherwise it
// stays empty and `vars` is what to render with (no copy on the hot path).
absl::Status ApplyDeclarations(const std::vector<PromptVariable>& decls, const Json& vars,
                               std::optional<Json>* filled);

Json EncodeContent(const PromptContent& content);
// DATA_LOSS if stored JSON does not have the expected shape.
absl::StatusOr<PromptContent> DecodeContent(const Json& j);

Json EncodeMessages(const std::vector<ChatMessage>& messages);

// The text Diff compares for one version.
std::string DiffDocument(const PromptContent& content);

// Lowercase hex BLAKE2b-256 (faster than SHA-256 in libsodium).
std::string HashHex(absl::string_view data);

}  // namespace kos::prompt_internal

#endif  // KOS_SRC_PROMPT_PROMPT_CODEC_H_
