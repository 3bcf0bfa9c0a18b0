// Typed links between records: storage, traversal, cleanup, recall expansion.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/memory.h"
#include "testing/test_util.h"

namespace kos {
namespace {

class LinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions so;
    so.clock = &clock_;
    store_ = *OpenStore("memory:", so);
    Reopen();
    NamespaceConfig c;
    c.name = "g";
    c.dimension = 4;
    KOS_ASSERT_OK(mem_->CreateNamespace(c));
    c.name = "g/other";
    KOS_ASSERT_OK(mem_->CreateNamespace(c));
  }
  void Reopen() {
    mem_.reset();
    MemoryOptions o;
    o.store = store_.get();
    o.clock = &clock_;
    auto m = Memory::Open(o);
    ASSERT_TRUE(m.ok()) << m.status();
    mem_ = std::move(*m);
  }
  void AddRec(const std::string& ns, const std::string& id, std::vector<float> v,
              Json meta = Json::object(), std::optional<absl::Duration> ttl = std::nullopt) {
    MemoryRecord r;
    r.id = id;
    r.embedding = std::move(v);
    r.metadata = std::move(meta);
    r.ttl = ttl;
    KOS_ASSERT_OK(mem_->Add(ns, r));
  }
  size_t LinkKeys() {
    ScanOptions so;
    so.limit = 10000;
    return store_->Scan("mem_link", so)->records.size();
  }
  static std::vector<std::string> Ids(const std::vector<LinkedRecord>& v) {
    std::vector<std::string> out;
    for (const auto& r : v) out.push_back(absl::StrCat(r.id, "@", r.hops));
    return out;
  }

  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Memory> mem_;
};

TEST_F(LinksTest, AddTraverseRemoveAndReload) {
  // a -> b -> c -> d, a -> e (mentions), plus a record in another namespace.
  for (const char* id : {"a", "b", "c", "d", "e"}) AddRec("g", id, {1, 0, 0, 0});
  AddRec("g/other", "a", {1, 0, 0, 0});
  KOS_ASSERT_OK(mem_->AddLink("g", "b", kLinkDerivedFrom, "a"));
  KOS_ASSERT_OK(mem_->AddLink("g", "c", kLinkDerivedFrom, "b"));
  KOS_ASSERT_OK(mem_->AddLink("g", "d", kLinkDerivedFrom, "c"));
  KOS_ASSERT_OK(mem_->AddLink("g", "a", kLinkMentions, "e"));
  KOS_ASSERT_OK(mem_->AddLink("g", "a", kLinkMentions, "e"));  // idempotent
  EXPECT_EQ(LinkKeys(), 4u);

  auto out = mem_->Neighbours("g", "a");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, (std::vector<Link>{{"a", "mentions", "e"}}));
  auto in = mem_->Neighbours("g", "a", "", LinkDirection::kIncoming);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(*in, (std::vector<Link>{{"b", "derived_from", "a"}}));
  auto both = mem_->Neighbours("g", "a", "derived_from", LinkDirection::kBoth);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 1u);
  // Namespaces do not share links.
  EXPECT_TRUE(mem_->Neighbours("g/other", "a", "", LinkDirection::kBoth)->empty());

  auto k2 = mem_->KHop("g", "a", 2, 100);
  ASSERT_TRUE(k2.ok()) << k2.status();
  EXPECT_EQ(Ids(*k2), (std::vector<std::string>{"b@1", "e@1", "c@2"}));
  auto k3 = mem_->KHop("g", "d", 3, 100, "derived_from", LinkDirection::kOutgoing);
  ASSERT_TRUE(k3.ok());
  EXPECT_EQ(Ids(*k3), (std::vector<std::string>{"c@1", "b@2", "a@3"}));
  EXPECT_EQ(mem_->KHop("g", "a", 5, 2)->size(), 2u);  // max_nodes caps it

  // Survives reopen (links are in the Store).
  Reopen();
  k3 = mem_->KHop("g", "d", 3, 100, "derived_from", LinkDirection::kOutgoing);
  ASSERT_TRUE(k3.ok());
  EXPECT_EQ(Ids(*k3), (std::vector<std::string>{"c@1", "b@2", "a@3"}));

  KOS_ASSERT_OK(mem_->RemoveLink("g", "c", "derived_from", "b"));
  EXPECT_EQ(mem_->RemoveLink("g", "c", "derived_from", "b").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Ids(*mem_->KHop("g", "d", 3, 100)), (std::vector<std::string>{"c@1"}));
  EXPECT_EQ(LinkKeys(), 3u);
}

TEST_F(LinksTest, BadLinksAreRejected) {
  AddRec("g", "a", {1, 0, 0, 0});
  AddRec("g", "b", {0, 1, 0, 0});
  EXPECT_EQ(mem_->AddLink("g", "a", "Mentions", "b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->AddLink("g", "a", "", "b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->AddLink("g", "a", "has#hash", "b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->AddLink("g", "a", std::string(65, 'x'), "b").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->AddLink("g", "a", "about", "zz").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(mem_->AddLink("g", "a#b", "about", "b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->AddLink("nope", "a", "about", "b").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(mem_->Neighbours("g", "zz").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(mem_->KHop("g", "a", 0, 10).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->KHop("g", "a", 1, 0).status().code(), absl::StatusCode::kInvalidArgument);
  KOS_ASSERT_OK(mem_->AddLink("g", "a", "custom_rel_2", "b"));
  EXPECT_EQ(LinkKeys(), 1u);
}

TEST_F(LinksTest, DeletingRecordsAndNamespacesRemovesTheirLinks) {
  for (const char* id : {"a", "b", "c"}) AddRec("g", id, {1, 0, 0, 0});
  AddRec("g", "t", {1, 0, 0, 0}, Json::object(), absl::Minutes(1));
  KOS_ASSERT_OK(mem_->AddLink("g", "a", "about", "b"));
  KOS_ASSERT_OK(mem_->AddLink("g", "c", "about", "b"));
  KOS_ASSERT_OK(mem_->AddLink("g", "b", "about", "b"));  // self-link
  KOS_ASSERT_OK(mem_->AddLink("g", "a", "about", "t"));
  EXPECT_EQ(LinkKeys(), 4u);
  KOS_ASSERT_OK(mem_->Delete("g", "b"));
  EXPECT_EQ(LinkKeys(), 1u);
  EXPECT_TRUE(mem_->Neighbours("g", "c", "", LinkDirection::kBoth)->empty());
  // Expired records are hidden at once and their links purged with them.
  clock_.Advance(absl::Minutes(2));
  EXPECT_TRUE(mem_->Neighbours("g", "a")->empty());
  ASSERT_TRUE(mem_->PurgeExpired().ok());
  EXPECT_EQ(LinkKeys(), 0u);
  // Re-adding the ids starts without links.
  AddRec("g", "b", {1, 0, 0, 0});
  EXPECT_TRUE(mem_->Neighbours("g", "b", "", LinkDirection::kBoth)->empty());
  KOS_ASSERT_OK(mem_->AddLink("g", "a", "about", "b"));
  KOS_ASSERT_OK(mem_->AddLink("g", "c", "about", "a"));
  KOS_ASSERT_OK(mem_->DeleteNamespace("g"));
  EXPECT_EQ(LinkKeys(), 0u);
  // A namespace of the same name starts empty.
  NamespaceConfig c;
  c.name = "g";
  c.dimension = 4;
  KOS_ASSERT_OK(mem_->CreateNamespace(c));
  AddRec("g", "a", {1, 0, 0, 0});
  EXPECT_TRUE(mem_->Neighbours("g", "a", "", LinkDirection::kBoth)->empty());
}

TEST_F(LinksTest, RecallExpandsOneHop) {
  // q is near "hit"; "ctx" is orthogonal to q (never a direct hit here) but
  // important, and linked from "hit".
  AddRec("g", "hit", {1, 0, 0, 0}, {{"k", 1}});
  AddRec("g", "near2", {0.9f, 0.1f, 0, 0}, {{"k", 1}});
  MemoryRecord ctx;
  ctx.id = "ctx";
  ctx.embedding = {0, 0, 1, 0};
  ctx.metadata = {{"k", 1}};
  ctx.importance = 1.0;
  KOS_ASSERT_OK(mem_->Add("g", ctx));
  AddRec("g", "blocked", {0, 0, 0, 1}, {{"k", 2}});
  for (int i = 0; i < 20; ++i) AddRec("g", absl::StrCat("f", i), {0.5f, 0.5f, 0, 0}, {{"k", 1}});
  KOS_ASSERT_OK(mem_->AddLink("g", "hit", "about", "ctx"));
  KOS_ASSERT_OK(mem_->AddLink("g", "blocked", "about", "hit"));
  SearchRequest q;
  q.ns = "g";
  q.vector = {1, 0, 0, 0};
  q.k = 3;
  q.filter = {{"k", 1}};
  RecallOptions ro;
  ro.touch = false;
  ro.candidate_multiplier = 1;
  ro.w_recency = 0;
  auto plain = mem_->Recall(q, ro);
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_EQ(plain->size(), 3u);
  for (const auto& h : *plain) EXPECT_NE(h.record.id, "ctx");

  ro.expand_hops = 1;
  ro.hop_weight = 1.0;
  auto wide = mem_->Recall(q, ro);
  ASSERT_TRUE(wide.ok()) << wide.status();
  ASSERT_EQ(wide->size(), 3u);
  // cosine 0 -> unit similarity 0.5, plus importance 1: 1.5 beats hit's 1.0.
  EXPECT_EQ((*wide)[0].record.id, "ctx");
  EXPECT_EQ((*wide)[0].hops, 1);
  EXPECT_NEAR((*wide)[0].score, 1.5, 1e-6);
  EXPECT_NEAR((*wide)[0].similarity, 0.0, 1e-6);
  EXPECT_EQ((*wide)[1].record.id, "hit");
  EXPECT_EQ((*wide)[1].hops, 0);
  // "blocked" is linked to "hit" but fails the filter.
  for (const auto& h : *wide) EXPECT_NE(h.record.id, "blocked");

  // hop_weight 0.5: 0.75 is below the direct hits (>= 0.85).
  ro.hop_weight = 0.5;
  auto top = mem_->Recall(q, ro);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 3u);
  for (const auto& h : *top) EXPECT_EQ(h.hops, 0) << h.record.id;
  // A link type that no link has expands nothing.
  ro.hop_weight = 1.0;
  ro.expand_link_type = "mentions";
  top = mem_->Recall(q, ro);
  ASSERT_TRUE(top.ok());
  for (const auto& h : *top) EXPECT_NE(h.record.id, "ctx");

  ro.expand_link_type = "";
  ro.expand_hops = 4;
  EXPECT_EQ(mem_->Recall(q, ro).status().code(), absl::StatusCode::kInvalidArgument);
  ro.expand_hops = 1;
  ro.expand_link_type = "Bad";
  EXPECT_EQ(mem_->Recall(q, ro).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
