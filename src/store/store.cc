#include "kos/store.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kos/status.h"
#include "store/backends.h"

namespace kos {

Store::~Store() = default;

WriteOp WriteOp::Put(std::string collection, std::string key, std::string value,
                     std::optional<uint64_t> expected_version, absl::Duration ttl) {
  WriteOp op;
  op.kind = Kind::kPut;
  op.collection = std::move(collection);
  op.key = std::move(key);
  op.value = std::move(value);
  op.expected_version = expected_version;
  op.ttl = ttl;
  return op;
}

WriteOp WriteOp::Delete(std::string collection, std::string key,
                        std::optional<uint64_t> expected_version) {
  WriteOp op;
  op.kind = Kind::kDelete;
  op.collection = std::move(collection);
  op.key = std::move(key);
  op.expected_version = expected_version;
  return op;
}

absl::StatusOr<WriteResult> Store::Put(absl::string_view collection, absl::string_view key,
                                       absl::string_view value,
                                       std::optional<uint64_t> expected_version,
                                       absl::Duration ttl) {
  KOS_ASSIGN_OR_RETURN(auto results,
                       Commit({WriteOp::Put(std::string(collection), std::string(key),
                                            std::string(value), expected_version, ttl)}));
  return results.front();
}

absl::Status Store::Delete(absl::string_view collection, absl::string_view key,
                           std::optional<uint64_t> expected_version) {
  return Commit({WriteOp::Delete(std::string(collection), std::string(key), expected_version)})
      .status();
}

absl::Status ValidateCollectionName(absl::string_view c) {
  if (c.empty() || c.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("collection name must be 1..64 characters, got ", c.size()));
  }
  if (c[0] == '.') return absl::InvalidArgumentError("collection name must not start with '.'");
  for (char ch : c) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' &&
        ch != '-') {
      return absl::InvalidArgumentError(
          "collection name may only hold letters, digits, '_', '.', '-'");
    }
  }
  return absl::OkStatus();
}

namespace internal {

absl::Status ValidateWriteOp(const WriteOp& op, const StoreOptions& options) {
  KOS_RETURN_IF_ERROR(ValidateCollectionName(op.collection));
  if (op.key.empty()) return absl::InvalidArgumentError("record key must not be empty");
  if (op.key.size() > options.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("record key is ", op.key.size(),
                                                   " bytes; the limit is ", options.max_key_bytes));
  }
  if (op.kind == WriteOp::Kind::kPut) {
    if (op.value.size() > options.max_value_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("value for '", op.collection, "/", op.key.substr(0, 64), "' is ",
                       op.value.size(), " bytes; the limit is ", options.max_value_bytes));
    }
    if (op.ttl < absl::ZeroDuration())
      return absl::InvalidArgumentError("ttl must not be negative");
  }
  return absl::OkStatus();
}

absl::Status ValidateScanOptions(const ScanOptions& options) {
  if (options.limit == 0 || options.limit > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("scan limit must be 1..10000, got ", options.limit));
  }
  return absl::OkStatus();
}

absl::Status ValidateEphemeralKey(absl::string_view key, const EphemeralOptions& options) {
  if (key.empty()) return absl::InvalidArgumentError("ephemeral key must not be empty");
  if (key.size() > options.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("ephemeral key is ", key.size(),
                                                   " bytes; the limit is ", options.max_key_bytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateEphemeralWrite(absl::string_view key, absl::string_view value,
                                    absl::Duration ttl, const EphemeralOptions& options) {
  KOS_RETURN_IF_ERROR(ValidateEphemeralKey(key, options));
  if (value.size() > options.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ephemeral value is ", value.size(), " bytes; the limit is ", options.max_value_bytes));
  }
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must not be negative");
  return absl::OkStatus();
}

absl::Status EphemeralNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("no ephemeral key '", key.substr(0, 128), "'"));
}

absl::Status SplitUri(absl::string_view uri, std::string* scheme, std::string* rest) {
  size_t colon = uri.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", uri, "' is not a URI (expected scheme:..., e.g. sqlite:///var/lib/kos/kos.db)"));
  }
  *scheme = absl::AsciiStrToLower(uri.substr(0, colon));
  absl::string_view r = uri.substr(colon + 1);
  if (absl::StartsWith(r, "//")) r.remove_prefix(2);
  *rest = std::string(r);
  return absl::OkStatus();
}

std::string EncodePageToken(absl::string_view last_key) { return absl::BytesToHexString(last_key); }

absl::StatusOr<std::string> DecodePageToken(absl::string_view token) {
  if (token.size() % 2 != 0) return absl::InvalidArgumentError("malformed page token");
  for (char c : token) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("malformed page token");
    }
  }
  return absl::HexStringToBytes(token);
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Store>> OpenStore(absl::string_view uri,
                                                 const StoreOptions& options) {
  std::string scheme, rest;
  KOS_RETURN_IF_ERROR(internal::SplitUri(uri, &scheme, &rest));
  if (scheme == "memory") return internal::NewMemoryStore(options);
  if (scheme == "sqlite") {
    if (rest.empty())
      return absl::InvalidArgumentError("sqlite URI needs a path: sqlite:///path/kos.db");
    return internal::OpenSqliteStore(rest, options);
  }
  if (scheme == "postgresql" || scheme == "postgres") {
    return internal::OpenPostgresStore(uri, options);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown store URI scheme '", scheme, "' (supported: memory:, sqlite://, postgresql://)"));
}

}  // namespace kos
