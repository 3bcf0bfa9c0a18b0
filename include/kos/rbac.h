// Role-based access control for users and agents.
//
// A permission is a pattern `resource-segment[:resource-segment...]:action`,
// e.g. `memory:ns/alice/*:read`, `agents:kPlanner:execute`, `vault:kv/team/**:*`.
// Roles hold allow and deny rules and may inherit other roles; subjects
// (`user:alice`, `agent:kPlanner`, `service:gateway`) are bound to roles, and
// agents may also carry direct rules. Evaluation is default deny, and an
// explicit deny anywhere in the subject's rules overrides every allow.
// The grammar and the policy file schema are specified in
// docs/access-control.md.
#ifndef KOS_RBAC_H_
#define KOS_RBAC_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "kos/export.h"
#include "kos/json.h"

namespace kos {

// Limits that keep hostile policies and requests cheap to refuse.
inline constexpr size_t kMaxPermissionPatternBytes = 1024;
inline constexpr size_t kMaxResourceBytes = 4096;
inline constexpr size_t kMaxSubjectBytes = 512;

// A compiled permission pattern. Immutable and cheap to copy; thread-safe.
class KOS_EXPORT PermissionPattern {
 public:
  // INVALID_ARGUMENT naming the offending part, e.g.
  // `invalid permission pattern 'memory::read': segment 2 is empty`.
  static absl::StatusOr<PermissionPattern> Parse(absl::string_view text);

  // True if the pattern grants `action` on `resource`. `resource` and
  // `action` must be valid (see ValidateResource / ValidateAction); invalid
  // ones never match.
  bool Matches(absl::string_view resource, absl::string_view action) const;

  // The pattern as written.
  const std::string& text() const;
  // The first resource segment when it is a plain literal (`memory` in
  // `memory:ns/*:read`), else "". Used to index rules.
  const std::string& resource_type() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit PermissionPattern(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// OK if `resource` is a concrete resource name (`memory:ns/alice/notes`): one
// or more ':'-separated segments of '/'-separated non-empty components, no
// wildcards, printable characters only. INVALID_ARGUMENT otherwise.
KOS_EXPORT absl::Status ValidateResource(absl::string_view resource);
// OK if `action` is a concrete action name ([A-Za-z0-9_.-]{1,64}).
KOS_EXPORT absl::Status ValidateAction(absl::string_view action);
// OK if `subject` is `user:<name>`, `agent:<name>` or `service:<name>`.
KOS_EXPORT absl::Status ValidateSubject(absl::string_view subject);

// Why a request was allowed or denied.
struct KOS_EXPORT AccessDecision {
  enum class Effect { kAllow, kDeny, kDefaultDeny };
  Effect effect = Effect::kDefaultDeny;
  std::string subject;
  std::string resource;
  std::string action;
  // Where the deciding rule came from: "role:admin", "role:base via role:admin"
  // (inherited), or "agent:kPlanner" (a direct per-agent rule). Empty for a
  // default deny.
  std::string source;
  // The deciding rule's pattern text; empty for a default deny.
  std::string rule;
  // The generation of the policy that decided (increments on every reload).
  uint64_t policy_generation = 0;

  bool allowed() const { return effect == Effect::kAllow; }
  // One line for logs, e.g. `deny user:bob read vault:kv/x: rule 'vault:**:*'
  // (deny) from role:contractor` or `...: no rule matched: default deny`.
  std::string ToString() const;
};

// Options for AccessController::Open.
struct KOS_EXPORT AccessControllerOptions {
  // Policy file loaded by Open (the seed layout keeps it at
  // config/security/auth-policies.json). Empty: start with the empty policy,
  // which denies everything until Load*() is called. Default: "".
  std::string policy_path;
  // Called synchronously after every Check() (not Explain()) with the
  // decision, outside any lock. Must be thread-safe and must not call back
  // into the controller's Load*(). Default: none.
  std::function<void(const AccessDecision&)> audit;
  // Whether allowed decisions are audited too (false: only denials).
  // Default: true.
  bool audit_allowed = true;
  // Largest policy file accepted, in bytes. Default: 16 MiB.
  size_t max_policy_bytes = 16 << 20;
  // Most rules (allow + deny, all roles and agents) a policy may hold.
  // Default: 100000.
  size_t max_rules = 100000;
};

// Evaluates RBAC policies. Thread-safe: checks run concurrently with each
// other and with reloads; a reload swaps in a new immutable compiled policy,
// so a check sees either the old or the new policy, never a mix.
class KOS_EXPORT AccessController {
 public:
  static absl::StatusOr<std::unique_ptr<AccessController>> Open(
      const AccessControllerOptions& options = {});
  ~AccessController();

  // Replace the policy. On any error the current policy stays in force and
  // the error (INVALID_ARGUMENT, or NOT_FOUND for a missing file) names the
  // offending key, e.g. `roles.admin.allow[2]: invalid permission pattern
  // 'x': ...`.
  absl::Status LoadFile(const std::string& path);
  absl::Status LoadJson(absl::string_view json_text);
  absl::Status Load(const Json& policy);

  // OK if `subject` may perform `action` on `resource`; PERMISSION_DENIED
  // naming subject, action and resource otherwise; INVALID_ARGUMENT if any
  // of the three is malformed (empty, too long, wildcards in a resource).
  absl::Status Check(absl::string_view subject, absl::string_view resource,
                     absl::string_view action) const;
  // As Check, with `extra_roles` (e.g. from a token's roles claim) evaluated
  // in addition to the subject's bindings. Unknown role names grant nothing.
  absl::Status CheckWithRoles(absl::string_view subject, absl::Span<const std::string> extra_roles,
                              absl::string_view resource, absl::string_view action) const;

  // The decision with the rule that made it. Not audited.
  absl::StatusOr<AccessDecision> Explain(absl::string_view subject, absl::string_view resource,
                                         absl::string_view action) const;
  absl::StatusOr<AccessDecision> ExplainWithRoles(absl::string_view subject,
                                                  absl::Span<const std::string> extra_roles,
                                                  absl::string_view resource,
                                                  absl::string_view action) const;

  // Increments on every successful load; 0 for the initial empty policy.
  uint64_t policy_generation() const;

  struct CompiledPolicy;

 private:
  explicit AccessController(const AccessControllerOptions& options);
  absl::Status Install(std::shared_ptr<const CompiledPolicy> policy);

  const AccessControllerOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const CompiledPolicy> policy_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kos

#endif  // KOS_RBAC_H_
