// Private: the envelope's wire format (docs/signed-tasks.md), shared by the
// signer and the verifier so both read and write exactly the same bytes.
#ifndef KOS_SRC_SIGNED_TASK_ENVELOPE_H_
#define KOS_SRC_SIGNED_TASK_ENVELOPE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/json.h"
#include "kos/signed_task.h"

namespace kos::signed_task_internal {

// Limits on the string fields (bytes).
inline constexpr size_t kMaxIdBytes = 128;      // kid, iss, aud
inline constexpr size_t kMaxTaskIdBytes = 256;  // tid, parent

// kid/iss/aud: 1..128 printable ASCII characters without '/', because kids
// become Store keys ("<kid>/<nonce>") and all three appear in messages.
absl::Status ValidateName(absl::string_view field, absl::string_view value);
absl::Status ValidateTaskId(absl::string_view field, absl::string_view value);

// The envelope without "sig" as a Json object (the signing input is its JCS).
Json ToUnsignedJson(const SignedTask& task);

// A parsed envelope: its fields and the decoded 64-byte signature. The
// payload is moved out of the document.
struct ParsedEnvelope {
  SignedTask task;
  std::string signature;
  std::string signing_input;  // JCS of the envelope without "sig"
};

// Checks the shape of `doc` (an object from ParseJsonForJcs): every required
// member present with the right type and encoding, no unknown members.
// INVALID_ARGUMENT naming the field otherwise. Consumes `doc`.
absl::StatusOr<ParsedEnvelope> ParseEnvelope(Json doc);

}  // namespace kos::signed_task_internal

#endif  // KOS_SRC_SIGNED_TASK_ENVELOPE_H_
