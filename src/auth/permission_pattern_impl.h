// Private: the compiled form of a PermissionPattern, shared with the policy
// evaluator so a check splits the resource once and matches many patterns
// against the pieces.
#ifndef KOS_SRC_AUTH_PERMISSION_PATTERN_IMPL_H_
#define KOS_SRC_AUTH_PERMISSION_PATTERN_IMPL_H_

#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "kos/rbac.h"

namespace kos {

// One '/'-separated component of a segment pattern: a literal, or a glob
// whose `*`s match any run of characters inside the component.
struct ComponentPattern {
  bool glob = false;
  std::string literal;              // !glob
  std::vector<std::string> pieces;  // glob: the text between the stars
  bool leading_star = false;        // glob starts with '*'
  bool trailing_star = false;       // glob ends with '*'
};

// One ':'-separated resource segment of a pattern.
struct SegmentPattern {
  // The segment is exactly `**`: any value of this segment, or, as the last
  // resource segment, one or more whole segments.
  bool any = false;
  std::vector<ComponentPattern> components;
  // The segment ends with the component `**`: zero or more further
  // components of this segment.
  bool subtree = false;
};

struct PermissionPattern::Impl {
  std::string text;
  std::string resource_type;
  // The resource text every match must start with, ending at a component or
  // segment boundary: the literal components before the first wildcard
  // (`memory:ns/alice` for `memory:ns/alice/*:read`, "" for `**:*`). Rules
  // are indexed by it, so a check only looks at rules whose prefix is one of
  // the resource's boundary prefixes.
  std::string literal_prefix;
  std::vector<SegmentPattern> segments;
  // The last resource segment is `**` and so also spans further segments.
  bool tail_any = false;
  bool any_action = false;
  std::string action;
};

// The ':'-separated segments of a resource, already validated.
using ResourceSegments = absl::InlinedVector<absl::string_view, 8>;

// Splits a resource that passed ValidateResource.
ResourceSegments SplitResource(absl::string_view resource);

bool MatchCompiled(const PermissionPattern::Impl& p, const ResourceSegments& resource,
                   absl::string_view action);

}  // namespace kos

#endif  // KOS_SRC_AUTH_PERMISSION_PATTERN_IMPL_H_
