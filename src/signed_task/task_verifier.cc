#include <utility>

#include "absl/strings/str_cat.h"
#include "kos/crypto.h"
#include "kos/jcs.h"
#include "kos/signed_task.h"
#include "kos/status.h"
#include "signed_task/envelope.h"

namespace kos {
namespace {

// Room for every envelope member besides the payload (ids are bounded).
constexpr size_t kEnvelopeOverheadBytes = 16 * 1024;

}  // namespace

absl::StatusOr<std::unique_ptr<TaskVerifier>> TaskVerifier::Open(
    const TaskVerifierOptions& options) {
  if (options.keys == nullptr) return absl::InvalidArgumentError("task verifier: keys is required");
  if (options.nonce_store == nullptr) {
    return absl::InvalidArgumentError("task verifier: nonce_store is required");
  }
  if (options.clock == nullptr)
    return absl::InvalidArgumentError("task verifier: clock is required");
  KOS_RETURN_IF_ERROR(signed_task_internal::ValidateName("aud", options.audience));
  KOS_RETURN_IF_ERROR(ValidateCollectionName(options.nonce_collection));
  if (options.allowed_skew < absl::ZeroDuration() || options.max_lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("task verifier: skew must be >= 0 and max_lifetime > 0");
  }
  return std::unique_ptr<TaskVerifier>(new TaskVerifier(options));
}

absl::StatusOr<SignedTask> TaskVerifier::Verify(absl::string_view envelope) {
  // Refuse oversize input before spending time parsing it.
  if (envelope.size() > options_.max_payload_bytes + kEnvelopeOverheadBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("signed task: envelope is ", envelope.size(), " bytes, more than the limit"));
  }
  KOS_ASSIGN_OR_RETURN(Json doc, ParseJsonForJcs(envelope));
  KOS_ASSIGN_OR_RETURN(signed_task_internal::ParsedEnvelope parsed,
                       signed_task_internal::ParseEnvelope(std::move(doc)));
  SignedTask& t = parsed.task;
  // The payload's canonical bytes are a substring of the signing input, so
  // their size is bounded by it; measure exactly only when it could matter.
  if (parsed.signing_input.size() > options_.max_payload_bytes) {
    KOS_ASSIGN_OR_RETURN(std::string canonical_payload, Canonicalize(t.payload));
    if (canonical_payload.size() > options_.max_payload_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("signed task: payload is ",
                                                     canonical_payload.size(), " bytes, limit is ",
                                                     options_.max_payload_bytes));
    }
  }

  auto key = options_.keys->Get(t.kid);
  if (absl::IsNotFound(key.status())) {
    return absl::UnauthenticatedError(absl::StrCat("signed task: unknown kid '", t.kid, "'"));
  }
  KOS_RETURN_IF_ERROR(key.status());
  if (key->status != TrustedKeyStatus::kActive) {
    return absl::UnauthenticatedError(absl::StrCat("signed task: kid '", t.kid, "' is revoked"));
  }
  if (key->issuer != t.issuer) {
    return absl::UnauthenticatedError(
        absl::StrCat("signed task: kid '", t.kid, "' may not sign for issuer '", t.issuer, "'"));
  }
  if (!Ed25519Verify(key->public_key, parsed.signing_input, parsed.signature).ok()) {
    return absl::UnauthenticatedError("signed task: signature does not verify");
  }
  // Everything below is about a genuine task: it may name its id.
  if (t.audience != options_.audience) {
    return absl::UnauthenticatedError(absl::StrCat("signed task ", t.task_id, ": audience '",
                                                   t.audience, "' is not '", options_.audience,
                                                   "'"));
  }
  absl::Time now = options_.clock->Now();
  if (t.issued_at > now + options_.allowed_skew) {
    return absl::UnauthenticatedError(
        absl::StrCat("signed task ", t.task_id, ": not valid yet (issued in the future)"));
  }
  if (t.expires_at + options_.allowed_skew <= now) {
    return absl::UnauthenticatedError(absl::StrCat("signed task ", t.task_id, ": expired"));
  }
  if (t.expires_at - t.issued_at > options_.max_lifetime) {
    return absl::UnauthenticatedError(
        absl::StrCat("signed task ", t.task_id, ": lifetime exceeds the verifier's maximum"));
  }

  // Consume the nonce last, so a refused task leaves no trace. The CAS on
  // version 0 makes exactly one of any number of concurrent verifiers (any
  // process sharing the store) win; the record outlives the task's validity.
  absl::Duration keep = t.expires_at + options_.allowed_skew - now;
  auto put = options_.nonce_store->Put(options_.nonce_collection, absl::StrCat(t.kid, "/", t.nonce),
                                       t.task_id,
                                       /*expected_version=*/0, keep);
  if (absl::IsFailedPrecondition(put.status())) {
    return absl::UnauthenticatedError(
        absl::StrCat("signed task ", t.task_id, ": replay (nonce already used)"));
  }
  KOS_RETURN_IF_ERROR(put.status());
  return std::move(t);
}

}  // namespace kos
