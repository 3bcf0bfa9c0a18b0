// The kMemory handler over a real Memory (memory store, hashing embedder),
// run by the orchestrator with an access policy.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "kos/agent_handlers.h"
#include "kos/embedder.h"
#include "kos/memory.h"
#include "kos/orchestrator.h"
#include "orchestrator/orchestrator_testing.h"

namespace kos {
namespace {

using testing::Agent;
using testing::SigningSetup;

class MemoryHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStore("memory:").value();
    HashingEmbedderOptions eo;
    eo.dimension = 64;
    embedder_ = HashingEmbedder::Open(eo).value();
    MemoryOptions mo;
    mo.store = store_.get();
    mo.embedder = embedder_.get();
    memory_ = Memory::Open(mo).value();
    for (const char* ns : {"user/alice", "user/bob", "shared"}) {
      NamespaceConfig nc;
      nc.name = ns;
      ASSERT_TRUE(memory_->CreateNamespace(nc).ok());
    }
    access_ = AccessController::Open().value();
    ASSERT_TRUE(access_
                    ->LoadJson(R"({"agents": {
      "kCore": {"allow": ["agents:kMemory:execute"]},
      "kMemory": {"allow": ["memory:ns/user/alice:*", "memory:ns/new/**:*",
                            "memory:ns/shared:read"]}}})")
                    .ok());
    signing_ = SigningSetup::Make(store_.get(), Clock::Real());
    OrchestratorOptions o;
    o.store = store_.get();
    o.keys = signing_.keys.get();
    o.access = access_.get();
    o.agents = {Agent("kMemory")};
    o.max_concurrent = 2;
    orch_ = Orchestrator::Open(o).value();
  }

  void Register(MemoryHandlerOptions options = {}) {
    auto h = MakeMemoryHandler(memory_.get(), std::move(options));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(orch_->RegisterHandler("kMemory", *std::move(h)).ok());
  }

  // Runs one kMemory task to its end.
  TaskInfo Run(Json input) {
    auto id = orch_->Submit(signing_.Sign("kMemory", {{"input", std::move(input)}}));
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return TaskInfo{};
    auto t = orch_->Wait(*id, absl::Seconds(20));
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : TaskInfo{};
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<HashingEmbedder> embedder_;
  std::unique_ptr<Memory> memory_;
  std::unique_ptr<AccessController> access_;
  SigningSetup signing_;
  std::unique_ptr<Orchestrator> orch_;
};

TEST_F(MemoryHandlerTest, AddsThenSearchesAndRecalls) {
  Register();
  TaskInfo a = Run({{"op", "add"},
                    {"namespace", "user/alice"},
                    {"text", "the deploy key rotates every monday"},
                    {"metadata", {{"topic", "ops"}}},
                    {"importance", 0.9}});
  ASSERT_EQ(a.state, TaskState::kSucceeded) << a.error;
  std::string id = a.output["id"].get<std::string>();
  TaskInfo b = Run({{"op", "add"},
                    {"namespace", "user/alice"},
                    {"text", "lunch is at noon on fridays"},
                    {"metadata", {{"topic", "life"}}}});
  ASSERT_EQ(b.state, TaskState::kSucceeded) << b.error;
  EXPECT_EQ(memory_->Get("user/alice", id).value().metadata["topic"], "ops");

  TaskInfo s = Run({{"op", "search"},
                    {"namespace", "user/alice"},
                    {"text", "when does the deploy key rotate"},
                    {"k", 1}});
  ASSERT_EQ(s.state, TaskState::kSucceeded) << s.error;
  ASSERT_EQ(s.output["hits"].size(), 1u);
  EXPECT_EQ(s.output["hits"][0]["id"], id);
  EXPECT_EQ(s.output["hits"][0]["text"], "the deploy key rotates every monday");

  TaskInfo f = Run({{"op", "search"},
                    {"namespace", "user/alice"},
                    {"text", "deploy key"},
                    {"filter", {{"topic", "life"}}}});
  ASSERT_EQ(f.state, TaskState::kSucceeded) << f.error;
  ASSERT_EQ(f.output["hits"].size(), 1u);
  EXPECT_EQ(f.output["hits"][0]["metadata"]["topic"], "life");

  TaskInfo r = Run({{"op", "recall"}, {"namespace", "user/alice"}, {"text", "deploy key"}});
  ASSERT_EQ(r.state, TaskState::kSucceeded) << r.error;
  ASSERT_EQ(r.output["hits"].size(), 2u);
  EXPECT_EQ(r.output["hits"][0]["id"], id);
  EXPECT_GT(r.output["hits"][0]["score"].get<double>(), r.output["hits"][1]["score"].get<double>());
}

TEST_F(MemoryHandlerTest, PermissionIsCheckedBeforeMemoryIsTouched) {
  Register();
  TaskInfo t = Run({{"op", "add"}, {"namespace", "user/bob"}, {"text", "secret plans"}});
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.error_code, "PERMISSION_DENIED");
  EXPECT_EQ(t.attempt, 1);
  EXPECT_TRUE(memory_->List("user/bob").value().records.empty());

  MemoryRecord handbook;
  handbook.text = "team handbook";
  ASSERT_TRUE(memory_->Add("shared", handbook).ok());
  TaskInfo read = Run({{"op", "search"}, {"namespace", "shared"}, {"text", "handbook"}});
  EXPECT_EQ(read.state, TaskState::kSucceeded) << read.error;
  TaskInfo write = Run({{"op", "add"}, {"namespace", "shared"}, {"text", "graffiti"}});
  EXPECT_EQ(write.error_code, "PERMISSION_DENIED");
  EXPECT_EQ(memory_->List("shared").value().records.size(), 1u);
}

TEST_F(MemoryHandlerTest, BadInputFailsWithoutRetry) {
  Register();
  const Json bad[] = {
      Json::array(),
      {{"op", "forget"}, {"namespace", "user/alice"}, {"text", "x"}},
      {{"op", "add"}, {"namespace", "user/alice"}},
      {{"op", "add"}, {"namespace", "user/alice"}, {"text", "x"}, {"k", 3}},
      {{"op", "search"}, {"namespace", "user/alice"}, {"text", "x"}, {"k", 0}},
      {{"op", "search"}, {"namespace", "user/alice"}, {"text", "x"}, {"k", 101}},
      {{"op", "search"}, {"namespace", "user/alice"}, {"text", "x"}, {"filter", {{"$nope", 1}}}},
      {{"op", "search"}, {"namespace", "../etc"}, {"text", "x"}},
      {{"op", "add"}, {"namespace", "user/alice"}, {"text", "x"}, {"importance", 2}},
      {{"op", "add"}, {"namespace", "user/alice"}, {"text", "x"}, {"colour", "red"}},
  };
  for (const Json& in : bad) {
    TaskInfo t = Run(in);
    EXPECT_EQ(t.state, TaskState::kFailed) << in.dump();
    EXPECT_EQ(t.error_code, "INVALID_ARGUMENT") << in.dump() << " " << t.error;
    EXPECT_EQ(t.attempt, 1) << in.dump();
  }
  EXPECT_TRUE(memory_->List("user/alice").value().records.empty());
}

TEST_F(MemoryHandlerTest, MissingNamespaceIsAnErrorUnlessCreationIsAllowed) {
  Register();
  TaskInfo t = Run({{"op", "add"}, {"namespace", "new/notes"}, {"text", "first"}});
  EXPECT_EQ(t.error_code, "NOT_FOUND") << t.error;

  MemoryHandlerOptions o;
  o.create_namespaces = true;
  Register(o);
  t = Run({{"op", "add"}, {"namespace", "new/notes"}, {"text", "first"}});
  ASSERT_EQ(t.state, TaskState::kSucceeded) << t.error;
  EXPECT_EQ(memory_->List("new/notes").value().records.size(), 1u);
}

TEST(MakeMemoryHandlerTest, RejectsBadOptions) {
  EXPECT_EQ(MakeMemoryHandler(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
