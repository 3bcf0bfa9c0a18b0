#include "common/client_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <iterator>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kos::server {
namespace {

struct Address {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};
};

std::optional<Address> ParseAddress(absl::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;  // INET6_ADDRSTRLEN - 1
  const std::string s(text);
  Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  // An IPv4 peer of a dual-stack socket shows as ::ffff:a.b.c.d; it is the
  // IPv4 address for matching, so "127.0.0.1" still names it.
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kMapped), std::end(kMapped), a.bytes.begin())) {
    std::copy(a.bytes.begin() + 12, a.bytes.end(), a.bytes.begin());
    std::fill(a.bytes.begin() + 4, a.bytes.end(), 0);
    return a;
  }
  a.v6 = true;
  return a;
}

bool PrefixMatches(const std::array<unsigned char, 16>& a, const std::array<unsigned char, 16>& b,
                   int prefix) {
  int full = prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (a[i] != b[i]) return false;
  }
  int rest = prefix % 8;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& entries) {
  TrustedProxies out;
  for (const std::string& entry : entries) {
    absl::string_view text = absl::StripAsciiWhitespace(entry);
    absl::string_view addr = text;
    std::optional<int> prefix;
    if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
      addr = text.substr(0, slash);
      int p;
      if (!absl::SimpleAtoi(text.substr(slash + 1), &p))
        prefix = -1;
      else
        prefix = p;
    }
    std::optional<Address> a = ParseAddress(addr);
    // A mapped block (::ffff:10.0.0.0/104) is the IPv4 block /8.
    if (a && !a->v6 && prefix && addr.find(':') != absl::string_view::npos) *prefix -= 96;
    const int max_prefix = a && a->v6 ? 128 : 32;
    if (!a || (prefix && (*prefix < 0 || *prefix > max_prefix))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trusted proxy '", text.substr(0, 64),
          "' is not an IP address or CIDR block (examples: 127.0.0.1, 10.0.0.0/8, ::1)"));
    }
    out.nets_.push_back(Net{a->v6, a->bytes, prefix.value_or(max_prefix)});
  }
  return out;
}

bool TrustedProxies::Contains(absl::string_view address) const {
  std::optional<Address> a = ParseAddress(address);
  if (!a) return false;
  for (const Net& n : nets_) {
    if (n.v6 == a->v6 && PrefixMatches(n.bytes, a->bytes, n.prefix)) return true;
  }
  return false;
}

std::string TrustedProxies::ClientAddress(absl::string_view peer,
                                          absl::string_view forwarded_for) const {
  if (forwarded_for.empty() || !Contains(peer)) return std::string(peer);
  std::vector<absl::string_view> hops = absl::StrSplit(forwarded_for, ',');
  absl::string_view client = peer;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    absl::string_view hop = absl::StripAsciiWhitespace(*it);
    if (!ParseAddress(hop)) break;
    client = hop;
    if (!Contains(hop)) break;
  }
  return std::string(client);
}

}  // namespace kos::server
