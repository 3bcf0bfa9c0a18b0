#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kos/vault.h"
#include "vault/vault_internal.h"

namespace kos {
namespace {

constexpr size_t kMaxPathBytes = 256;
constexpr size_t kMaxSegments = 16;
constexpr size_t kMaxSegmentBytes = 64;

bool SegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

absl::Status ValidateSegment(absl::string_view seg, absl::string_view what) {
  if (seg.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " has an empty segment"));
  if (seg.size() > kMaxSegmentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " segment longer than ", kMaxSegmentBytes, " characters"));
  }
  if (seg == "." || seg == "..") {
    return absl::InvalidArgumentError(absl::StrCat(what, " may not contain '.' or '..' segments"));
  }
  for (char c : seg) {
    if (!SegmentChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " may contain only A-Z a-z 0-9 _ - . and '/' separators"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSecretPath(absl::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("secret path is empty");
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret path longer than ", kMaxPathBytes, " characters"));
  }
  if (path.front() == '/' || path.back() == '/') {
    return absl::InvalidArgumentError("secret path may not start or end with '/'");
  }
  std::vector<absl::string_view> segs = absl::StrSplit(path, '/');
  if (segs.size() > kMaxSegments) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret path has more than ", kMaxSegments, " segments"));
  }
  for (absl::string_view s : segs) {
    absl::Status st = ValidateSegment(s, "secret path");
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

namespace vault_internal {

absl::Status ValidateKeyName(absl::string_view name) {
  if (name.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError("transit key name may not contain '/'");
  }
  return ValidateSegment(name, "transit key name");
}

}  // namespace vault_internal
}  // namespace kos
