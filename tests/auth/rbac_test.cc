#include "kos/rbac.h"

#include <atomic>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::testing::HasSubstr;
using Effect = AccessDecision::Effect;

std::unique_ptr<AccessController> OpenSeedPolicy(AccessControllerOptions options = {}) {
  options.policy_path = testing::TestDataPath("policies/auth-policies.json");
  auto ac = AccessController::Open(options);
  EXPECT_TRUE(ac.ok()) << ac.status();
  return ac.ok() ? *std::move(ac) : nullptr;
}

std::unique_ptr<AccessController> FromJson(const std::string& json) {
  auto ac = AccessController::Open();
  EXPECT_TRUE(ac.ok()) << ac.status();
  absl::Status s = (*ac)->LoadJson(json);
  EXPECT_TRUE(s.ok()) << s;
  return *std::move(ac);
}

AccessDecision ExplainOrDie(const AccessController& ac, const std::string& subject,
                            const std::string& resource, const std::string& action) {
  auto d = ac.Explain(subject, resource, action);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : AccessDecision{};
}

TEST(RbacTest, EmptyPolicyDeniesEverything) {
  auto ac = AccessController::Open();
  ASSERT_TRUE(ac.ok());
  absl::Status s = (*ac)->Check("user:alice", "memory:ns/alice", "read");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "user:alice may not read memory:ns/alice: no rule matched: default deny");
  EXPECT_EQ((*ac)->policy_generation(), 0u);
}

TEST(RbacTest, SeedPolicyRoleDecisions) {
  auto ac = OpenSeedPolicy();
  ASSERT_NE(ac, nullptr);
  EXPECT_EQ(ac->policy_generation(), 1u);
  // admin: '**:*' allows everything ...
  KOS_EXPECT_OK(ac->Check("user:alice", "vault:kv/team/db", "write"));
  KOS_EXPECT_OK(ac->Check("user:alice", "agents:kCore", "execute"));
  // ... except what its explicit deny names.
  absl::Status s = ac->Check("user:alice", "vault:kv/users/bob/password", "read");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "user:alice may not read vault:kv/users/bob/password: denied by rule "
            "'vault:kv/users/**:read' from role:admin");
  KOS_EXPECT_OK(ac->Check("user:alice", "vault:kv/users/bob/password", "write"));

  // bob: user (inherits base) + contractor.
  KOS_EXPECT_OK(ac->Check("user:bob", "memory:ns/shared/docs/a", "read"));
  KOS_EXPECT_OK(ac->Check("user:bob", "system:health", "read"));
  KOS_EXPECT_OK(ac->Check("user:bob", "memory:ns/projects/apollo", "write"));
  EXPECT_EQ(ac->Check("user:bob", "memory:ns/shared/docs/a", "write").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ac->Check("user:bob", "memory:ns/projects/secret", "read").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ac->Check("user:bob", "memory:ns/projects/apollo/deeper", "read").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ac->Check("user:bob", "vault:kv/team/db", "read").code(),
            absl::StatusCode::kPermissionDenied);

  KOS_EXPECT_OK(ac->Check("user:carol", "vault:kv/team/db/password", "read"));
  EXPECT_FALSE(ac->Check("user:carol", "vault:kv/other", "read").ok());
  KOS_EXPECT_OK(ac->Check("service:gateway", "system:health", "read"));

  // Unknown subjects get nothing.
  EXPECT_EQ(ac->Check("user:mallory", "system:health", "read").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(RbacTest, PerAgentPermissionsAndDenyOverridesRoleAllow) {
  auto ac = OpenSeedPolicy();
  ASSERT_NE(ac, nullptr);
  // Direct per-agent allow.
  AccessDecision d =
      ExplainOrDie(*ac, "agent:kPlanner", "memory:ns/agents/kPlanner/notes", "write");
  EXPECT_EQ(d.effect, Effect::kAllow);
  EXPECT_EQ(d.source, "agent:kPlanner");
  EXPECT_EQ(d.rule, "memory:ns/agents/kPlanner/**:write");
  EXPECT_FALSE(ac->Check("agent:kPlanner", "memory:ns/agents/kExecutor/notes", "write").ok());
  // From the bound role.
  d = ExplainOrDie(*ac, "agent:kPlanner", "agents:kExecutor", "execute");
  EXPECT_EQ(d.effect, Effect::kAllow);
  EXPECT_EQ(d.source, "role:planner");
  EXPECT_FALSE(ac->Check("agent:kPlanner", "agents:kCore", "execute").ok());
  // The agent's own deny overrides its role's allow.
  KOS_EXPECT_OK(ac->Check("agent:kPlanner", "memory:ns/plans/today", "write"));
  d = ExplainOrDie(*ac, "agent:kPlanner", "memory:ns/plans/archive/2024", "write");
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.source, "agent:kPlanner");
  EXPECT_EQ(d.rule, "memory:ns/plans/archive/**:write");
  KOS_EXPECT_OK(ac->Check("agent:kPlanner", "memory:ns/plans/archive/2024", "read"));
  // The same pattern in allow and deny: deny wins.
  d = ExplainOrDie(*ac, "agent:kExecutor", "tools:shell", "execute");
  EXPECT_EQ(d.effect, Effect::kDeny);
  // An agent without bindings has only its direct rules.
  KOS_EXPECT_OK(ac->Check("agent:kReviewer", "memory:ns/plans/x", "read"));
  EXPECT_FALSE(ac->Check("agent:kReviewer", "memory:ns/plans/x", "write").ok());
  // Agent rules belong to agent subjects only.
  EXPECT_FALSE(ac->Check("user:kReviewer", "memory:ns/plans/x", "read").ok());
}

TEST(RbacTest, ExplainNamesRoleRuleAndInheritancePath) {
  auto ac = OpenSeedPolicy();
  ASSERT_NE(ac, nullptr);
  AccessDecision d = ExplainOrDie(*ac, "user:bob", "system:health", "read");
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.source, "role:base via role:user");
  EXPECT_EQ(d.rule, "system:health:read");
  EXPECT_EQ(d.subject, "user:bob");
  EXPECT_EQ(d.resource, "system:health");
  EXPECT_EQ(d.action, "read");
  EXPECT_EQ(d.policy_generation, 1u);
  EXPECT_EQ(d.ToString(),
            "allow user:bob read system:health: rule 'system:health:read' (allow) from "
            "role:base via role:user");

  d = ExplainOrDie(*ac, "user:bob", "memory:ns/projects/secret", "write");
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.source, "role:contractor");
  EXPECT_EQ(d.rule, "memory:ns/projects/secret:*");
  EXPECT_EQ(d.ToString(),
            "deny user:bob write memory:ns/projects/secret: rule 'memory:ns/projects/secret:*' "
            "(deny) from role:contractor");

  d = ExplainOrDie(*ac, "user:nobody", "x:y", "read");
  EXPECT_EQ(d.effect, Effect::kDefaultDeny);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.rule, "");
  EXPECT_EQ(d.source, "");
  EXPECT_EQ(d.ToString(), "deny user:nobody read x:y: no rule matched: default deny");
}

TEST(RbacTest, ExplainReportsFirstMatchingRuleInDeclarationOrder) {
  auto ac = FromJson(R"({"roles":{"r":{"allow":["**:read","memory:**:read","memory:ns:read"]}},
                         "bindings":{"user:u":["r"]}})");
  AccessDecision d = ExplainOrDie(*ac, "user:u", "memory:ns", "read");
  EXPECT_EQ(d.rule, "**:read");  // declared first, though indexed in a different bucket
  ac = FromJson(R"({"roles":{"r":{"allow":["memory:ns:read","**:read"]}},
                    "bindings":{"user:u":["r"]}})");
  EXPECT_EQ(ExplainOrDie(*ac, "user:u", "memory:ns", "read").rule, "memory:ns:read");
}

TEST(RbacTest, PrefixIndexKeepsDeclarationOrder) {
  auto ac = FromJson(R"({"roles":{"r":{"allow":["x:a/b/*:read","x:a/*/c:read","x:a/b/c:read",
                         "x:**:read"]}},"bindings":{"user:u":["r"]}})");
  EXPECT_EQ(ExplainOrDie(*ac, "user:u", "x:a/b/c", "read").rule, "x:a/b/*:read");
  EXPECT_EQ(ExplainOrDie(*ac, "user:u", "x:a/z/c", "read").rule, "x:a/*/c:read");
  EXPECT_EQ(ExplainOrDie(*ac, "user:u", "x:q", "read").rule, "x:**:read");
}

// The indexed evaluator must agree with a plain scan of PermissionPattern::Matches
// over random patterns and resources from a small alphabet (dense collisions).
TEST(RbacTest, IndexedEvaluationAgreesWithLinearScan) {
  std::mt19937 rng(7);
  const char* comps[] = {"a", "b", "ab", "*", "a*", "*b", "**"};
  const char* lits[] = {"a", "b", "ab", "ba", "aab"};
  auto pattern = [&] {
    std::string p;
    int segs = 1 + rng() % 3;
    for (int s = 0; s < segs; ++s) {
      if (s) p += ':';
      int n = 1 + rng() % 3;
      for (int c = 0; c < n; ++c) {
        std::string comp = comps[rng() % 7];
        if (comp == "**" && !(c == n - 1)) comp = "*";
        if (comp == "**" && n == 1 && rng() % 2) comp = "a";
        if (c) p += '/';
        p += comp;
      }
    }
    return p + (rng() % 3 ? ":read" : ":*");
  };
  int allowed = 0, denied = 0;
  for (int round = 0; round < 20; ++round) {
    std::vector<PermissionPattern> allow, deny;
    std::string json = R"({"roles":{"r":{"allow":[)";
    for (int i = 0; i < 30; ++i) {
      std::string p = pattern();
      auto parsed = PermissionPattern::Parse(p);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      allow.push_back(*parsed);
      absl::StrAppend(&json, i ? "," : "", "\"", p, "\"");
    }
    json += R"(],"deny":[)";
    for (int i = 0; i < 5; ++i) {
      std::string p = pattern();
      deny.push_back(*PermissionPattern::Parse(p));
      absl::StrAppend(&json, i ? "," : "", "\"", p, "\"");
    }
    json += R"(]}},"bindings":{"user:u":["r"]}})";
    auto ac = FromJson(json);
    for (int q = 0; q < 300; ++q) {
      std::string res;
      int segs = 1 + rng() % 4;
      for (int s = 0; s < segs; ++s) {
        if (s) res += ':';
        int n = 1 + rng() % 3;
        for (int c = 0; c < n; ++c) res += std::string(c ? "/" : "") + lits[rng() % 5];
      }
      std::string action = rng() % 2 ? "read" : "write";
      bool want = false;
      for (const auto& p : allow) want |= p.Matches(res, action);
      for (const auto& p : deny) want &= !p.Matches(res, action);
      EXPECT_EQ(ac->Check("user:u", res, action).ok(), want) << res << " " << action << "\n"
                                                             << json;
      (want ? allowed : denied)++;
    }
  }
  // Both outcomes must be common, or the comparison proves little.
  EXPECT_GT(allowed, 500);
  EXPECT_GT(denied, 500);
}

TEST(RbacTest, ExtraRolesFromTokens) {
  auto ac = OpenSeedPolicy();
  ASSERT_NE(ac, nullptr);
  std::vector<std::string> roles = {"team-vault"};
  EXPECT_FALSE(ac->Check("user:bob", "vault:kv/team/x", "read").ok());
  KOS_EXPECT_OK(ac->CheckWithRoles("user:bob", roles, "vault:kv/team/x", "read"));
  AccessDecision d = *ac->ExplainWithRoles("user:bob", roles, "vault:kv/team/x", "read");
  EXPECT_EQ(d.source, "role:team-vault");
  // The bound roles' denies still apply with extra roles.
  std::vector<std::string> admin = {"admin"};
  EXPECT_EQ(ac->CheckWithRoles("user:bob", admin, "memory:ns/projects/secret", "read").code(),
            absl::StatusCode::kPermissionDenied);
  std::vector<std::string> ghost = {"no-such-role", ""};
  EXPECT_FALSE(ac->CheckWithRoles("user:bob", ghost, "vault:kv/team/x", "read").ok());
}

TEST(RbacTest, AuditHookSeesChecksButNotExplains) {
  absl::Mutex mu;
  std::vector<AccessDecision> seen;
  AccessControllerOptions options;
  options.audit = [&](const AccessDecision& d) {
    absl::MutexLock l(&mu);
    seen.push_back(d);
  };
  auto ac = OpenSeedPolicy(options);
  ASSERT_NE(ac, nullptr);
  KOS_EXPECT_OK(ac->Check("user:alice", "agents:kCore", "execute"));
  EXPECT_FALSE(ac->Check("user:bob", "vault:kv/x", "read").ok());
  ASSERT_TRUE(ac->Explain("user:bob", "vault:kv/x", "read").ok());
  EXPECT_FALSE(ac->Check("", "vault:kv/x", "read").ok());  // invalid: not a decision
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].effect, Effect::kAllow);
  EXPECT_EQ(seen[0].source, "role:admin");
  EXPECT_EQ(seen[1].effect, Effect::kDefaultDeny);
  EXPECT_EQ(seen[1].subject, "user:bob");

  seen.clear();
  options.audit_allowed = false;
  auto denials_only = OpenSeedPolicy(options);
  KOS_EXPECT_OK(denials_only->Check("user:alice", "agents:kCore", "execute"));
  EXPECT_FALSE(denials_only->Check("user:alice", "vault:kv/users/x", "read").ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].effect, Effect::kDeny);
}

struct PolicyErrorCase {
  std::string json;
  std::string message;
};

TEST(RbacTest, PolicyErrorsArePrecise) {
  const PolicyErrorCase cases[] = {
      {R"([])", "policy: expected object, got array"},
      {R"({"role":{}})",
       "policy: unknown key 'role' (expected one of: version, description, roles, bindings, "
       "agents)"},
      {R"({"version":2})", "version: unsupported policy version 2 (expected 1)"},
      {R"({"version":"1"})", "version: unsupported policy version \"1\" (expected 1)"},
      {R"({"roles":[]})", "roles: expected object, got array"},
      {R"({"roles":{"admin":[]}})", "roles.admin: expected object, got array"},
      {R"({"roles":{"bad name":{}}})",
       "roles[\"bad name\"]: invalid role name (expected 1-128 of [A-Za-z0-9_.-])"},
      {R"({"roles":{"admin":{"allow":"**:*"}}})",
       "roles.admin.allow: expected array of strings, got string"},
      {R"({"roles":{"admin":{"allow":["a:b","c:d",3]}}})",
       "roles.admin.allow[2]: expected string, got integer"},
      {R"({"roles":{"admin":{"allow":["a:b","c:d","x"]}}})",
       "roles.admin.allow[2]: invalid permission pattern 'x': expected 'resource:action' (no ':' "
       "found)"},
      {R"({"roles":{"admin":{"deny":["memory::read"]}}})",
       "roles.admin.deny[0]: invalid permission pattern 'memory::read': segment 2 is empty"},
      {R"({"roles":{"admin":{"alow":[]}}})",
       "roles.admin: unknown key 'alow' (expected one of: allow, deny, inherits, description)"},
      {R"({"roles":{"admin":{"inherits":["ghost"]}}})",
       "roles.admin.inherits[0]: unknown role 'ghost'"},
      {R"({"roles":{"a":{"inherits":["a"]}}})", "roles.a.inherits: inheritance cycle a -> a"},
      {R"({"roles":{"a":{}},"bindings":{"alice":["a"]}})",
       "bindings.alice: subject 'alice' must be user:<name>, agent:<name> or service:<name>"},
      {R"({"roles":{"a":{}},"bindings":{"user:alice":"a"}})",
       "bindings[\"user:alice\"]: expected array of role names, got string"},
      {R"({"roles":{"a":{}},"bindings":{"user:alice":["a",1]}})",
       "bindings[\"user:alice\"][1]: expected string, got integer"},
      {R"({"agents":{"kPlanner":{"allow":["memory:ns:read"],"deny":["x:*:y*"]}}})",
       "agents.kPlanner.deny[0]: invalid permission pattern 'x:*:y*': action 'y*' must be '*' or "
       "letters, digits, '_', '-', '.'"},
      {R"({"agents":{"kPlanner":{"inherits":[]}}})",
       "agents.kPlanner: unknown key 'inherits' (expected one of: allow, deny, description)"},
      {R"({"agents":{"a:b":{}}})",
       "agents[\"a:b\"]: invalid agent name (1-128 printable characters, no ':' or '*')"},
      {R"({"agents":{"kPlanner":[]}})", "agents.kPlanner: expected object, got array"},
  };
  for (const PolicyErrorCase& c : cases) {
    auto ac = AccessController::Open();
    ASSERT_TRUE(ac.ok());
    absl::Status s = (*ac)->LoadJson(c.json);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_EQ(s.message(), c.message) << c.json;
    EXPECT_EQ((*ac)->policy_generation(), 0u);
  }
}

TEST(RbacTest, PolicyFileFixturesFailWithFileAndKey) {
  struct Case {
    std::string file;
    std::string message;
  };
  const Case cases[] = {
      {"bad_pattern.json",
       "roles.a.allow[2]: invalid permission pattern 'x': expected 'resource:action' (no ':' "
       "found)"},
      {"cycle.json", "roles.a.inherits: inheritance cycle a -> b -> c -> a"},
      {"unknown_role.json", "bindings[\"user:alice\"][1]: unknown role 'ghost'"},
      {"unknown_key.json",
       "roles.a: unknown key 'alow' (expected one of: allow, deny, inherits, description)"},
      {"malformed.json", "invalid JSON at byte"},
  };
  for (const Case& c : cases) {
    std::string path = testing::TestDataPath("policies/" + c.file);
    AccessControllerOptions options;
    options.policy_path = path;
    auto ac = AccessController::Open(options);
    ASSERT_FALSE(ac.ok()) << c.file;
    EXPECT_EQ(ac.status().code(), absl::StatusCode::kInvalidArgument) << c.file;
    EXPECT_THAT(std::string(ac.status().message()), HasSubstr(path + ": " + c.message));
  }
  AccessControllerOptions missing;
  missing.policy_path = testing::TestDataPath("policies/does-not-exist.json");
  EXPECT_EQ(AccessController::Open(missing).status().code(), absl::StatusCode::kNotFound);
}

TEST(RbacTest, LongerCycleThroughSharedParentIsFoundButDiamondIsFine) {
  auto ac = AccessController::Open();
  ASSERT_TRUE(ac.ok());
  // A diamond (d inherits b and c, both inherit a) is not a cycle.
  KOS_EXPECT_OK((*ac)->LoadJson(R"({"roles":{"a":{"allow":["x:y:read"]},"b":{"inherits":["a"]},
      "c":{"inherits":["a"]},"d":{"inherits":["b","c"]}},"bindings":{"user:u":["d"]}})"));
  AccessDecision d = ExplainOrDie(**ac, "user:u", "x:y", "read");
  EXPECT_EQ(d.source, "role:a via role:b via role:d");
  absl::Status s = (*ac)->LoadJson(
      R"({"roles":{"z":{"inherits":["p"]},"p":{"inherits":["q"]},"q":{"inherits":["p"]}}})");
  EXPECT_EQ(s.message(), "roles.p.inherits: inheritance cycle p -> q -> p");
}

TEST(RbacTest, DeepInheritanceIsRefused) {
  std::string json = R"({"roles":{)";
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&json, i ? "," : "", "\"r", i, "\":{\"inherits\":[\"r", i + 1, "\"]}");
  }
  absl::StrAppend(&json, ",\"r100\":{}}}");
  auto ac = AccessController::Open();
  absl::Status s = (*ac)->LoadJson(json);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("inheritance deeper than 64 levels"));
}

TEST(RbacTest, FailedReloadKeepsThePreviousPolicy) {
  auto ac = OpenSeedPolicy();
  ASSERT_NE(ac, nullptr);
  EXPECT_FALSE(ac->LoadJson(R"({"roles":{"a":{"inherits":["a"]}}})").ok());
  EXPECT_FALSE(ac->LoadJson("{not json").ok());
  EXPECT_FALSE(ac->LoadFile("/nonexistent/policy.json").ok());
  EXPECT_EQ(ac->policy_generation(), 1u);
  KOS_EXPECT_OK(ac->Check("user:alice", "agents:kCore", "execute"));
  KOS_ASSERT_OK(ac->LoadJson(R"({})"));
  EXPECT_EQ(ac->policy_generation(), 2u);
  EXPECT_FALSE(ac->Check("user:alice", "agents:kCore", "execute").ok());
}

TEST(RbacTest, HostileRequestsAreInvalidArgumentNotDecisions) {
  auto ac = OpenSeedPolicy();
  ASSERT_NE(ac, nullptr);
  struct Req {
    std::string subject, resource, action, message;
  };
  const Req reqs[] = {
      {"", "x:y", "read", "subject is empty"},
      {"alice", "x:y", "read", "must be user:<name>"},
      {"user:alice", "", "read", "resource is empty"},
      {"user:alice", "x:y", "", "action is empty"},
      {"user:alice", "x:*", "read", "wildcards are only allowed in patterns"},
      {"user:alice", "x::y", "read", "empty segment"},
      {"user:alice", "x:y", "*", "may hold only"},
      {"user:alice", std::string(1 << 20, 'a'), "read", "the limit is 4096"},
      {std::string(1 << 20, 'u'), "x:y", "read", "the limit is 512"},
      {"user:alice", std::string("x:\0y", 4), "read", "contains byte 0x0"},
  };
  for (const Req& r : reqs) {
    absl::Status s = ac->Check(r.subject, r.resource, r.action);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << r.message;
    EXPECT_THAT(std::string(s.message()), HasSubstr(r.message));
    EXPECT_LT(s.message().size(), 400u);
    EXPECT_EQ(ac->Explain(r.subject, r.resource, r.action).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(RbacTest, HostilePolicyDocuments) {
  AccessControllerOptions options;
  options.max_rules = 10;
  options.max_policy_bytes = 4096;
  auto ac = AccessController::Open(options);
  ASSERT_TRUE(ac.ok());
  std::string many = R"({"roles":{"r":{"allow":[)";
  for (int i = 0; i < 11; ++i) absl::StrAppend(&many, i ? "," : "", "\"x:y", i, ":read\"");
  many += "]}}}";
  EXPECT_EQ((*ac)->LoadJson(many).message(), "policy: more than 10 rules");
  EXPECT_THAT(std::string((*ac)->LoadJson(std::string(5000, ' ')).message()),
              HasSubstr("the limit is 4096"));
  EXPECT_THAT(std::string((*ac)->LoadJson(std::string(200, '[') + std::string(200, ']')).message()),
              HasSubstr("nesting deeper than"));
  EXPECT_THAT(std::string((*ac)->LoadJson(R"({"roles":{},"roles":{}})").message()),
              HasSubstr("duplicate object key 'roles'"));
  EXPECT_THAT(std::string((*ac)->LoadJson("").message()), HasSubstr("invalid JSON"));
  EXPECT_THAT(std::string((*ac)->LoadJson("\"\xff\"").message()), HasSubstr("invalid JSON"));
  std::string huge_pattern =
      R"({"roles":{"r":{"allow":[")" + std::string(3000, 'a') + R"(:read"]}}})";
  EXPECT_THAT(std::string((*ac)->LoadJson(huge_pattern).message()),
              HasSubstr("roles.r.allow[0]: invalid permission pattern 'aaaa"));
  EXPECT_EQ((*ac)->policy_generation(), 0u);

  testing::TempDir dir;
  std::string big = dir.File("big.json");
  std::ofstream(big) << std::string(5000, ' ');
  EXPECT_THAT(std::string((*ac)->LoadFile(big).message()), HasSubstr("the limit is 4096"));
  EXPECT_FALSE((*ac)->LoadFile(dir.path()).ok());  // a directory
}

TEST(RbacTest, ThousandRulesStillDecideCorrectly) {
  std::string json = R"({"roles":{"r":{"allow":[)";
  for (int i = 0; i < 1000; ++i) {
    absl::StrAppend(&json, i ? "," : "", "\"type", i % 10, ":ns/u", i, "/*:read\"");
  }
  json += R"(],"deny":["type3:ns/u503/secret:read"]}},"bindings":{"user:u":["r"]}})";
  auto ac = FromJson(json);
  KOS_EXPECT_OK(ac->Check("user:u", "type0:ns/u0/x", "read"));
  KOS_EXPECT_OK(ac->Check("user:u", "type9:ns/u999/x", "read"));
  EXPECT_FALSE(ac->Check("user:u", "type9:ns/u998/x", "read").ok());  // u998 is type8
  EXPECT_FALSE(ac->Check("user:u", "type3:ns/u503/secret", "read").ok());
  KOS_EXPECT_OK(ac->Check("user:u", "type3:ns/u503/public", "read"));
  EXPECT_EQ(ExplainOrDie(*ac, "user:u", "type7:ns/u507/a", "read").rule, "type7:ns/u507/*:read");
}

TEST(RbacTest, ChecksDuringReloadsSeeOnePolicyOrTheOther) {
  const std::string allow = R"({"roles":{"r":{"allow":["x:**:*"]}},"bindings":{"user:u":["r"]}})";
  const std::string deny =
      R"({"roles":{"r":{"allow":["x:**:*"],"deny":["x:**:write"]}},"bindings":{"user:u":["r"]}})";
  auto ac = FromJson(allow);  // generation 1 (odd): allow; even: deny
  std::atomic<bool> stop{false};
  std::atomic<int> inconsistent{0}, checks{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto d = ac->Explain("user:u", "x:a/b", "write");
        if (!d.ok() || d->allowed() != (d->policy_generation % 2 == 1)) ++inconsistent;
        ++checks;
      }
    });
  }
  // Keep reloading until the readers, however they are scheduled, have
  // overlapped with many reloads.
  int loads = 0;
  while (loads < 200 || checks.load() < 2000) {
    ASSERT_TRUE(ac->LoadJson(loads % 2 == 0 ? deny : allow).ok());
    ++loads;
    if (loads % 50 == 0) std::this_thread::yield();
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_EQ(ac->policy_generation(), static_cast<uint64_t>(loads) + 1);
}

}  // namespace
}  // namespace kos
