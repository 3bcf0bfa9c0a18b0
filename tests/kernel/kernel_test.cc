// The Kernel built from the shipped deploy/config tree: wiring, persistence
// across reopen, and the master-key rules.
#include "kos/kernel.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "kos/status.h"
#include "testing/test_util.h"

namespace kos {
namespace {

namespace fs = std::filesystem;

class KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy(testing::SourcePath("deploy/config"), dir_.File("config"),
             fs::copy_options::recursive);
  }
  KernelOptions Options(EnvMap env = {}) {
    KernelOptions o;
    o.config_dir = dir_.File("config");
    o.data_dir = dir_.File("data");
    o.logs_dir = dir_.File("logs");
    o.env = std::move(env);
    o.password_hashing = PasswordHasherOptions::Minimum();
    o.development_handlers = true;
    return o;
  }
  testing::TempDir dir_;
};

TEST_F(KernelTest, AdminLogsInAndKeysSurviveReopen) {
  std::string token, jwks;
  std::string pw_file = dir_.File("admin.password");
  {
    auto k = Kernel::Open(Options());
    ASSERT_TRUE(k.ok()) << k.status();
    EXPECT_EQ((*k)->agents().size(), 8u);
    auto created = (*k)->EnsureAdmin("admin", pw_file);
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_TRUE(*created);
    struct stat st;
    ASSERT_EQ(::stat(pw_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string pw = testing::ReadFileOrDie(pw_file);
    pw.pop_back();
    auto tokens = (*k)->auth()->Login("admin", pw, "127.0.0.1");
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    token = tokens->access_token;
    auto principal = (*k)->auth()->Validate(token);
    ASSERT_TRUE(principal.ok()) << principal.status();
    ASSERT_TRUE(principal->user.has_value());
    EXPECT_EQ(principal->user->username, "admin");
    EXPECT_TRUE((*k)->access()
                    ->CheckWithRoles(absl::StrCat("user:", principal->user->id),
                                     principal->user->roles, "agents:kPlanner", "execute")
                    .ok());
    jwks = DumpJson((*k)->keyring()->Jwks());
    // A second call neither recreates the user nor touches the file.
    EXPECT_FALSE(*(*k)->EnsureAdmin("admin", pw_file));
    // The development master key was written with owner-only access.
    ASSERT_EQ(::stat(dir_.File("data/master.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 077, 0u);
    ASSERT_TRUE((*k)->Shutdown().ok());
  }
  auto k = Kernel::Open(Options());
  ASSERT_TRUE(k.ok()) << k.status();
  // Signing keys persist (wrapped by the vault); sessions live in the
  // Ephemeral store, which is in-process here, so the old session is gone.
  EXPECT_EQ(DumpJson((*k)->keyring()->Jwks()), jwks);
  EXPECT_EQ((*k)->auth()->Validate(token).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(*(*k)->EnsureAdmin("admin", pw_file));
}

TEST_F(KernelTest, KernelSignedTaskRunsAndReplayIsRefused) {
  auto k = Kernel::Open(Options());
  ASSERT_TRUE(k.ok()) << k.status();
  TaskRequest req;
  req.audience = "kCore";
  req.payload = {{"input", {{"goal", "say hello"}}}};
  auto env = (*k)->task_signer()->Sign(req);
  ASSERT_TRUE(env.ok()) << env.status();
  auto id = (*k)->orchestrator()->Submit(env->text);
  ASSERT_TRUE(id.ok()) << id.status();
  auto done = (*k)->orchestrator()->Wait(*id, absl::Seconds(20));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  EXPECT_EQ(done->output["input"]["goal"], "say hello");
  // The same envelope again is a replay: refused, and recorded as a security event.
  auto again = (*k)->orchestrator()->Submit(env->text);
  EXPECT_FALSE(again.ok());
  (*k)->telemetry()->Flush();
  LogQuery q;
  q.stream = LogStream::kSecurity;
  bool found = false;
  for (const LogRecord& r : (*k)->telemetry()->QueryLogs(q)) {
    if (absl::StrCat(r.event, DumpJson(r.fields)).find("task.rejected") != std::string::npos)
      found = true;
  }
  EXPECT_TRUE(found) << "no task.rejected event in the security stream";
  auto chain = (*k)->audit()->VerifyChain();
  EXPECT_TRUE(chain.ok()) << chain.status();
}

TEST_F(KernelTest, MemoryAgentStoresAndSearches) {
  auto k = Kernel::Open(Options());
  ASSERT_TRUE(k.ok()) << k.status();
  auto run = [&](Json input) -> absl::StatusOr<TaskInfo> {
    TaskRequest req;
    req.audience = "kMemory";
    req.payload = {{"input", std::move(input)}};
    KOS_ASSIGN_OR_RETURN(SignedEnvelope env, (*k)->task_signer()->Sign(req));
    KOS_ASSIGN_OR_RETURN(std::string id, (*k)->orchestrator()->Submit(env.text));
    return (*k)->orchestrator()->Wait(id, absl::Seconds(20));
  };
  auto added =
      run({{"op", "add"}, {"namespace", "shared/notes"}, {"text", "the launch is on friday"}});
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->state, TaskState::kSucceeded) << added->error;
  auto found =
      run({{"op", "search"}, {"namespace", "shared/notes"}, {"text", "when is the launch"}});
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->state, TaskState::kSucceeded) << found->error;
  ASSERT_FALSE(found->output["hits"].empty());
  EXPECT_EQ(found->output["hits"][0]["text"], "the launch is on friday");
  // A namespace name that tries to climb out of its tree is refused, not retried.
  auto denied = run({{"op", "search"}, {"namespace", "../secret"}, {"text", "x"}});
  ASSERT_TRUE(denied.ok()) << denied.status();
  EXPECT_EQ(denied->state, TaskState::kFailed);

  // Closing saves the index; a reopened kernel loads it and still finds the record.
  k->reset();
  EXPECT_FALSE(fs::is_empty(dir_.File("data/memory-index")));
  auto k2 = Kernel::Open(Options());
  ASSERT_TRUE(k2.ok()) << k2.status();
  SearchRequest sr;
  sr.ns = "shared/notes";
  sr.text = "when is the launch";
  sr.k = 1;
  auto hits = (*k2)->memory()->Search(sr);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].record.text, "the launch is on friday");
}

TEST_F(KernelTest, OneOrchestratorPerDataDirectory) {
  auto first = Kernel::Open(Options());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Kernel::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  // A tool that does not run tasks opens next to it and sees the same data.
  KernelOptions tool = Options();
  tool.run_orchestrator = false;
  auto third = Kernel::Open(tool);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ((*third)->orchestrator(), nullptr);
  ASSERT_TRUE((*first)->vault()->Put("test", "kv/app/shared", "v1").ok());
  auto got = (*third)->vault()->Get("test", "kv/app/shared");
  ASSERT_TRUE(got.ok()) << got.status();
  // Closing the first releases the lock.
  first->reset();
  EXPECT_TRUE(Kernel::Open(Options()).ok());
}

TEST_F(KernelTest, ProductionRequiresAMasterKey) {
  EnvMap env{{"KOS_ENVIRONMENT", "production"}};
  auto k = Kernel::Open(Options(env));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kFailedPrecondition) << k.status();
  EXPECT_NE(k.status().message().find("KOS_MASTER_KEY"), std::string::npos) << k.status();

  env["KOS_MASTER_KEY"] = "not base64 of 32 bytes";
  k = Kernel::Open(Options(env));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument) << k.status();
  EXPECT_EQ(k.status().message().find("not base64"), std::string::npos)
      << "the error must not echo the key material";

  env["KOS_MASTER_KEY"] = Base64UrlEncode(std::string(SecretBytes::Random(32).view()));
  k = Kernel::Open(Options(env));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_FALSE(fs::exists(dir_.File("data/master.key")));
  ASSERT_TRUE((*k)->vault()->Put("test", "kv/app/x", "v").ok());
}

TEST_F(KernelTest, BadAgentProfileNamesTheFile) {
  std::ofstream(dir_.File("config/agents/kPlanner:dev.json"))
      << R"({"name": "kPlanner", "limits": 3})";
  auto k = Kernel::Open(Options());
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(k.status().message().find("kPlanner:dev.json"), std::string::npos) << k.status();
}

}  // namespace
}  // namespace kos
