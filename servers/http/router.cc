#include "http/router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace kos::server {

void Router::Add(const Route* route) {
  Entry e{route, {}};
  absl::string_view path = route->path;
  if (absl::StartsWith(path, "/")) path.remove_prefix(1);
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    Segment s{Segment::kLiteral, std::string(part)};
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      absl::string_view name = part.substr(1, part.size() - 2);
      s.kind = Segment::kParam;
      if (absl::ConsumeSuffix(&name, "...")) s.kind = Segment::kRest;
      s.text = std::string(name);
    }
    e.segments.push_back(std::move(s));
  }
  by_method_[route->method].push_back(std::move(e));
}

// `parts` are views into `path`, so a {name...} capture is the raw text from
// its first segment to the end of its last one (slashes included).
bool Router::MatchFrom(const std::vector<Segment>& pattern, size_t p,
                       const std::vector<absl::string_view>& parts, size_t i,
                       absl::string_view path, PathParams* params) {
  for (; p < pattern.size(); ++p, ++i) {
    const Segment& s = pattern[p];
    if (s.kind == Segment::kRest) {
      if (i >= parts.size()) return false;
      // Greedy like the regex "(.+)": the longest capture that lets the
      // rest of the pattern match.
      size_t rest_min = pattern.size() - p - 1;
      for (size_t end = parts.size() - rest_min; end > i; --end) {
        size_t mark = params->size();
        const char* b = parts[i].data();
        const char* e = parts[end - 1].data() + parts[end - 1].size();
        if (b == e) continue;  // "(.+)" captures at least one character
        params->emplace_back(s.text, std::string(b, e));
        if (MatchFrom(pattern, p + 1, parts, end, path, params)) return true;
        params->resize(mark);
      }
      return false;
    }
    if (i >= parts.size()) return false;
    if (s.kind == Segment::kLiteral) {
      if (parts[i] != s.text) return false;
    } else {
      if (parts[i].empty()) return false;
      params->emplace_back(s.text, std::string(parts[i]));
    }
  }
  return i == parts.size();
}

const Route* Router::Match(absl::string_view method, absl::string_view path,
                           PathParams* params) const {
  if (method == "HEAD") method = "GET";
  auto it = by_method_.find(method);
  if (it == by_method_.end() || !absl::StartsWith(path, "/")) return nullptr;
  std::vector<absl::string_view> parts = absl::StrSplit(path.substr(1), '/');
  for (const Entry& e : it->second) {
    params->clear();
    if (MatchFrom(e.segments, 0, parts, 0, path, params)) return e.route;
  }
  params->clear();
  return nullptr;
}

}  // namespace kos::server
