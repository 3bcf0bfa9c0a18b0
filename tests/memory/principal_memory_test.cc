// Permission checks for Memory::As(principal).
#include <algorithm>

#include "gtest/gtest.h"
#include "kos/memory.h"
#include "testing/test_util.h"

namespace kos {
namespace {

constexpr char kPolicy[] = R"({
  "version": 1,
  "roles": {
    "reader": { "allow": ["memory:ns/shared/**:read"] },
    "writer": { "allow": ["memory:ns/shared/**:*"], "deny": ["memory:ns/shared/locked:write"] }
  },
  "bindings": { "user:rita": ["reader"], "user:will": ["writer"] },
  "agents": { "kPlanner": { "allow": ["memory:ns/agents/kPlanner/**:*"] } }
})";

class PrincipalMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *OpenStore("memory:", {});
    AccessControllerOptions ao;
    ao.audit = [this](const AccessDecision& d) { audited_.push_back(d.ToString()); };
    access_ = *AccessController::Open(ao);
    KOS_ASSERT_OK(access_->LoadJson(kPolicy));
    MemoryOptions o;
    o.store = store_.get();
    o.access = access_.get();
    mem_ = *Memory::Open(o);
    for (const char* ns : {"shared/notes", "shared/locked", "agents/kPlanner/scratch", "private"}) {
      NamespaceConfig c;
      c.name = ns;
      c.dimension = 2;
      KOS_ASSERT_OK(mem_->CreateNamespace(c));
      MemoryRecord r;
      r.id = "r1";
      r.embedding = {1, 0};
      KOS_ASSERT_OK(mem_->Add(ns, r));
    }
  }
  static MemoryRecord Rec(const std::string& id) {
    MemoryRecord r;
    r.id = id;
    r.embedding = {0, 1};
    return r;
  }
  static SearchRequest Query(const std::string& ns) {
    SearchRequest q;
    q.ns = ns;
    q.vector = {1, 0};
    q.k = 1;
    return q;
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<AccessController> access_;
  std::unique_ptr<Memory> mem_;
  std::vector<std::string> audited_;
};

constexpr auto kDenied = absl::StatusCode::kPermissionDenied;

TEST_F(PrincipalMemoryTest, ReaderReadsButCannotWrite) {
  auto rita = mem_->As({"user:rita", {}});
  KOS_ASSERT_OK(rita.Get("shared/notes", "r1").status());
  KOS_ASSERT_OK(rita.Search(Query("shared/notes")).status());
  KOS_ASSERT_OK(rita.Recall(Query("shared/notes")).status());
  KOS_ASSERT_OK(rita.List("shared/notes").status());
  KOS_ASSERT_OK(rita.Stats("shared/notes").status());
  KOS_ASSERT_OK(rita.Neighbours("shared/notes", "r1").status());
  auto add = rita.Add("shared/notes", Rec("r2"));
  EXPECT_EQ(add.status().code(), kDenied);
  EXPECT_NE(add.status().message().find("user:rita"), std::string::npos) << add.status();
  EXPECT_EQ(rita.Delete("shared/notes", "r1").code(), kDenied);
  EXPECT_EQ(rita.AddLink("shared/notes", "r1", "about", "r1").code(), kDenied);
  EXPECT_EQ(rita.DeleteNamespace("shared/notes").code(), kDenied);
  EXPECT_EQ(rita.Get("private", "r1").status().code(), kDenied);
  EXPECT_EQ(rita.Search(Query("agents/kPlanner/scratch")).status().code(), kDenied);
  // Nothing changed.
  EXPECT_EQ(mem_->Stats("shared/notes")->records, 1u);
  EXPECT_TRUE(mem_->GetNamespace("shared/notes").ok());
  // Listing shows only readable namespaces and is not audited per namespace.
  const size_t audited_before = audited_.size();
  auto names = rita.ListNamespaces();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{"shared/locked", "shared/notes"}));
  EXPECT_EQ(audited_.size(), audited_before);
  EXPECT_FALSE(audited_.empty());  // the checks above were audited
}

TEST_F(PrincipalMemoryTest, WriterDenyRuleAgentRulesAndExtraRoles) {
  auto will = mem_->As({"user:will", {}});
  KOS_ASSERT_OK(will.Add("shared/notes", Rec("r2")).status());
  KOS_ASSERT_OK(will.AddLink("shared/notes", "r2", "about", "r1"));
  EXPECT_EQ(will.Add("shared/locked", Rec("r2")).status().code(), kDenied);  // explicit deny
  KOS_ASSERT_OK(will.Get("shared/locked", "r1").status());
  NamespaceConfig c;
  c.name = "shared/new";
  c.dimension = 2;
  KOS_ASSERT_OK(will.CreateNamespace(c));
  c.name = "elsewhere";
  EXPECT_EQ(will.CreateNamespace(c).code(), kDenied);
  EXPECT_FALSE(mem_->GetNamespace("elsewhere").ok());

  auto planner = mem_->As({"agent:kPlanner", {}});
  KOS_ASSERT_OK(planner.Add("agents/kPlanner/scratch", Rec("r2")).status());
  EXPECT_EQ(planner.Get("shared/notes", "r1").status().code(), kDenied);
  // A role from the caller's credential counts too.
  auto planner_reader = mem_->As({"agent:kPlanner", {"reader"}});
  KOS_ASSERT_OK(planner_reader.Get("shared/notes", "r1").status());
}

TEST_F(PrincipalMemoryTest, BadPrincipalsAndMissingControllerFailClosed) {
  EXPECT_EQ(mem_->As({"", {}}).Get("shared/notes", "r1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->As({"nobody", {}}).Get("shared/notes", "r1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->As({"user:rita", {}}).Get("../x", "r1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->As({"user:zed", {}}).Get("shared/notes", "r1").status().code(), kDenied);
  MemoryOptions o;
  o.store = store_.get();
  auto open = *Memory::Open(o);
  EXPECT_EQ(open->As({"user:will", {}}).Get("shared/notes", "r1").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(open->As({"user:will", {}}).ListNamespaces().status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The trusted API is unaffected.
  KOS_ASSERT_OK(open->Get("shared/notes", "r1").status());
}

}  // namespace
}  // namespace kos
