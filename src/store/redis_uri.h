// Private: parsing of `redis://` URIs for the Redis Ephemeral backend.
#ifndef KOS_SRC_STORE_REDIS_URI_H_
#define KOS_SRC_STORE_REDIS_URI_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kos::internal {

// Everything a `redis://[[user]:password@]host[:port][/db][?k=v&...]` URI says.
// Query keys: connect_timeout_ms (default 2000), timeout_ms (per command,
// default 5000), pool_size (connections, default 8), prefix (prepended to
// every key, default empty), client_name (CLIENT SETNAME, shown by CLIENT
// LIST; default "kos").
struct RedisConfig {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;      // Redis 6 ACL user; empty: the default user
  std::string password;  // empty: no AUTH. Never put into messages.
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration timeout = absl::Seconds(5);
  int pool_size = 8;
  std::string key_prefix;
  std::string client_name = "kos";

  // "host:port" for messages (no credentials).
  std::string Address() const;
};

// INVALID_ARGUMENT with a message that never holds the password.
absl::StatusOr<RedisConfig> ParseRedisUri(absl::string_view uri);

// Percent-decodes a URI component; false on a malformed escape.
bool PercentDecode(absl::string_view in, std::string* out);

}  // namespace kos::internal

#endif  // KOS_SRC_STORE_REDIS_URI_H_
