#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "auth/permission_pattern_impl.h"
#include "kos/json.h"
#include "kos/rbac.h"
#include "kos/status.h"

namespace kos {
namespace {

constexpr size_t kMaxSegments = 16;
constexpr size_t kMaxComponents = 64;
constexpr size_t kMaxStarsPerComponent = 8;
constexpr size_t kMaxActionBytes = 64;

// Characters with a meaning in the grammar or reserved for later syntax
// (character classes, alternation, escapes) are refused in literals so that a
// future extension cannot change what an existing policy means.
bool IsReserved(unsigned char c) {
  return c == '?' || c == '[' || c == ']' || c == '{' || c == '}' || c == '\\' || c == ',';
}

// Printable ASCII without space, or any byte of a (separately validated)
// UTF-8 sequence.
bool IsNameByte(unsigned char c) { return (c > 0x20 && c < 0x7f) || c >= 0x80; }

bool IsActionChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// Shown inside error messages: bounded so a huge hostile input cannot blow
// up logs.
std::string Shown(absl::string_view s) {
  if (s.size() <= 80) return std::string(s);
  return absl::StrCat(s.substr(0, 80), "...(", s.size(), " bytes)");
}

absl::Status CheckName(absl::string_view what, absl::string_view s, bool allow_star) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!IsNameByte(c) || IsReserved(c) || (c == '*' && !allow_star)) {
      std::string shown = (c > 0x20 && c < 0x7f) ? absl::StrCat("'", std::string(1, c), "'")
                                                 : absl::StrCat("byte 0x", absl::Hex(c));
      return absl::InvalidArgumentError(
          absl::StrCat(what, " contains ", shown, " at offset ", i,
                       c == '*' ? " (wildcards are only allowed in patterns)" : ""));
    }
  }
  if (!IsValidUtf8(s)) return absl::InvalidArgumentError(absl::StrCat(what, " is not valid UTF-8"));
  return absl::OkStatus();
}

absl::Status ParseComponent(absl::string_view comp, ComponentPattern* out) {
  size_t stars = 0;
  for (char c : comp) stars += c == '*';
  if (stars == 0) {
    out->literal = std::string(comp);
    return absl::OkStatus();
  }
  if (stars > kMaxStarsPerComponent) {
    return absl::InvalidArgumentError(absl::StrCat("component '", Shown(comp), "' has more than ",
                                                   kMaxStarsPerComponent, " '*'"));
  }
  if (comp.find("**") != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "component '", Shown(comp), "': '**' must be a whole component at the end of a segment"));
  }
  out->glob = true;
  out->leading_star = comp.front() == '*';
  out->trailing_star = comp.back() == '*';
  for (absl::string_view piece : absl::StrSplit(comp, '*', absl::SkipEmpty())) {
    out->pieces.emplace_back(piece);
  }
  return absl::OkStatus();
}

absl::Status ParseSegment(absl::string_view seg, size_t index, SegmentPattern* out) {
  if (seg == "**") {
    out->any = true;
    return absl::OkStatus();
  }
  std::vector<absl::string_view> comps = absl::StrSplit(seg, '/');
  if (comps.size() > kMaxComponents) {
    return absl::InvalidArgumentError(
        absl::StrCat("segment ", index, " has more than ", kMaxComponents, " components"));
  }
  for (size_t i = 0; i < comps.size(); ++i) {
    absl::string_view comp = comps[i];
    if (comp.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment ", index, " '", Shown(seg),
                       "' has an empty path component (leading, trailing "
                       "or doubled '/')"));
    }
    if (comp == "**") {
      if (i + 1 != comps.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "segment ", index, " '", Shown(seg), "': '**' is only allowed as the last component"));
      }
      out->subtree = true;
      break;
    }
    ComponentPattern cp;
    KOS_RETURN_IF_ERROR(ParseComponent(comp, &cp));
    out->components.push_back(std::move(cp));
  }
  return absl::OkStatus();
}

std::string LiteralPrefix(const PermissionPattern::Impl& p) {
  std::string prefix;
  for (size_t i = 0; i < p.segments.size(); ++i) {
    const SegmentPattern& seg = p.segments[i];
    if (seg.any) return prefix;
    for (size_t c = 0; c < seg.components.size(); ++c) {
      if (seg.components[c].glob) return prefix;
      if (i > 0 || c > 0) prefix += c == 0 ? ':' : '/';
      prefix += seg.components[c].literal;
    }
    if (seg.subtree) return prefix;
  }
  return prefix;
}

absl::Status ParseImpl(absl::string_view text, PermissionPattern::Impl* p) {
  if (text.empty()) return absl::InvalidArgumentError("pattern is empty");
  if (text.size() > kMaxPermissionPatternBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pattern is ", text.size(), " bytes; the limit is ", kMaxPermissionPatternBytes));
  }
  KOS_RETURN_IF_ERROR(CheckName("pattern", text, /*allow_star=*/true));
  std::vector<absl::string_view> segs = absl::StrSplit(text, ':');
  if (segs.size() < 2) {
    return absl::InvalidArgumentError("expected 'resource:action' (no ':' found)");
  }
  if (segs.size() > kMaxSegments + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("more than ", kMaxSegments, " resource segments"));
  }
  for (size_t i = 0; i < segs.size(); ++i) {
    if (segs[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("segment ", i + 1, " is empty"));
    }
  }
  absl::string_view action = segs.back();
  if (action == "*") {
    p->any_action = true;
  } else {
    if (action.size() > kMaxActionBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("action is longer than ", kMaxActionBytes, " bytes"));
    }
    for (char c : action) {
      if (!IsActionChar(c)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "action '", Shown(action), "' must be '*' or letters, digits, '_', '-', '.'"));
      }
    }
    p->action = std::string(action);
  }
  size_t n = segs.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    SegmentPattern sp;
    KOS_RETURN_IF_ERROR(ParseSegment(segs[i], i + 1, &sp));
    p->segments.push_back(std::move(sp));
  }
  p->tail_any = p->segments.back().any;
  const SegmentPattern& first = p->segments.front();
  if (!first.any && !first.subtree && first.components.size() == 1 && !first.components[0].glob) {
    p->resource_type = first.components[0].literal;
  }
  p->literal_prefix = LiteralPrefix(*p);
  p->text = std::string(text);
  return absl::OkStatus();
}

// Classic greedy glob: the first piece anchors at the start unless the glob
// starts with '*', the last at the end unless it ends with '*', and the
// middle pieces take their leftmost occurrence, which is optimal because '*'
// cannot match across components.
bool MatchComponent(const ComponentPattern& c, absl::string_view s) {
  if (!c.glob) return s == c.literal;
  size_t n = c.pieces.size();
  if (n == 0) return true;  // only stars
  size_t pos = 0;
  size_t begin = 0, end = n;
  if (!c.leading_star) {
    if (s.substr(0, c.pieces[0].size()) != c.pieces[0]) return false;
    pos = c.pieces[0].size();
    begin = 1;
  }
  size_t limit = s.size();
  if (!c.trailing_star && end > begin) {
    const std::string& last = c.pieces[n - 1];
    if (last.size() > limit - pos) return false;
    if (s.substr(limit - last.size()) != last) return false;
    limit -= last.size();
    end = n - 1;
  }
  for (size_t i = begin; i < end; ++i) {
    size_t at = s.substr(0, limit).find(c.pieces[i], pos);
    if (at == absl::string_view::npos) return false;
    pos = at + c.pieces[i].size();
  }
  return pos <= limit;
}

bool MatchSegment(const SegmentPattern& p, absl::string_view s) {
  if (p.any) return true;
  size_t pos = 0;
  for (const ComponentPattern& c : p.components) {
    if (pos > s.size()) return false;
    size_t slash = s.find('/', pos);
    absl::string_view comp =
        s.substr(pos, slash == absl::string_view::npos ? absl::string_view::npos : slash - pos);
    if (!MatchComponent(c, comp)) return false;
    pos = slash == absl::string_view::npos ? s.size() + 1 : slash + 1;
  }
  if (p.subtree) return true;
  return pos > s.size();  // every component of `s` consumed
}

}  // namespace

ResourceSegments SplitResource(absl::string_view resource) {
  ResourceSegments out;
  size_t pos = 0;
  while (true) {
    size_t colon = resource.find(':', pos);
    if (colon == absl::string_view::npos) {
      out.push_back(resource.substr(pos));
      return out;
    }
    out.push_back(resource.substr(pos, colon - pos));
    pos = colon + 1;
  }
}

bool MatchCompiled(const PermissionPattern::Impl& p, const ResourceSegments& resource,
                   absl::string_view action) {
  if (!p.any_action && action != p.action) return false;
  size_t n = p.segments.size();
  if (p.tail_any ? resource.size() < n : resource.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (!MatchSegment(p.segments[i], resource[i])) return false;
  }
  return true;
}

absl::StatusOr<PermissionPattern> PermissionPattern::Parse(absl::string_view text) {
  auto impl = std::make_shared<Impl>();
  absl::Status s = ParseImpl(text, impl.get());
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid permission pattern '", Shown(text), "': ", s.message()));
  }
  return PermissionPattern(std::move(impl));
}

bool PermissionPattern::Matches(absl::string_view resource, absl::string_view action) const {
  if (!ValidateResource(resource).ok() || !ValidateAction(action).ok()) return false;
  return MatchCompiled(*impl_, SplitResource(resource), action);
}

const std::string& PermissionPattern::text() const { return impl_->text; }
const std::string& PermissionPattern::resource_type() const { return impl_->resource_type; }

absl::Status ValidateResource(absl::string_view resource) {
  if (resource.empty()) return absl::InvalidArgumentError("resource is empty");
  if (resource.size() > kMaxResourceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource is ", resource.size(), " bytes; the limit is ", kMaxResourceBytes));
  }
  absl::Status s = CheckName("resource", resource, /*allow_star=*/false);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource '", Shown(resource), "': ", s.message()));
  }
  // Empty segments or components would make `a::b` and `a:b` ambiguous.
  char prev = ':';
  for (char c : resource) {
    if ((c == ':' || c == '/') && (prev == ':' || prev == '/')) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource '", Shown(resource), "' has an empty segment or path component"));
    }
    prev = c;
  }
  if (prev == ':' || prev == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("resource '", Shown(resource), "' ends with '", std::string(1, prev), "'"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAction(absl::string_view action) {
  if (action.empty()) return absl::InvalidArgumentError("action is empty");
  if (action.size() > kMaxActionBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("action is longer than ", kMaxActionBytes, " bytes"));
  }
  for (char c : action) {
    if (!IsActionChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "action '", Shown(action), "' may hold only letters, digits, '_', '-', '.'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSubject(absl::string_view subject) {
  if (subject.empty()) return absl::InvalidArgumentError("subject is empty");
  if (subject.size() > kMaxSubjectBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject is ", subject.size(), " bytes; the limit is ", kMaxSubjectBytes));
  }
  size_t colon = subject.find(':');
  absl::string_view kind = subject.substr(0, colon);
  if (colon == absl::string_view::npos ||
      (kind != "user" && kind != "agent" && kind != "service")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subject '", Shown(subject), "' must be user:<name>, agent:<name> or service:<name>"));
  }
  absl::string_view name = subject.substr(colon + 1);
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("subject '", Shown(subject), "' has no name"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (!IsNameByte(c) || c == ':' || c == '*') {
      return absl::InvalidArgumentError(absl::StrCat(
          "subject '", Shown(subject), "' has a forbidden character at offset ", colon + 1 + i));
    }
  }
  if (!IsValidUtf8(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject '", Shown(subject), "' is not valid UTF-8"));
  }
  return absl::OkStatus();
}

}  // namespace kos
