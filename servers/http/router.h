// Matches a request's method and decoded path against the route table by
// path segments (literal, {param}, {param...}) instead of one std::regex per
// route. Same results as the regular expressions PathRegex() describes:
// routes are tried in table order and the first match wins.
#ifndef KOS_SERVERS_HTTP_ROUTER_H_
#define KOS_SERVERS_HTTP_ROUTER_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "http/route.h"

namespace kos::server {

// Path parameters in order of appearance: (name, value).
using PathParams = std::vector<std::pair<std::string, std::string>>;

// Immutable after the Add() calls, then thread-safe for Match().
class Router {
 public:
  // `route` must outlive the router. Its path segments are whole literals,
  // "{name}" (one non-empty segment) or "{name...}" (one or more segments).
  void Add(const Route* route);
  // The first route for `method` (HEAD is served by GET routes) whose
  // pattern matches `path`, with its parameters; nullptr if none.
  const Route* Match(absl::string_view method, absl::string_view path, PathParams* params) const;

 private:
  struct Segment {
    enum Kind { kLiteral, kParam, kRest } kind;
    std::string text;  // the literal, or the parameter name
  };
  struct Entry {
    const Route* route;
    std::vector<Segment> segments;
  };
  static bool MatchFrom(const std::vector<Segment>& pattern, size_t p,
                        const std::vector<absl::string_view>& parts, size_t i,
                        absl::string_view path, PathParams* params);
  std::map<std::string, std::vector<Entry>, std::less<>> by_method_;
};

}  // namespace kos::server

#endif  // KOS_SERVERS_HTTP_ROUTER_H_
