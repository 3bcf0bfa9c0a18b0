#include "kos/config.h"

#include <sys/stat.h>

#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

constexpr char kSeed[] = R"({
  "environment": "production",
  "debug": false,
  "logging": {"level": "WARNING", "format": "json", "rotation": "daily"},
  "security": {"requireAuth": true, "encryptionKey": "env:KOS_MASTER_KEY", "sessionTimeout": 1800},
  "agents": {"maxConcurrent": 4, "defaultTimeout": "90s", "memoryLimit": "512MB"}
})";

TEST(ConfigTest, ParsesSeedFile) {
  auto c = ParseSystemConfig(kSeed, "system.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->environment, Environment::kProduction);
  EXPECT_EQ(c->logging.level, LogLevel::kWarning);
  EXPECT_EQ(c->security.encryption_key_ref, "env:KOS_MASTER_KEY");
  EXPECT_EQ(c->security.session_timeout, absl::Minutes(30));
  EXPECT_EQ(c->agents.max_concurrent, 4);
  EXPECT_EQ(c->agents.default_timeout, absl::Seconds(90));
  EXPECT_EQ(c->agents.memory_limit_bytes, 512ull << 20);
}

TEST(ConfigTest, DefaultsWhenFileMissing) {
  testing::TempDir dir;
  auto c = LoadSystemConfig(dir.path(), {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->environment, Environment::kDevelopment);
  EXPECT_EQ(c->agents.max_concurrent, 10);
  EXPECT_EQ(c->security.session_timeout, absl::Hours(1));
}

TEST(ConfigTest, EnvironmentOverrides) {
  EnvMap env{{"KOS_ENVIRONMENT", "staging"},     {"KOS_AGENTS_MAX_CONCURRENT", "32"},
             {"KOS_SESSION_TIMEOUT", "2h"},      {"KOS_LOG_LEVEL", "debug"},
             {"KOS_AGENTS_MEMORY_LIMIT", "1GB"}, {"KOS_REQUIRE_AUTH", "false"}};
  auto c = ParseSystemConfig(kSeed, "system.json", env);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->environment, Environment::kStaging);
  EXPECT_EQ(c->agents.max_concurrent, 32);
  EXPECT_EQ(c->security.session_timeout, absl::Hours(2));
  EXPECT_EQ(c->logging.level, LogLevel::kDebug);
  EXPECT_EQ(c->agents.memory_limit_bytes, 1ull << 30);
  EXPECT_FALSE(c->security.require_auth);
  auto bad = ParseSystemConfig("{}", "s", {{"KOS_AGENTS_MAX_CONCURRENT", "lots"}});
  EXPECT_EQ(
      bad.status().message(),
      "environment variable KOS_AGENTS_MAX_CONCURRENT: expected an integer 1..100000, got 'lots'");
}

struct BadCase {
  const char* json;
  const char* message;
};

TEST(ConfigTest, PreciseErrors) {
  const BadCase cases[] = {
      {R"({"agents":{"maxConcurrent":"ten"}})",
       "f.json: agents.maxConcurrent: expected integer, got string"},
      {R"({"agents":{"maxConcurrent":0}})",
       "f.json: agents.maxConcurrent: expected 1..100000, got 0"},
      {R"({"agnets":{}})", "f.json: agnets: unknown key"},
      {R"({"environment":"prod"})",
       "f.json: environment: expected development, staging or production, got 'prod'"},
      {R"({"logging":{"level":"LOUD"}})", "f.json: logging.level: unknown log level 'LOUD'"},
      {R"({"security":{"sessionTimeout":-5}})",
       "f.json: security.sessionTimeout: expected a positive number of seconds, got -5"},
      {R"({"agents":{"memoryLimit":"512XB"}})",
       "f.json: agents.memoryLimit: '512XB' has an unknown size unit 'XB'"},
      {R"({"debug":"yes"})", "f.json: debug: expected true or false, got string"},
      {"{\n  \"debug\": tru\n}", "f.json: invalid JSON at byte"},
      {R"([1,2])", "f.json: (root): expected object, got array"},
  };
  for (const auto& c : cases) {
    auto r = ParseSystemConfig(c.json, "f.json");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(r.status().message(), c.message))
        << "got: " << r.status().message() << "\nwant prefix: " << c.message;
  }
  auto r = ParseSystemConfig("{\n  \"debug\": tru\n}", "f.json");
  EXPECT_TRUE(absl::StrContains(r.status().message(), "line 2")) << r.status();
}

TEST(ConfigTest, LiteralEncryptionKeyRefusedWithoutEchoingIt) {
  auto r = ParseSystemConfig(R"({"security":{"encryptionKey":"hunter2-super-secret"}})", "f.json");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "must be a reference")) << r.status();
  EXPECT_FALSE(absl::StrContains(r.status().message(), "hunter2")) << r.status();
}

TEST(ConfigTest, ResolvesSecretReferences) {
  EXPECT_EQ(*ResolveSecretReference("env:MY_KEY", {{"MY_KEY", "abc"}}), "abc");
  EXPECT_EQ(ResolveSecretReference("env:NOPE", {}).status().code(), absl::StatusCode::kNotFound);
  testing::TempDir dir;
  std::string path = dir.File("key");
  std::ofstream(path) << "s3cret\n";
  ::chmod(path.c_str(), 0644);
  auto open = ResolveSecretReference("file:" + path, {});
  EXPECT_EQ(open.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(absl::StrContains(open.status().message(), "s3cret"));
  ::chmod(path.c_str(), 0600);
  EXPECT_EQ(*ResolveSecretReference("file:" + path, {}), "s3cret");
  EXPECT_EQ(ResolveSecretReference("s3cret", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("1 KiB"), 1024u);
  EXPECT_EQ(*ParseByteSize("2gb"), 2ull << 30);
  EXPECT_FALSE(ParseByteSize("").ok());
  EXPECT_FALSE(ParseByteSize("MB").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999999999TB").ok());
}

}  // namespace
}  // namespace kos
