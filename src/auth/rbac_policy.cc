#include "auth/rbac_policy.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kos/status.h"

namespace kos {
namespace {

constexpr size_t kMaxRoles = 10000;
constexpr size_t kMaxInheritanceDepth = 64;
constexpr size_t kMaxClosure = 1000;
constexpr size_t kMaxNameBytes = 128;

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string Shown(absl::string_view s) {
  if (s.size() <= 80) return std::string(s);
  return absl::StrCat(s.substr(0, 80), "...(", s.size(), " bytes)");
}

// `parent.key` for identifiers, `parent["key"]` otherwise (subjects contain ':').
std::string Child(absl::string_view parent, absl::string_view key) {
  bool plain = IsIdentifier(key) && key.find('.') == absl::string_view::npos;
  if (plain) return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
  return absl::StrCat(parent, "[\"", Shown(key), "\"]");
}

absl::Status Error(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

absl::Status ExpectObject(const Json& j, absl::string_view path) {
  if (!j.is_object()) return Error(path, absl::StrCat("expected object, got ", JsonTypeName(j)));
  return absl::OkStatus();
}

absl::Status CheckKeys(const Json& obj, absl::string_view path,
                       std::initializer_list<absl::string_view> allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (absl::string_view a : allowed) known |= it.key() == a;
    if (!known) {
      return Error(path.empty() ? "policy" : path,
                   absl::StrCat("unknown key '", Shown(it.key()),
                                "' (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> StringArray(const Json& obj, absl::string_view key,
                                                     absl::string_view path) {
  std::vector<std::string> out;
  auto it = obj.find(std::string(key));
  if (it == obj.end()) return out;
  std::string here = Child(path, key);
  if (!it->is_array()) {
    return Error(here, absl::StrCat("expected array of strings, got ", JsonTypeName(*it)));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& e = (*it)[i];
    if (!e.is_string()) {
      return Error(absl::StrCat(here, "[", i, "]"),
                   absl::StrCat("expected string, got ", JsonTypeName(e)));
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

class Compiler {
 public:
  explicit Compiler(const PolicyLimits& limits)
      : limits_(limits), policy_(std::make_shared<AccessController::CompiledPolicy>()) {}

  absl::StatusOr<std::shared_ptr<const AccessController::CompiledPolicy>> Run(const Json& doc) {
    if (!doc.is_object()) {
      return Error("policy", absl::StrCat("expected object, got ", JsonTypeName(doc)));
    }
    KOS_RETURN_IF_ERROR(
        CheckKeys(doc, "", {"version", "description", "roles", "bindings", "agents"}));
    if (auto v = doc.find("version"); v != doc.end()) {
      if (!v->is_number_integer() || v->get<int64_t>() != 1) {
        return Error("version", absl::StrCat("unsupported policy version ",
                                             DumpJson(*v).substr(0, 32), " (expected 1)"));
      }
    }
    if (auto d = doc.find("description"); d != doc.end() && !d->is_string()) {
      return Error("description", absl::StrCat("expected string, got ", JsonTypeName(*d)));
    }
    static const Json kEmpty = Json::object();
    const Json& roles = doc.contains("roles") ? doc["roles"] : kEmpty;
    const Json& bindings = doc.contains("bindings") ? doc["bindings"] : kEmpty;
    const Json& agents = doc.contains("agents") ? doc["agents"] : kEmpty;
    KOS_RETURN_IF_ERROR(ExpectObject(roles, "roles"));
    KOS_RETURN_IF_ERROR(ExpectObject(bindings, "bindings"));
    KOS_RETURN_IF_ERROR(ExpectObject(agents, "agents"));
    if (roles.size() > kMaxRoles) {
      return Error("roles", absl::StrCat("more than ", kMaxRoles, " roles"));
    }

    // Pass 1: each role's own rules, so inheritance may name roles declared later.
    for (auto it = roles.begin(); it != roles.end(); ++it) {
      std::string path = Child("roles", it.key());
      if (!IsIdentifier(it.key())) {
        return Error(path, "invalid role name (expected 1-128 of [A-Za-z0-9_.-])");
      }
      KOS_RETURN_IF_ERROR(ExpectObject(*it, path));
      KOS_RETURN_IF_ERROR(CheckKeys(*it, path, {"allow", "deny", "inherits", "description"}));
      KOS_ASSIGN_OR_RETURN(RuleSet * set, AddRuleSet(*it, path, absl::StrCat("role:", it.key())));
      role_sets_[it.key()] = set;
      KOS_ASSIGN_OR_RETURN(inherits_[it.key()], StringArray(*it, "inherits", path));
      for (size_t i = 0; i < inherits_[it.key()].size(); ++i) {
        const std::string& parent = inherits_[it.key()][i];
        if (!roles.contains(parent)) {
          return Error(absl::StrCat(Child(path, "inherits"), "[", i, "]"),
                       absl::StrCat("unknown role '", Shown(parent), "'"));
        }
      }
    }
    // Pass 2: closures, with cycle detection.
    for (auto it = roles.begin(); it != roles.end(); ++it) {
      std::vector<std::string> stack;
      KOS_RETURN_IF_ERROR(Close(it.key(), &stack));
    }
    // Agents' direct rules.
    for (auto it = agents.begin(); it != agents.end(); ++it) {
      std::string path = Child("agents", it.key());
      std::string subject = absl::StrCat("agent:", it.key());
      if (!ValidateSubject(subject).ok() || it.key().size() > kMaxNameBytes) {
        return Error(path, "invalid agent name (1-128 printable characters, no ':' or '*')");
      }
      KOS_RETURN_IF_ERROR(ExpectObject(*it, path));
      KOS_RETURN_IF_ERROR(CheckKeys(*it, path, {"allow", "deny", "description"}));
      KOS_ASSIGN_OR_RETURN(RuleSet * set, AddRuleSet(*it, path, subject));
      policy_->subject_sources[subject].push_back(RuleSource{set, subject});
    }
    // Bindings.
    for (auto it = bindings.begin(); it != bindings.end(); ++it) {
      std::string path = Child("bindings", it.key());
      absl::Status s = ValidateSubject(it.key());
      if (!s.ok()) return Error(path, s.message());
      if (!it->is_array()) {
        return Error(path, absl::StrCat("expected array of role names, got ", JsonTypeName(*it)));
      }
      std::vector<RuleSource>& sources = policy_->subject_sources[it.key()];
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& r = (*it)[i];
        std::string epath = absl::StrCat(path, "[", i, "]");
        if (!r.is_string())
          return Error(epath, absl::StrCat("expected string, got ", JsonTypeName(r)));
        auto c = policy_->role_closure.find(r.get<std::string>());
        if (c == policy_->role_closure.end()) {
          return Error(epath, absl::StrCat("unknown role '", Shown(r.get<std::string>()), "'"));
        }
        for (const RuleSource& src : c->second) Append(&sources, src);
      }
    }
    return std::shared_ptr<const AccessController::CompiledPolicy>(std::move(policy_));
  }

 private:
  static void Append(std::vector<RuleSource>* out, const RuleSource& src) {
    for (const RuleSource& have : *out) {
      if (have.set == src.set) return;
    }
    out->push_back(src);
  }

  absl::StatusOr<RuleSet*> AddRuleSet(const Json& obj, const std::string& path,
                                      std::string origin) {
    auto set = std::make_unique<RuleSet>();
    set->origin = std::move(origin);
    for (bool allow : {true, false}) {
      const char* key = allow ? "allow" : "deny";
      KOS_ASSIGN_OR_RETURN(std::vector<std::string> texts, StringArray(obj, key, path));
      RuleBucket& bucket = allow ? set->allow : set->deny;
      for (size_t i = 0; i < texts.size(); ++i) {
        if (++policy_->rule_count > limits_.max_rules) {
          return Error("policy", absl::StrCat("more than ", limits_.max_rules, " rules"));
        }
        auto p = PermissionPattern::Parse(texts[i]);
        if (!p.ok())
          return Error(absl::StrCat(Child(path, key), "[", i, "]"), p.status().message());
        CompiledRule rule{*std::move(p), i};
        const std::string& prefix = rule.pattern.impl().literal_prefix;
        if (prefix.empty()) {
          bucket.no_prefix.push_back(std::move(rule));
        } else {
          bucket.by_prefix[prefix].push_back(std::move(rule));
        }
      }
    }
    policy_->sets.push_back(std::move(set));
    return policy_->sets.back().get();
  }

  // Computes role_closure[name] depth-first; `stack` is the current
  // inheritance path, so meeting a role already on it is a cycle.
  absl::Status Close(const std::string& name, std::vector<std::string>* stack) {
    if (policy_->role_closure.contains(name)) return absl::OkStatus();
    for (const std::string& s : *stack) {
      if (s == name) {
        std::vector<std::string> cycle(std::find(stack->begin(), stack->end(), name), stack->end());
        cycle.push_back(name);
        return Error(Child(Child("roles", cycle.front()), "inherits"),
                     absl::StrCat("inheritance cycle ", absl::StrJoin(cycle, " -> ")));
      }
    }
    if (stack->size() >= kMaxInheritanceDepth) {
      return Error(Child(Child("roles", stack->front()), "inherits"),
                   absl::StrCat("inheritance deeper than ", kMaxInheritanceDepth, " levels"));
    }
    stack->push_back(name);
    std::vector<RuleSource> closure;
    std::string self = absl::StrCat("role:", name);
    closure.push_back(RuleSource{role_sets_.at(name), self});
    for (const std::string& parent : inherits_.at(name)) {
      KOS_RETURN_IF_ERROR(Close(parent, stack));
      for (const RuleSource& src : policy_->role_closure.at(parent)) {
        Append(&closure, RuleSource{src.set, absl::StrCat(src.via, " via ", self)});
      }
      if (closure.size() > kMaxClosure) {
        return Error(Child(Child("roles", name), "inherits"),
                     absl::StrCat("inherits more than ", kMaxClosure, " roles"));
      }
    }
    stack->pop_back();
    policy_->role_closure[name] = std::move(closure);
    return absl::OkStatus();
  }

  const PolicyLimits limits_;
  std::shared_ptr<AccessController::CompiledPolicy> policy_;
  absl::flat_hash_map<std::string, RuleSet*> role_sets_;
  absl::flat_hash_map<std::string, std::vector<std::string>> inherits_;
};

const CompiledRule* FirstIn(const std::vector<CompiledRule>& rules,
                            const ResourceSegments& resource, absl::string_view action) {
  for (const CompiledRule& r : rules) {
    if (MatchCompiled(r.pattern.impl(), resource, action)) return &r;
  }
  return nullptr;
}

}  // namespace

const CompiledRule* RuleBucket::FirstMatch(const ResourceSegments& resource,
                                           absl::string_view action) const {
  // Of all candidates, the one declared first wins, so Explain reports the
  // same rule whatever the index layout.
  const CompiledRule* best = FirstIn(no_prefix, resource, action);
  if (by_prefix.empty()) return best;
  auto consider = [&](absl::string_view prefix) {
    auto it = by_prefix.find(prefix);
    if (it == by_prefix.end()) return;
    const CompiledRule* r = FirstIn(it->second, resource, action);
    if (r != nullptr && (best == nullptr || r->index < best->index)) best = r;
  };
  // The resource's segments are contiguous views into one string, so each
  // boundary prefix is a view from the first segment's start.
  const char* begin = resource.front().data();
  for (absl::string_view seg : resource) {
    for (size_t pos = 0;; ++pos) {
      size_t slash = seg.find('/', pos);
      size_t end = slash == absl::string_view::npos ? seg.size() : slash;
      consider(absl::string_view(begin, static_cast<size_t>(seg.data() + end - begin)));
      if (slash == absl::string_view::npos) break;
      pos = slash;
    }
  }
  return best;
}

absl::StatusOr<std::shared_ptr<const AccessController::CompiledPolicy>> CompilePolicy(
    const Json& doc, const PolicyLimits& limits) {
  return Compiler(limits).Run(doc);
}

EvalOutcome Evaluate(const AccessController::CompiledPolicy& policy, absl::string_view subject,
                     absl::Span<const std::string> extra_roles, const ResourceSegments& resource,
                     absl::string_view action) {
  absl::InlinedVector<const RuleSource*, 8> sources;
  auto add = [&sources](const RuleSource& src) {
    for (const RuleSource* have : sources) {
      if (have->set == src.set) return;
    }
    sources.push_back(&src);
  };
  if (auto it = policy.subject_sources.find(subject); it != policy.subject_sources.end()) {
    for (const RuleSource& src : it->second) add(src);
  }
  for (const std::string& role : extra_roles) {
    if (auto it = policy.role_closure.find(role); it != policy.role_closure.end()) {
      for (const RuleSource& src : it->second) add(src);
    }
  }
  for (const RuleSource* src : sources) {
    if (const CompiledRule* r = src->set->deny.FirstMatch(resource, action)) {
      return EvalOutcome{AccessDecision::Effect::kDeny, r, &src->via};
    }
  }
  for (const RuleSource* src : sources) {
    if (const CompiledRule* r = src->set->allow.FirstMatch(resource, action)) {
      return EvalOutcome{AccessDecision::Effect::kAllow, r, &src->via};
    }
  }
  return EvalOutcome{};
}

}  // namespace kos
