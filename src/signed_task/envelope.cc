#include "signed_task/envelope.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "kos/crypto.h"
#include "kos/jcs.h"
#include "kos/status.h"

namespace kos::signed_task_internal {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("signed task: \"", field, "\" ", what));
}

absl::StatusOr<std::string> TakeString(const Json& doc, const char* field) {
  auto it = doc.find(field);
  if (it == doc.end()) return Invalid(field, "is missing");
  if (!it->is_string()) {
    return Invalid(field, absl::StrCat("must be a string, got ", JsonTypeName(*it)));
  }
  return it->get<std::string>();
}

// iat/exp: JSON integers (no fraction, no exponent) of Unix seconds.
absl::StatusOr<absl::Time> TakeSeconds(const Json& doc, const char* field) {
  auto it = doc.find(field);
  if (it == doc.end()) return Invalid(field, "is missing");
  int64_t s;
  if (it->is_number_unsigned()) {
    uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(kJcsMaxExactInteger)) return Invalid(field, "is out of range");
    s = static_cast<int64_t>(u);
  } else if (it->is_number_integer()) {
    s = it->get<int64_t>();
  } else {
    return Invalid(field,
                   absl::StrCat("must be an integer (Unix seconds), got ", JsonTypeName(*it)));
  }
  if (s < 0 || s > kJcsMaxExactInteger) return Invalid(field, "is out of range");
  return absl::FromUnixSeconds(s);
}

// Checks that `text` is unpadded base64url of exactly `bytes` bytes.
absl::StatusOr<std::string> DecodeBase64(absl::string_view text, const char* field, size_t bytes) {
  auto raw = Base64UrlDecode(text);
  if (!raw.ok()) return Invalid(field, "is not unpadded base64url");
  if (raw->size() != bytes) {
    return Invalid(field, absl::StrCat("must encode ", bytes, " bytes, got ", raw->size()));
  }
  return *std::move(raw);
}

}  // namespace

absl::Status ValidateName(absl::string_view field, absl::string_view value) {
  if (value.empty() || value.size() > kMaxIdBytes) {
    return Invalid(field, absl::StrCat("must be 1..", kMaxIdBytes, " bytes"));
  }
  for (char c : value) {
    if (c < 0x21 || c > 0x7e || c == '/') {
      return Invalid(field, "must be printable ASCII without spaces or '/'");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTaskId(absl::string_view field, absl::string_view value) {
  if (value.empty() || value.size() > kMaxTaskIdBytes) {
    return Invalid(field, absl::StrCat("must be 1..", kMaxTaskIdBytes, " bytes"));
  }
  if (!IsValidUtf8(value)) return Invalid(field, "must be valid UTF-8");
  return absl::OkStatus();
}

Json ToUnsignedJson(const SignedTask& task) {
  Json doc = Json::object();
  doc["v"] = task.version;
  doc["kid"] = task.kid;
  doc["iss"] = task.issuer;
  doc["aud"] = task.audience;
  doc["tid"] = task.task_id;
  doc["nonce"] = task.nonce;
  doc["iat"] = absl::ToUnixSeconds(task.issued_at);
  doc["exp"] = absl::ToUnixSeconds(task.expires_at);
  if (task.parent_task_id) doc["parent"] = *task.parent_task_id;
  doc["payload"] = task.payload;
  return doc;
}

absl::StatusOr<ParsedEnvelope> ParseEnvelope(Json doc) {
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("signed task: envelope must be a JSON object, got ", JsonTypeName(doc)));
  }
  static constexpr const char* kKnown[] = {"v",   "kid", "iss",    "aud",     "tid", "nonce",
                                           "iat", "exp", "parent", "payload", "sig"};
  for (const auto& kv : doc.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || kv.key() == k;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("signed task: unknown member \"", kv.key().substr(0, 64), "\""));
    }
  }
  ParsedEnvelope out;
  SignedTask& t = out.task;
  auto v = doc.find("v");
  if (v == doc.end()) return Invalid("v", "is missing");
  if (!v->is_number_integer() && !v->is_number_unsigned()) {
    return Invalid("v", absl::StrCat("must be an integer, got ", JsonTypeName(*v)));
  }
  if (v->get<int64_t>() != kSignedTaskVersion) {
    return Invalid("v", absl::StrCat("must be ", kSignedTaskVersion, " (unsupported version)"));
  }
  KOS_ASSIGN_OR_RETURN(std::string sig_text, TakeString(doc, "sig"));
  KOS_ASSIGN_OR_RETURN(out.signature, DecodeBase64(sig_text, "sig", kEd25519SignatureBytes));
  KOS_ASSIGN_OR_RETURN(t.kid, TakeString(doc, "kid"));
  KOS_RETURN_IF_ERROR(ValidateName("kid", t.kid));
  KOS_ASSIGN_OR_RETURN(t.issuer, TakeString(doc, "iss"));
  KOS_RETURN_IF_ERROR(ValidateName("iss", t.issuer));
  KOS_ASSIGN_OR_RETURN(t.audience, TakeString(doc, "aud"));
  KOS_RETURN_IF_ERROR(ValidateName("aud", t.audience));
  KOS_ASSIGN_OR_RETURN(t.task_id, TakeString(doc, "tid"));
  KOS_RETURN_IF_ERROR(ValidateTaskId("tid", t.task_id));
  KOS_ASSIGN_OR_RETURN(t.nonce, TakeString(doc, "nonce"));
  KOS_RETURN_IF_ERROR(DecodeBase64(t.nonce, "nonce", kSignedTaskNonceBytes).status());
  KOS_ASSIGN_OR_RETURN(t.issued_at, TakeSeconds(doc, "iat"));
  KOS_ASSIGN_OR_RETURN(t.expires_at, TakeSeconds(doc, "exp"));
  if (doc.contains("parent")) {
    KOS_ASSIGN_OR_RETURN(std::string parent, TakeString(doc, "parent"));
    KOS_RETURN_IF_ERROR(ValidateTaskId("parent", parent));
    t.parent_task_id = std::move(parent);
  }
  auto p = doc.find("payload");
  if (p == doc.end()) return Invalid("payload", "is missing");
  if (!p->is_object()) {
    return Invalid("payload", absl::StrCat("must be an object, got ", JsonTypeName(*p)));
  }
  if (t.expires_at <= t.issued_at) return Invalid("exp", "must be later than \"iat\"");
  // The signing input is the received envelope minus "sig", canonicalized;
  // the payload is moved out only afterwards.
  doc.erase("sig");
  KOS_RETURN_IF_ERROR(AppendCanonical(doc, &out.signing_input));
  t.payload = std::move(doc["payload"]);
  return out;
}

}  // namespace kos::signed_task_internal
