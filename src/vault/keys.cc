#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kos/json.h"
#include "kos/status.h"
#include "vault/vault_internal.h"

namespace kos::vault_internal {
namespace {

// Decodes base64url key text; never echoes the text in errors.
absl::StatusOr<SecretBytes> DecodeKeyText(absl::string_view text, absl::string_view source) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  auto key = Base64UrlDecodeSecret(text);
  if (!key.ok() || key->size() != kMasterKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("master key from ", source,
                                                   " is not base64url (no padding) of ",
                                                   kMasterKeyBytes, " bytes"));
  }
  return std::move(*key);
}

absl::StatusOr<std::optional<SecretBytes>> LoadKeyFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<SecretBytes>();
    return absl::PermissionDeniedError(
        absl::StrCat("cannot stat master key file ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("master key file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("master key file ", path, " is accessible by group or others (mode 0",
                     absl::StrFormat("%o", st.st_mode & 0777), "); chmod 600 it"));
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open master key file ", path, ": ", std::strerror(errno)));
  }
  SecretBytes buf(256);
  size_t len = 0;
  while (len < buf.size()) {
    ssize_t n = read(fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  KOS_ASSIGN_OR_RETURN(SecretBytes key,
                       DecodeKeyText(buf.view().substr(0, len), absl::StrCat("file ", path)));
  return std::optional<SecretBytes>(std::move(key));
}

}  // namespace

absl::StatusOr<std::optional<SecretBytes>> LoadMasterKey(const VaultOptions& options) {
  if (options.master_key != nullptr) {
    if (options.master_key->size() != kMasterKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("VaultOptions::master_key must be ", kMasterKeyBytes, " bytes"));
    }
    return std::optional<SecretBytes>(options.master_key->Clone());
  }
  if (!options.master_key_env.empty()) {
    const char* v = std::getenv(options.master_key_env.c_str());
    if (v != nullptr && *v != '\0') {
      KOS_ASSIGN_OR_RETURN(SecretBytes key,
                           DecodeKeyText(v, absl::StrCat("$", options.master_key_env)));
      return std::optional<SecretBytes>(std::move(key));
    }
  }
  if (!options.master_key_file.empty()) return LoadKeyFile(options.master_key_file);
  return std::optional<SecretBytes>();
}

absl::Status WriteKeyFile(const std::string& path, const SecretBytes& key) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("master key file ", path, " already exists"));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create master key file ", path, ": ", std::strerror(errno)));
  }
  const size_t cap =
      sodium_base64_ENCODED_LEN(key.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  SecretBytes text(cap);
  sodium_bin2base64(reinterpret_cast<char*>(text.data()), cap, key.data(), key.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  text.data()[cap - 1] = '\n';  // replaces the NUL terminator
  size_t done = 0;
  while (done < cap) {
    ssize_t n = write(fd, text.data() + done, cap - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("cannot write master key file ", path));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = fsync(fd) == 0;
  close(fd);
  if (!synced) return absl::InternalError(absl::StrCat("cannot fsync master key file ", path));
  return absl::OkStatus();
}

uint32_t KeySet::AddRandomKey() {
  ++current;
  keys[current] = SecretBytes::Random(kAeadKeyBytes);
  return current;
}

absl::StatusOr<const SecretBytes*> KeySet::ForDecrypt(uint32_t version,
                                                      absl::string_view what) const {
  auto it = keys.find(version);
  if (it == keys.end()) {
    return absl::NotFoundError(absl::StrCat(what, " has no key version ", version));
  }
  if (version < min_decryption) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " key version ", version, " is retired (minimum decryption version is ",
        min_decryption, "); rewrap the data before retiring its key, or lower the minimum"));
  }
  return &it->second;
}

KeySet KeySet::Clone() const {
  KeySet c;
  c.current = current;
  c.min_decryption = min_decryption;
  for (const auto& [v, k] : keys) c.keys[v] = k.Clone();
  return c;
}

absl::StatusOr<std::string> SealKeySet(const KeySet& set, const SecretBytes& master,
                                       absl::string_view aad) {
  Json j = {{"current", set.current}, {"min", set.min_decryption}, {"keys", Json::object()}};
  for (const auto& [v, k] : set.keys) j["keys"][std::to_string(v)] = Base64UrlEncode(k.view());
  std::string plain = DumpJson(j);
  auto sealed = Seal(master, 1, plain, aad);
  sodium_memzero(plain.data(), plain.size());
  // nlohmann::json has no secure erase: overwrite the key strings we made.
  for (auto& [name, val] : j["keys"].items()) {
    std::string& s = val.get_ref<std::string&>();
    sodium_memzero(s.data(), s.size());
  }
  return sealed;
}

absl::StatusOr<KeySet> OpenKeySet(absl::string_view sealed, const SecretBytes& master,
                                  absl::string_view aad) {
  auto plain = Open(master, 1, sealed, aad);
  if (!plain.ok()) {
    if (plain.status().code() == absl::StatusCode::kUnauthenticated) return plain.status();
    return absl::DataLossError(
        absl::StrCat("sealed key set unreadable: ", plain.status().message()));
  }
  auto j = ParseJson(plain->view());
  if (!j.ok() || !j->is_object()) return absl::DataLossError("sealed key set is not valid JSON");
  KeySet set;
  auto cur = GetInt(*j, "current");
  auto min = GetInt(*j, "min");
  if (!cur.ok() || !min.ok() || !j->contains("keys") || !(*j)["keys"].is_object() || *cur < 1 ||
      *min < 1 || *min > *cur) {
    return absl::DataLossError("sealed key set has malformed fields");
  }
  set.current = static_cast<uint32_t>(*cur);
  set.min_decryption = static_cast<uint32_t>(*min);
  for (auto& [name, val] : (*j)["keys"].items()) {
    uint32_t v = 0;
    if (!absl::SimpleAtoi(name, &v) || !val.is_string()) {
      return absl::DataLossError("sealed key set has a malformed key entry");
    }
    std::string& text = val.get_ref<std::string&>();
    auto key = Base64UrlDecodeSecret(text);
    sodium_memzero(text.data(), text.size());
    if (!key.ok() || key->size() != kAeadKeyBytes) {
      return absl::DataLossError(absl::StrCat("sealed key set: key version ", v, " is malformed"));
    }
    set.keys[v] = std::move(*key);
  }
  if (set.keys.count(set.current) == 0) {
    return absl::DataLossError("sealed key set lacks its current key");
  }
  return set;
}

}  // namespace kos::vault_internal
