// Private helpers of the vault component: master key loading, the keyring
// codec and path/name validation.
#ifndef KOS_SRC_VAULT_VAULT_INTERNAL_H_
#define KOS_SRC_VAULT_VAULT_INTERNAL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/crypto.h"
#include "kos/vault.h"

namespace kos::vault_internal {

inline constexpr size_t kMasterKeyBytes = 32;

// The master key from VaultOptions' sources 1-3, or nullopt if none is
// configured or present (the caller decides about development mode).
absl::StatusOr<std::optional<SecretBytes>> LoadMasterKey(const VaultOptions& options);

// Writes a new key file with mode 0600; ALREADY_EXISTS if it exists.
absl::Status WriteKeyFile(const std::string& path, const SecretBytes& key);

// A set of versioned 32-byte keys: the vault keyring and each transit key.
struct KeySet {
  uint32_t current = 0;
  uint32_t min_decryption = 1;
  std::map<uint32_t, SecretBytes> keys;

  // Adds a random key as version current+1 and makes it current.
  uint32_t AddRandomKey();
  // The key of `version` for decryption: NOT_FOUND if unknown,
  // FAILED_PRECONDITION if below min_decryption (`what` names the key set).
  absl::StatusOr<const SecretBytes*> ForDecrypt(uint32_t version, absl::string_view what) const;
  KeySet Clone() const;
};

// Serialises and seals `set` under `master` (AAD `aad`), and back.
absl::StatusOr<std::string> SealKeySet(const KeySet& set, const SecretBytes& master,
                                       absl::string_view aad);
// UNAUTHENTICATED if `master` is not the key the set was sealed with;
// DATA_LOSS if the decrypted content is malformed.
absl::StatusOr<KeySet> OpenKeySet(absl::string_view sealed, const SecretBytes& master,
                                  absl::string_view aad);

// Transit key names: 1..64 of [A-Za-z0-9_.-], not "." or "..".
absl::Status ValidateKeyName(absl::string_view name);

}  // namespace kos::vault_internal

#endif  // KOS_SRC_VAULT_VAULT_INTERNAL_H_
