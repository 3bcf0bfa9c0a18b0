#include "store/redis_uri.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kos::internal {
namespace {

absl::Status Bad(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad Redis URI: ", why,
      " (expected redis://[[user]:password@]host[:port][/db][?timeout_ms=..&connect_timeout_ms=.."
      "&pool_size=..&prefix=..&client_name=..])"));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool ParseIntIn(absl::string_view s, int64_t lo, int64_t hi, int64_t* out) {
  return absl::SimpleAtoi(s, out) && *out >= lo && *out <= hi && !s.empty() &&
         absl::ascii_isdigit(static_cast<unsigned char>(s[0]));
}

}  // namespace

std::string RedisConfig::Address() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

bool PercentDecode(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

absl::StatusOr<RedisConfig> ParseRedisUri(absl::string_view uri) {
  size_t colon = uri.find("://");
  if (colon == absl::string_view::npos) return Bad("missing '://'");
  std::string scheme = absl::AsciiStrToLower(uri.substr(0, colon));
  if (scheme == "rediss") return Bad("TLS (rediss://) is not supported by this build");
  if (scheme != "redis") return Bad(absl::StrCat("scheme is '", scheme.substr(0, 16), "'"));
  absl::string_view rest = uri.substr(colon + 3);

  absl::string_view query;
  if (size_t q = rest.find('?'); q != absl::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  absl::string_view path;
  if (size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  RedisConfig c;
  absl::string_view hostport = rest;
  if (size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = rest.substr(0, at);
    hostport = rest.substr(at + 1);
    absl::string_view user = userinfo, pass;
    bool has_pass = false;
    if (size_t p = userinfo.find(':'); p != absl::string_view::npos) {
      user = userinfo.substr(0, p);
      pass = userinfo.substr(p + 1);
      has_pass = true;
    }
    if (!PercentDecode(user, &c.user)) return Bad("malformed %-escape in the user name");
    if (!PercentDecode(pass, &c.password)) return Bad("malformed %-escape in the password");
    // "redis://secret@host" is the common form of a password-only URI.
    if (!has_pass) c.password.swap(c.user);
  }
  if (absl::StartsWith(hostport, "[")) {
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos) return Bad("unclosed '[' in the host");
    c.host = std::string(hostport.substr(1, close - 1));
    hostport.remove_prefix(close + 1);
    if (!hostport.empty() && hostport[0] != ':') return Bad("junk after ']'");
  } else {
    size_t p = hostport.find(':');
    c.host = std::string(hostport.substr(0, p));
    hostport = p == absl::string_view::npos ? absl::string_view() : hostport.substr(p);
  }
  if (c.host.empty()) return Bad("no host");
  for (char ch : c.host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' &&
        ch != ':' && ch != '_') {
      return Bad("the host holds characters a host name cannot");
    }
  }
  if (!hostport.empty()) {
    int64_t port;
    if (!ParseIntIn(hostport.substr(1), 1, 65535, &port)) return Bad("port must be 1..65535");
    c.port = static_cast<int>(port);
  }
  if (!path.empty()) {
    int64_t db;
    if (!ParseIntIn(path, 0, 100000, &db))
      return Bad("database must be a number (redis://host:port/0)");
    c.db = static_cast<int>(db);
  }
  if (!query.empty()) {
    for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> p =
          absl::StrSplit(kv, absl::MaxSplits('=', 1));
      int64_t n = 0;
      if (p.first == "timeout_ms") {
        if (!ParseIntIn(p.second, 1, 600000, &n)) return Bad("timeout_ms must be 1..600000");
        c.timeout = absl::Milliseconds(n);
      } else if (p.first == "connect_timeout_ms") {
        if (!ParseIntIn(p.second, 1, 600000, &n))
          return Bad("connect_timeout_ms must be 1..600000");
        c.connect_timeout = absl::Milliseconds(n);
      } else if (p.first == "pool_size") {
        if (!ParseIntIn(p.second, 1, 1024, &n)) return Bad("pool_size must be 1..1024");
        c.pool_size = static_cast<int>(n);
      } else if (p.first == "prefix") {
        if (!PercentDecode(p.second, &c.key_prefix)) return Bad("malformed %-escape in prefix");
      } else if (p.first == "client_name") {
        if (p.second.empty() || p.second.size() > 64)
          return Bad("client_name must be 1..64 characters");
        for (char ch : p.second) {
          if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' &&
              ch != '_' && ch != ':') {
            return Bad("client_name may only hold letters, digits, '.', '-', '_', ':'");
          }
        }
        c.client_name = std::string(p.second);
      } else {
        return Bad(absl::StrCat("unknown option '", p.first.substr(0, 32), "'"));
      }
    }
  }
  return c;
}

}  // namespace kos::internal
