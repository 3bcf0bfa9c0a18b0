// The address a request really comes from when reverse proxies (the
// gateway's nginx) sit in front of the server. Rate limits and the access log
// key on it, so X-Forwarded-For is believed only from a configured proxy:
// anyone else could name any address in it.
#ifndef KOS_SERVERS_COMMON_CLIENT_ADDRESS_H_
#define KOS_SERVERS_COMMON_CLIENT_ADDRESS_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kos::server {

// Immutable after Parse, so safe to share between threads.
class TrustedProxies {
 public:
  TrustedProxies() = default;

  // Entries are addresses or CIDR blocks: "127.0.0.1", "10.0.0.0/8", "::1",
  // "fd00::/8". INVALID_ARGUMENT names the first entry that is neither.
  static absl::StatusOr<TrustedProxies> Parse(const std::vector<std::string>& entries);

  bool empty() const { return nets_.empty(); }
  bool Contains(absl::string_view address) const;

  // `peer` when it is not a trusted proxy or `forwarded_for` is empty;
  // otherwise the right-most X-Forwarded-For hop that is not itself trusted
  // (hops to its left were written by the client and prove nothing). A hop
  // that is not an IP address stops the walk at the last good one.
  std::string ClientAddress(absl::string_view peer, absl::string_view forwarded_for) const;

 private:
  struct Net {
    bool v6 = false;
    std::array<unsigned char, 16> bytes{};
    int prefix = 0;
  };
  std::vector<Net> nets_;
};

}  // namespace kos::server

#endif  // KOS_SERVERS_COMMON_CLIENT_ADDRESS_H_
