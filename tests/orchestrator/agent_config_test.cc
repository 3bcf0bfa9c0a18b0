#include "kos/agent_config.h"

#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kos/rbac.h"
#include "testing/test_util.h"

namespace kos {
namespace {

TEST(AgentConfigTest, ShippedExampleTreeLoadsAllEightAgents) {
  auto agents = LoadAgentProfiles(testing::SourcePath("deploy/config/agents"));
  ASSERT_TRUE(agents.ok()) << agents.status();
  std::vector<std::string> names;
  for (const auto& a : *agents) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"kCore", "kPlanner", "kExecutor", "kReviewer",
                                             "kSentinel", "kMemory", "kPersona", "kBridge"}));
  const AgentProfile& planner = (*agents)[1];
  EXPECT_EQ(planner.profile, "dev");
  EXPECT_EQ(planner.limits.timeout, absl::Seconds(120));
  EXPECT_EQ(planner.limits.max_concurrency, 4);
  EXPECT_EQ(planner.limits.memory_limit_bytes, 256ull << 20);
  EXPECT_EQ((*agents)[2].profile, "web");
  EXPECT_EQ((*agents)[7].handler, "bridge");
}

struct Bad {
  const char* json;
  const char* message;
};

TEST(AgentConfigTest, ProfileErrorsArePrecise) {
  const Bad cases[] = {
      {R"({"type":"x"})", "p.json: name: missing"},
      {R"({"name":"kA","type":"x","limits":{"timeout":"soon"}})",
       "p.json: limits.timeout: expected positive seconds"},
      {R"({"name":"kA","type":"x","limits":{"maxConcurrency":0}})",
       "p.json: limits.maxConcurrency: expected an integer 1..100000"},
      {R"({"name":"kA","type":"x","limits":{"memoryLimit":"lots"}})",
       "p.json: limits.memoryLimit:"},
      {R"({"name":"kA","type":"x","permissions":["nocolon"]})",
       "p.json: permissions[0]: 'nocolon' is not a permission pattern"},
      {R"({"name":"kA","type":"x","handler":"python"})",
       "p.json: handler: expected native, bridge or memory"},
      {R"({"name":"kA","type":"x","colour":"blue"})", "p.json: colour: unknown key"},
      {R"({"name":"kA","type":"x","model":{"apiKey":"sk-123"}})",
       "p.json: model.apiKey: secrets do not belong"},
      {R"({"name":"1A","type":"x"})", "p.json: name: agent name '1A' must start with a letter"},
      {R"({"name":"kOther","type":"x"})",
       "p.json: name: 'kOther' does not match the manifest entry 'kA'"},
  };
  for (const auto& c : cases) {
    auto r = ParseAgentProfile(c.json, "p.json", "kA", "");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_TRUE(absl::StartsWith(r.status().message(), c.message))
        << "got: " << r.status().message() << "\nwant: " << c.message;
    EXPECT_FALSE(absl::StrContains(r.status().message(), "sk-123"));
  }
}

TEST(AgentConfigTest, ManifestErrorsNameTheFile) {
  testing::TempDir dir;
  std::ofstream(dir.File("manifest.json")) << R"({"agents":[{"name":"kA","profile":"dev"}]})";
  auto r = LoadAgentProfiles(dir.path());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "kA:dev.json")) << r.status();

  std::ofstream(dir.File("kA:dev.json")) << R"({"name":"kA","type":"t","limits":{"timeout":-1}})";
  r = LoadAgentProfiles(dir.path());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "kA:dev.json: limits.timeout")) << r.status();

  std::ofstream(dir.File("manifest.json"))
      << R"({"agents":[{"name":"kA","profile":"dev"},{"name":"kA","profile":"dev"}]})";
  std::ofstream(dir.File("kA:dev.json")) << R"({"name":"kA","type":"t"})";
  r = LoadAgentProfiles(dir.path());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "duplicate agent 'kA'")) << r.status();

  std::ofstream(dir.File("manifest.json")) << R"({"agents":[{"name":"../etc","profile":"dev"}]})";
  EXPECT_EQ(LoadAgentProfiles(dir.path()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos

namespace kos {
namespace {

// The shipped policy grants each agent what its profile lists.
TEST(AgentConfigTest, ShippedPolicyMatchesTheAgents) {
  auto access = AccessController::Open().value();
  ASSERT_TRUE(
      access->LoadFile(testing::SourcePath("deploy/config/security/auth-policies.json")).ok());
  EXPECT_TRUE(access->Check("agent:kCore", "agents:kPlanner", "execute").ok());
  EXPECT_TRUE(access->Check("agent:kPlanner", "agents:kExecutor", "execute").ok());
  EXPECT_FALSE(access->Check("agent:kPlanner", "agents:kSentinel", "execute").ok());
  EXPECT_TRUE(access->Check("agent:kBridge", "vault:kv/bridge/openai", "read").ok());
  EXPECT_FALSE(access->Check("agent:kBridge", "vault:kv/team/openai", "read").ok());
  EXPECT_TRUE(access->Check("user:admin", "agents:kCore", "execute").ok());
  EXPECT_FALSE(access->Check("user:admin", "vault:kv/users/bob", "read").ok());
}

}  // namespace
}  // namespace kos
