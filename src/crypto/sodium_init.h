// Private: lazy, thread-safe libsodium initialisation shared by src/crypto.
#ifndef KOS_SRC_CRYPTO_SODIUM_INIT_H_
#define KOS_SRC_CRYPTO_SODIUM_INIT_H_

#include <sodium.h>

namespace kos::crypto_internal {

// True once sodium_init() has succeeded. A function-local static gives
// thread-safe one-time initialisation without a mutable global.
inline bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace kos::crypto_internal

#endif  // KOS_SRC_CRYPTO_SODIUM_INIT_H_
