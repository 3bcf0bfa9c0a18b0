// Private: the compiled, immutable form of an RBAC policy document and its
// evaluator. AccessController swaps whole CompiledPolicy objects on reload.
#ifndef KOS_SRC_AUTH_RBAC_POLICY_H_
#define KOS_SRC_AUTH_RBAC_POLICY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "auth/permission_pattern_impl.h"
#include "kos/json.h"
#include "kos/rbac.h"

namespace kos {

struct CompiledRule {
  PermissionPattern pattern;
  size_t index = 0;  // position in the declaring allow/deny list, for stable Explain output
};

// Rules of one effect (allow or deny) declared by one role or agent, indexed
// by literal prefix (see PermissionPattern::Impl::literal_prefix), so a check
// only tries rules that can match.
struct RuleBucket {
  absl::flat_hash_map<std::string, std::vector<CompiledRule>> by_prefix;
  std::vector<CompiledRule> no_prefix;
  // The first matching rule in declaration order, or nullptr.
  const CompiledRule* FirstMatch(const ResourceSegments& resource, absl::string_view action) const;
};

// The rules declared directly by one role or one agent.
struct RuleSet {
  std::string origin;  // "role:<name>" or "agent:<name>"
  RuleBucket allow;
  RuleBucket deny;
};

// A rule set reached by a subject, with how it was reached.
struct RuleSource {
  const RuleSet* set = nullptr;
  std::string via;  // "role:base via role:admin", "agent:kPlanner", ...
};

struct AccessController::CompiledPolicy {
  std::vector<std::unique_ptr<RuleSet>> sets;
  // Role name -> the role and every role it inherits, role first.
  absl::flat_hash_map<std::string, std::vector<RuleSource>> role_closure;
  // Subject -> direct agent rules first, then bound roles' closures.
  absl::flat_hash_map<std::string, std::vector<RuleSource>> subject_sources;
  size_t rule_count = 0;
};

struct PolicyLimits {
  size_t max_rules = 100000;
};

// Compiles a policy document (schema in docs/access-control.md).
// INVALID_ARGUMENT naming the offending key on any error.
absl::StatusOr<std::shared_ptr<const AccessController::CompiledPolicy>> CompilePolicy(
    const Json& doc, const PolicyLimits& limits);

struct EvalOutcome {
  AccessDecision::Effect effect = AccessDecision::Effect::kDefaultDeny;
  const CompiledRule* rule = nullptr;
  const std::string* via = nullptr;
};

// Deny rules of every source first (any match denies), then allow rules;
// nothing matched is a default deny. Arguments must be validated.
EvalOutcome Evaluate(const AccessController::CompiledPolicy& policy, absl::string_view subject,
                     absl::Span<const std::string> extra_roles, const ResourceSegments& resource,
                     absl::string_view action);

}  // namespace kos

#endif  // KOS_SRC_AUTH_RBAC_POLICY_H_
