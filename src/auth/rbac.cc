#include "kos/rbac.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "auth/rbac_policy.h"
#include "kos/status.h"

namespace kos {
namespace {

const char* EffectName(AccessDecision::Effect e) {
  switch (e) {
    case AccessDecision::Effect::kAllow:
      return "allow";
    case AccessDecision::Effect::kDeny:
      return "deny";
    case AccessDecision::Effect::kDefaultDeny:
      break;
  }
  return "deny";
}

absl::Status ValidateRequest(absl::string_view subject, absl::string_view resource,
                             absl::string_view action) {
  KOS_RETURN_IF_ERROR(ValidateSubject(subject));
  KOS_RETURN_IF_ERROR(ValidateResource(resource));
  return ValidateAction(action);
}

AccessDecision MakeDecision(const EvalOutcome& o, absl::string_view subject,
                            absl::string_view resource, absl::string_view action,
                            uint64_t generation) {
  AccessDecision d;
  d.effect = o.effect;
  d.subject = std::string(subject);
  d.resource = std::string(resource);
  d.action = std::string(action);
  if (o.rule != nullptr) d.rule = o.rule->pattern.text();
  if (o.via != nullptr) d.source = *o.via;
  d.policy_generation = generation;
  return d;
}

absl::Status DeniedStatus(const EvalOutcome& o, absl::string_view subject,
                          absl::string_view resource, absl::string_view action) {
  if (o.effect == AccessDecision::Effect::kDeny) {
    return absl::PermissionDeniedError(absl::StrCat(subject, " may not ", action, " ", resource,
                                                    ": denied by rule '", o.rule->pattern.text(),
                                                    "' from ", *o.via));
  }
  return absl::PermissionDeniedError(
      absl::StrCat(subject, " may not ", action, " ", resource, ": no rule matched: default deny"));
}

}  // namespace

std::string AccessDecision::ToString() const {
  std::string head = absl::StrCat(EffectName(effect), " ", subject, " ", action, " ", resource);
  if (effect == Effect::kDefaultDeny) return absl::StrCat(head, ": no rule matched: default deny");
  return absl::StrCat(head, ": rule '", rule, "' (", EffectName(effect), ") from ", source);
}

AccessController::AccessController(const AccessControllerOptions& options)
    : options_(options), policy_(std::make_shared<CompiledPolicy>()) {}

AccessController::~AccessController() = default;

absl::StatusOr<std::unique_ptr<AccessController>> AccessController::Open(
    const AccessControllerOptions& options) {
  std::unique_ptr<AccessController> ac(new AccessController(options));
  if (!options.policy_path.empty()) KOS_RETURN_IF_ERROR(ac->LoadFile(options.policy_path));
  return ac;
}

absl::Status AccessController::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open policy file '", path, "'"));
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0)
    return absl::InvalidArgumentError(absl::StrCat("cannot read policy file '", path, "'"));
  if (static_cast<size_t>(size) > options_.max_policy_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy file '", path, "' is ", size, " bytes; the limit is ", options_.max_policy_bytes));
  }
  in.seekg(0);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), size)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read policy file '", path, "'"));
  }
  absl::Status s = LoadJson(text);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  return absl::OkStatus();
}

absl::Status AccessController::LoadJson(absl::string_view json_text) {
  if (json_text.size() > options_.max_policy_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy is ", json_text.size(), " bytes; the limit is ", options_.max_policy_bytes));
  }
  KOS_ASSIGN_OR_RETURN(Json doc, ParseJson(json_text));
  return Load(doc);
}

absl::Status AccessController::Load(const Json& policy) {
  PolicyLimits limits;
  limits.max_rules = options_.max_rules;
  KOS_ASSIGN_OR_RETURN(auto compiled, CompilePolicy(policy, limits));
  return Install(std::move(compiled));
}

absl::Status AccessController::Install(std::shared_ptr<const CompiledPolicy> policy) {
  std::shared_ptr<const CompiledPolicy> old;
  {
    absl::MutexLock l(&mu_);
    old = std::move(policy_);
    policy_ = std::move(policy);
    ++generation_;
  }
  // `old` is released here, outside the lock, so freeing a large policy never
  // stalls readers (unless a reader still holds it, which then frees it).
  return absl::OkStatus();
}

uint64_t AccessController::policy_generation() const {
  absl::MutexLock l(&mu_);
  return generation_;
}

absl::Status AccessController::Check(absl::string_view subject, absl::string_view resource,
                                     absl::string_view action) const {
  return CheckWithRoles(subject, {}, resource, action);
}

absl::Status AccessController::CheckWithRoles(absl::string_view subject,
                                              absl::Span<const std::string> extra_roles,
                                              absl::string_view resource,
                                              absl::string_view action) const {
  KOS_RETURN_IF_ERROR(ValidateRequest(subject, resource, action));
  std::shared_ptr<const CompiledPolicy> policy;
  uint64_t generation;
  {
    absl::MutexLock l(&mu_);
    policy = policy_;
    generation = generation_;
  }
  EvalOutcome o = Evaluate(*policy, subject, extra_roles, SplitResource(resource), action);
  bool allowed = o.effect == AccessDecision::Effect::kAllow;
  if (options_.audit && (!allowed || options_.audit_allowed)) {
    options_.audit(MakeDecision(o, subject, resource, action, generation));
  }
  if (allowed) return absl::OkStatus();
  return DeniedStatus(o, subject, resource, action);
}

absl::StatusOr<AccessDecision> AccessController::Explain(absl::string_view subject,
                                                         absl::string_view resource,
                                                         absl::string_view action) const {
  return ExplainWithRoles(subject, {}, resource, action);
}

absl::StatusOr<AccessDecision> AccessController::ExplainWithRoles(
    absl::string_view subject, absl::Span<const std::string> extra_roles,
    absl::string_view resource, absl::string_view action) const {
  KOS_RETURN_IF_ERROR(ValidateRequest(subject, resource, action));
  std::shared_ptr<const CompiledPolicy> policy;
  uint64_t generation;
  {
    absl::MutexLock l(&mu_);
    policy = policy_;
    generation = generation_;
  }
  EvalOutcome o = Evaluate(*policy, subject, extra_roles, SplitResource(resource), action);
  return MakeDecision(o, subject, resource, action, generation);
}

}  // namespace kos
