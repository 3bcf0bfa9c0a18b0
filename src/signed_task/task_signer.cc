#include <utility>

#include "absl/strings/str_cat.h"
#include "kos/crypto.h"
#include "kos/jcs.h"
#include "kos/signed_task.h"
#include "kos/status.h"
#include "signed_task/envelope.h"

namespace kos {

using signed_task_internal::ToUnsignedJson;
using signed_task_internal::ValidateName;
using signed_task_internal::ValidateTaskId;

TaskSigner::TaskSigner(const TaskSignerOptions& options, Ed25519KeyPair key_pair)
    : options_(options), key_pair_(std::move(key_pair)), ids_(options.clock) {
  options_.key_pair = nullptr;  // copied into key_pair_; the caller's may die
}

absl::StatusOr<std::unique_ptr<TaskSigner>> TaskSigner::Open(const TaskSignerOptions& options) {
  KOS_RETURN_IF_ERROR(ValidateName("iss", options.issuer));
  KOS_RETURN_IF_ERROR(ValidateName("kid", options.kid));
  if (options.key_pair == nullptr) {
    return absl::InvalidArgumentError("task signer: key_pair is required");
  }
  if (options.clock == nullptr) return absl::InvalidArgumentError("task signer: clock is required");
  if (options.ttl < absl::Seconds(1)) {
    return absl::InvalidArgumentError("task signer: ttl must be at least one second");
  }
  return std::unique_ptr<TaskSigner>(new TaskSigner(options, options.key_pair->Clone()));
}

absl::StatusOr<SignedEnvelope> TaskSigner::Sign(const TaskRequest& request) {
  KOS_RETURN_IF_ERROR(ValidateName("aud", request.audience));
  if (!request.payload.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("signed task: payload must be an object, got ",
                                                   JsonTypeName(request.payload)));
  }
  absl::Duration ttl = request.ttl == absl::ZeroDuration() ? options_.ttl : request.ttl;
  if (ttl < absl::Seconds(1)) {
    return absl::InvalidArgumentError("signed task: ttl must be at least one second");
  }
  SignedEnvelope out;
  SignedTask& t = out.task;
  t.kid = options_.kid;
  t.issuer = options_.issuer;
  t.audience = request.audience;
  t.task_id = request.task_id.empty() ? ids_.Next() : request.task_id;
  KOS_RETURN_IF_ERROR(ValidateTaskId("tid", t.task_id));
  if (request.parent_task_id) {
    KOS_RETURN_IF_ERROR(ValidateTaskId("parent", *request.parent_task_id));
    t.parent_task_id = request.parent_task_id;
  }
  t.nonce = Base64UrlEncode(RandomBytes(kSignedTaskNonceBytes));
  // Whole seconds: "iat"/"exp" are integers on the wire.
  t.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(options_.clock->Now()));
  t.expires_at =
      t.issued_at + absl::Seconds(absl::ToInt64Seconds(absl::Ceil(ttl, absl::Seconds(1))));
  t.payload = request.payload;

  Json doc = ToUnsignedJson(t);
  std::string signing_input;
  KOS_RETURN_IF_ERROR(AppendCanonical(doc, &signing_input));
  doc["sig"] = Base64UrlEncode(key_pair_.Sign(signing_input));
  KOS_RETURN_IF_ERROR(AppendCanonical(doc, &out.text));
  return out;
}

}  // namespace kos
