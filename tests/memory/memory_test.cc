#include "kos/memory.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

std::vector<float> RandomUnit(int d, std::mt19937* rng) {
  std::normal_distribution<float> g;
  std::vector<float> v(d);
  double s = 0;
  for (auto& x : v) {
    x = g(*rng);
    s += x * x;
  }
  for (auto& x : v) x /= std::sqrt(s);
  return v;
}

class MemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions so;
    so.clock = &clock_;
    auto s = OpenStore("memory:", so);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    HashingEmbedderOptions eo;
    eo.dimension = 64;
    embedder_ = *HashingEmbedder::Open(eo);
    Reopen();
  }
  void Reopen() {
    mem_.reset();
    MemoryOptions o;
    o.store = store_.get();
    o.clock = &clock_;
    o.embedder = embedder_.get();
    o.exact_filter_threshold = exact_threshold_;
    o.exact_filter_cost_model = exact_threshold_ == 2000;
    auto m = Memory::Open(o);
    ASSERT_TRUE(m.ok()) << m.status();
    mem_ = std::move(*m);
  }
  NamespaceConfig Ns(const std::string& name, int dim = 8, IndexKind kind = IndexKind::kHnswlib) {
    NamespaceConfig c;
    c.name = name;
    c.dimension = dim;
    c.index = kind;
    c.ef_construction = 64;
    return c;
  }
  MemoryRecord Rec(const std::string& id, std::vector<float> v, Json meta = Json::object()) {
    MemoryRecord r;
    r.id = id;
    r.embedding = std::move(v);
    r.metadata = std::move(meta);
    return r;
  }
  size_t StoreKeys(const std::string& collection, const std::string& prefix) {
    ScanOptions so;
    so.prefix = prefix;
    so.limit = 10000;
    auto page = store_->Scan(collection, so);
    EXPECT_TRUE(page.ok());
    return page->records.size();
  }

  size_t exact_threshold_ = 2000;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<HashingEmbedder> embedder_;
  std::unique_ptr<Memory> mem_;
};

TEST_F(MemoryTest, CrudByTextAndPagination) {
  NamespaceConfig c;
  c.name = "user/alice/session/42";  // dimension from the embedder
  KOS_ASSERT_OK(mem_->CreateNamespace(c));
  KOS_ASSERT_OK(mem_->CreateNamespace(c));  // idempotent
  c.metric = Metric::kL2;
  EXPECT_EQ(mem_->CreateNamespace(c).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(mem_->GetNamespace("user/alice/session/42")->dimension, 64);

  MemoryRecord r;
  r.text = "Alice likes green tea in the morning";
  r.metadata = {{"kind", "preference"}};
  r.importance = 0.8;
  auto id = mem_->Add("user/alice/session/42", r);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(IsValidId(*id));
  for (const char* t : {"The meeting moved to Thursday", "Bob owes Alice ten dollars",
                        "Alice is allergic to peanuts"}) {
    MemoryRecord x;
    x.text = t;
    KOS_ASSERT_OK(mem_->Add("user/alice/session/42", x));
  }
  auto got = mem_->Get("user/alice/session/42", *id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->text, r.text);
  EXPECT_EQ(got->metadata["kind"], "preference");
  EXPECT_EQ(got->created, clock_.Now());
  EXPECT_EQ(got->embedding.size(), 64u);

  SearchRequest q;
  q.ns = "user/alice/session/42";
  q.text = "what does alice drink in the morning";
  q.k = 1;
  auto hits = mem_->Search(q);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].record.id, *id);

  // Update re-embeds the new text and keeps `created`.
  clock_.Advance(absl::Minutes(5));
  r.id = *id;
  r.text = "Alice switched to black coffee";
  KOS_ASSERT_OK(mem_->Update("user/alice/session/42", r));
  got = mem_->Get("user/alice/session/42", *id);
  EXPECT_EQ(got->text, "Alice switched to black coffee");
  EXPECT_EQ(got->created, clock_.Now() - absl::Minutes(5));
  q.text = "black coffee";
  hits = mem_->Search(q);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].record.id, *id);

  // Pagination visits every record once, in id order.
  std::vector<std::string> seen;
  std::string token;
  do {
    auto page = mem_->List("user/alice/session/42", token, 3);
    ASSERT_TRUE(page.ok());
    for (auto& rec : page->records) seen.push_back(rec.id);
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  KOS_ASSERT_OK(mem_->Delete("user/alice/session/42", *id));
  EXPECT_EQ(mem_->Get("user/alice/session/42", *id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(mem_->Delete("user/alice/session/42", *id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(mem_->Stats("user/alice/session/42")->records, 3u);
}

TEST_F(MemoryTest, IsolationAcrossAThousandNamespaces) {
  const int d = 4;
  std::mt19937 rng(1);
  std::vector<std::vector<float>> first(1000);
  for (int n = 0; n < 1000; ++n) {
    const std::string ns = absl::StrCat("tenant/", n);
    KOS_ASSERT_OK(
        mem_->CreateNamespace(Ns(ns, d, n % 2 ? IndexKind::kHnswlib : IndexKind::kFaissFlat)));
    std::vector<MemoryRecord> batch;
    for (int i = 0; i < 3; ++i)
      batch.push_back(Rec(absl::StrCat("n", n, "-", i), RandomUnit(d, &rng)));
    first[n] = batch[0].embedding;
    KOS_ASSERT_OK(mem_->AddBatch(ns, batch));
  }
  EXPECT_EQ(mem_->ListNamespaces("tenant/").size(), 1000u);
  // Query each namespace with another namespace's exact vector: the hit must
  // still come from the queried namespace.
  for (int n = 0; n < 1000; ++n) {
    SearchRequest q;
    q.ns = absl::StrCat("tenant/", n);
    q.vector = first[(n + 1) % 1000];
    q.k = 10;
    auto hits = mem_->Search(q);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_EQ(hits->size(), 3u);
    for (auto& h : *hits) ASSERT_TRUE(absl::StartsWith(h.record.id, absl::StrCat("n", n, "-")));
  }
  // The same id in two namespaces is two records.
  KOS_ASSERT_OK(mem_->Add("tenant/1", Rec("shared", RandomUnit(d, &rng))));
  KOS_ASSERT_OK(mem_->Add("tenant/2", Rec("shared", RandomUnit(d, &rng))));
  KOS_ASSERT_OK(mem_->Delete("tenant/1", "shared"));
  KOS_EXPECT_OK(mem_->Get("tenant/2", "shared"));
  // Deleting a namespace removes its records from the Store and leaves the
  // sibling whose name it prefixes ("tenant/1" vs "tenant/10") alone.
  KOS_ASSERT_OK(mem_->DeleteNamespace("tenant/1"));
  EXPECT_EQ(StoreKeys("mem_rec", "tenant/1#"), 0u);
  EXPECT_EQ(StoreKeys("mem_rec", "tenant/10#"), 3u);
  EXPECT_EQ(mem_->Get("tenant/1", "n1-0").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(mem_->DeleteNamespace("tenant/1").code(), absl::StatusCode::kNotFound);
  KOS_ASSERT_OK(mem_->CreateNamespace(Ns("tenant/1", d)));
  EXPECT_EQ(mem_->Stats("tenant/1")->records, 0u);
}

TEST_F(MemoryTest, TtlHidesExpiredAndPurgeFreesSlots) {
  NamespaceConfig c = Ns("s/ttl", 4);
  c.default_ttl = absl::Seconds(60);
  KOS_ASSERT_OK(mem_->CreateNamespace(c));
  std::vector<float> v = {1, 0, 0, 0};
  auto short_lived = Rec("short", v);
  short_lived.ttl = absl::Seconds(10);
  KOS_ASSERT_OK(mem_->Add("s/ttl", short_lived));
  KOS_ASSERT_OK(mem_->Add("s/ttl", Rec("default", {0.9f, 0.1f, 0, 0})));
  auto forever = Rec("forever", {0.8f, 0.2f, 0, 0});
  forever.ttl = absl::ZeroDuration();
  KOS_ASSERT_OK(mem_->Add("s/ttl", forever));
  EXPECT_EQ(mem_->Get("s/ttl", "default")->expires, clock_.Now() + absl::Seconds(60));

  SearchRequest q;
  q.ns = "s/ttl";
  q.vector = v;
  q.k = 10;
  EXPECT_EQ(mem_->Search(q)->size(), 3u);
  clock_.Advance(absl::Seconds(11));
  auto hits = mem_->Search(q);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);  // expired, not yet purged, already invisible
  EXPECT_EQ((*hits)[0].record.id, "default");
  EXPECT_EQ(mem_->Get("s/ttl", "short").status().code(), absl::StatusCode::kNotFound);
  // Filtered path (exact scan) hides it too.
  q.filter = {{"$not", {{"x", {{"$exists", true}}}}}};
  EXPECT_EQ(mem_->Search(q)->size(), 2u);
  q.filter = nullptr;
  EXPECT_EQ(mem_->Stats("s/ttl")->records, 3u);
  clock_.Advance(absl::Seconds(50));
  EXPECT_EQ(mem_->Search(q)->size(), 1u);
  auto purged = mem_->PurgeExpired();
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 2u);
  EXPECT_EQ(mem_->Stats("s/ttl")->records, 1u);
  EXPECT_EQ(StoreKeys("mem_rec", "s/ttl#"), 1u);
  // An expired id can be used again.
  KOS_ASSERT_OK(mem_->Add("s/ttl", Rec("short", v)));
  Reopen();
  EXPECT_EQ(mem_->Stats("s/ttl")->records, 2u);
}

// Exact filtered top-k computed independently of Memory.
// Exact top-k by dot product among records whose `keep` entry is set.
std::vector<std::string> BruteForce(const std::vector<std::vector<float>>& vecs,
                                    const std::vector<char>& keep, const std::vector<float>& q,
                                    size_t k) {
  std::vector<std::pair<float, int>> s;
  for (size_t i = 0; i < vecs.size(); ++i) {
    if (!keep[i]) continue;
    float dot = 0;
    for (size_t j = 0; j < q.size(); ++j) dot += q[j] * vecs[i][j];
    s.push_back({-dot, static_cast<int>(i)});
  }
  std::sort(s.begin(), s.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size() && i < k; ++i) out.push_back(absl::StrCat("r", s[i].second));
  return out;
}

TEST_F(MemoryTest, FilteredSearchMatchesBruteForce) {
  const int d = 16;
  const int n = 2000;
  std::mt19937 rng(2);
  // Only the 0.1% case scans its matches; the others walk the graph.
  exact_threshold_ = 20;
  Reopen();
  for (IndexKind kind : {IndexKind::kHnswlib, IndexKind::kFaissHnsw, IndexKind::kFaissIvf}) {
    const std::string ns = absl::StrCat("f/", IndexKindName(kind));
    NamespaceConfig config = Ns(ns, d, kind);
    // IVF: trained (at 1,000 records) on 16 lists, 8 probed (uniform random
    // vectors have no clusters, so IVF needs half the lists for its recall;
    // faiss_ivf_index_test.cc checks low nprobe on clustered data).
    config.ivf_train_size = 1000;
    config.nlist = 16;
    config.nprobe = 8;
    KOS_ASSERT_OK(mem_->CreateNamespace(config));
    std::vector<std::vector<float>> vecs;
    std::vector<Json> metas;
    std::vector<MemoryRecord> batch;
    const char* tags[] = {"a", "b", "c"};
    for (int i = 0; i < n; ++i) {
      vecs.push_back(RandomUnit(d, &rng));
      metas.push_back({{"cat", i % 10},
                       {"score", i / double(n)},
                       {"tag", tags[i % 3]},
                       {"flag", i % 4 == 0},
                       {"arr", {i % 2, 0}},
                       {"user", {{"name", i % 2 ? "ann" : "bob"}}}});
      if (i % 5 == 0) metas.back()["opt"] = nullptr;
      batch.push_back(Rec(absl::StrCat("r", i), vecs.back(), metas.back()));
    }
    KOS_ASSERT_OK(mem_->AddBatch(ns, batch));
    struct Case {
      Json filter;
      std::function<bool(const Json&)> pred;
    };
    std::vector<Case> cases = {
        {{{"cat", 3}}, [](const Json& m) { return m["cat"] == 3; }},
        {{{"score", {{"$gte", 0.2}, {"$lt", 0.5}}}},
         [](const Json& m) { return m["score"] >= 0.2 && m["score"] < 0.5; }},
        {{{"tag", {{"$in", {"a", "c"}}}}}, [](const Json& m) { return m["tag"] != "b"; }},
        {{{"$or", {{{"cat", 1}}, {{"cat", 2}}}}},
         [](const Json& m) { return m["cat"] == 1 || m["cat"] == 2; }},
        {{{"user.name", "ann"}, {"cat", {{"$ne", 1}}}},
         [](const Json& m) { return m["user"]["name"] == "ann" && m["cat"] != 1; }},
        // ~0.3%: takes the exact path.
        {{{"cat", 7}, {"score", {{"$lt", 0.03}}}},
         [](const Json& m) { return m["cat"] == 7 && m["score"] < 0.03; }},
        {{{"tag", {{"$nin", {"a"}}}}, {"$not", {{"cat", {{"$lt", 5}}}}}},
         [](const Json& m) { return m["tag"] != "a" && !(m["cat"] < 5); }},
        {{{"opt", {{"$exists", false}}}, {"flag", true}},
         [](const Json& m) { return !m.contains("opt") && m["flag"] == true; }},
        {{{"tag", {{"$gte", "b"}}}, {"opt", nullptr}},
         [](const Json& m) { return m["tag"] >= "b" && m.contains("opt"); }},
        // 0.1% (2 records) and exactly 10%.
        {{{"score", {{"$gte", 0.5}, {"$lt", 0.501}}}},
         [](const Json& m) { return m["score"] >= 0.5 && m["score"] < 0.501; }},
        {{{"cat", {{"$in", {4}}}}}, [](const Json& m) { return m["cat"] == 4; }},
        // Whole-array comparison: not in the payload index, evaluated per record.
        {{{"arr", {{"$in", {{1, 0}}}}}},
         [](const Json& m) {
           return m["arr"] == Json{1, 0};
         }},
    };
    for (const auto& c : cases) {
      std::vector<char> keep(n);
      for (int i = 0; i < n; ++i) keep[i] = c.pred(metas[i]);
      size_t found = 0, total = 0;
      for (int qi = 0; qi < 20; ++qi) {
        SearchRequest q;
        q.ns = ns;
        q.vector = RandomUnit(d, &rng);
        q.k = 10;
        q.filter = c.filter;
        // IVF: the namespace's nprobe (8 of 16), widened by the filter's selectivity.
        q.ef_search = kind == IndexKind::kFaissIvf ? 0 : 100;
        auto hits = mem_->Search(q);
        ASSERT_TRUE(hits.ok()) << hits.status() << " " << c.filter.dump();
        for (auto& h : *hits) ASSERT_TRUE(c.pred(h.record.metadata)) << c.filter.dump();
        auto truth = BruteForce(vecs, keep, q.vector, 10);
        ASSERT_EQ(hits->size(), truth.size()) << c.filter.dump();
        std::set<std::string> got;
        for (auto& h : *hits) got.insert(h.record.id);
        for (auto& t : truth) found += got.count(t);
        total += truth.size();
      }
      EXPECT_GE(double(found) / total, 0.95) << IndexKindName(kind) << " " << c.filter.dump();
    }
  }
}

// A filter that selects one region of the space (like a class label) is the
// hard case for a filtered graph walk: from a query elsewhere, the plain walk
// must cross most of the graph. The planner's walk starts from matching seeds
// and steps only through matches and their two-hop neighbourhood; it must
// keep recall, whether it or the exact scan runs.
TEST_F(MemoryTest, ClusteredFilterKeepsRecallOnBothPlans) {
  const int d = 16, n = 3000, clusters = 10;
  std::mt19937 rng(4);
  std::normal_distribution<float> g;
  std::vector<std::vector<float>> centres(clusters, std::vector<float>(d));
  for (auto& c : centres)
    for (auto& x : c) x = g(rng);
  std::vector<std::vector<float>> vecs;
  std::vector<int> label;
  std::vector<MemoryRecord> batch;
  for (int i = 0; i < n; ++i) {
    const int c = i % clusters;
    std::vector<float> v(d);
    double norm = 0;
    for (int j = 0; j < d; ++j) {
      v[j] = centres[c][j] + 0.3f * g(rng);
      norm += v[j] * v[j];
    }
    for (auto& x : v) x /= std::sqrt(norm);
    vecs.push_back(v);
    label.push_back(c);
    batch.push_back(Rec(absl::StrCat("r", i), v, {{"label", c}}));
  }
  for (size_t threshold : {size_t{20}, size_t{2000}}) {  // walk, then the planner's choice
    exact_threshold_ = threshold;
    Reopen();
    const std::string ns = absl::StrCat("clustered/t", threshold);
    KOS_ASSERT_OK(mem_->CreateNamespace(Ns(ns, d)));
    KOS_ASSERT_OK(mem_->AddBatch(ns, batch).status());
    std::vector<char> keep(n);
    for (int i = 0; i < n; ++i) keep[i] = label[i] == 3;
    size_t found = 0, total = 0;
    for (int qi = 0; qi < 30; ++qi) {
      SearchRequest q;
      q.ns = ns;
      q.vector = vecs[qi * 7 % n];  // mostly other clusters than 3
      q.k = 10;
      q.filter = {{"label", 3}};
      auto hits = mem_->Search(q);
      ASSERT_TRUE(hits.ok()) << hits.status();
      auto truth = BruteForce(vecs, keep, q.vector, 10);
      ASSERT_EQ(hits->size(), truth.size());
      std::set<std::string> got;
      for (auto& h : *hits) {
        EXPECT_EQ(h.record.metadata["label"], 3);
        got.insert(h.record.id);
      }
      for (auto& t : truth) found += got.count(t);
      total += truth.size();
    }
    EXPECT_GE(double(found) / total, 0.95) << "threshold " << threshold;
  }
}

TEST_F(MemoryTest, BadInputIsRejectedAndChangesNothing) {
  KOS_ASSERT_OK(mem_->CreateNamespace(Ns("b/x", 4)));
  KOS_ASSERT_OK(mem_->Add("b/x", Rec("a", {1, 0, 0, 0}, {{"kind", "x"}})));
  auto code = [](const absl::Status& s) { return s.code(); };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code(mem_->Add("b/x", Rec("w", {1, 0, 0})).status()), kInvalid);
  EXPECT_EQ(code(mem_->Add("b/x", Rec("n", {NAN, 0, 0, 0})).status()), kInvalid);
  EXPECT_EQ(code(mem_->Add("b/x", Rec("i", {INFINITY, 0, 0, 0})).status()), kInvalid);
  MemoryRecord empty;
  EXPECT_EQ(code(mem_->Add("b/x", empty).status()), kInvalid);
  EXPECT_EQ(code(mem_->Add("b/x", Rec("bad id!", {1, 0, 0, 0})).status()), kInvalid);
  auto imp = Rec("imp", {1, 0, 0, 0});
  imp.importance = 2;
  EXPECT_EQ(code(mem_->Add("b/x", imp).status()), kInvalid);
  auto meta = Rec("meta", {1, 0, 0, 0});
  meta.metadata = Json::array({1});
  EXPECT_EQ(code(mem_->Add("b/x", meta).status()), kInvalid);
  EXPECT_EQ(code(mem_->Add("b/x", Rec("a", {0, 1, 0, 0})).status()),
            absl::StatusCode::kAlreadyExists);
  // One bad record fails the whole batch.
  std::vector<MemoryRecord> batch = {Rec("ok1", {0, 1, 0, 0}), Rec("bad", {0, NAN, 0, 0})};
  EXPECT_EQ(code(mem_->AddBatch("b/x", batch).status()), kInvalid);
  EXPECT_EQ(code(mem_->AddBatch("b/x", {Rec("d", {0, 1, 0, 0}), Rec("d", {0, 0, 1, 0})}).status()),
            kInvalid);
  EXPECT_EQ(code(mem_->Add("nope", Rec("z", {1, 0, 0, 0})).status()), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(mem_->CreateNamespace(Ns("a//b"))), kInvalid);
  EXPECT_EQ(code(mem_->CreateNamespace(Ns("a/../b"))), kInvalid);
  EXPECT_EQ(code(mem_->CreateNamespace(Ns("a#b"))), kInvalid);
  EXPECT_EQ(code(mem_->CreateNamespace(Ns("ok", 0 - 1))), kInvalid);

  SearchRequest q;
  q.ns = "b/x";
  q.vector = {1, 0, 0, 0};
  q.filter = {{"kindd", "x"}};  // typo: no record has it
  auto s = mem_->Search(q);
  EXPECT_EQ(s.status().code(), kInvalid);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "kindd")) << s.status();
  q.filter = {{"kindd", {{"$exists", false}}}};  // explicit presence tests are fine
  EXPECT_EQ(mem_->Search(q)->size(), 1u);
  for (const char* f : {R"({"$foo": 1})", R"({"kind": {"$in": "x"}})", R"({"kind": {"$gt": []}})",
                        R"({"kind": {"$bogus": 1}})", R"([1])", R"({"$or": []})"}) {
    q.filter = Json::parse(f);
    EXPECT_EQ(mem_->Search(q).status().code(), kInvalid) << f;
  }
  q.filter = nullptr;
  q.vector = {1, 0};
  EXPECT_EQ(mem_->Search(q).status().code(), kInvalid);
  q.vector = {NAN, 0, 0, 0};
  EXPECT_EQ(mem_->Search(q).status().code(), kInvalid);
  q.vector = {};
  EXPECT_EQ(mem_->Search(q).status().code(), kInvalid);  // neither vector nor text
  q.ns = "missing";
  q.vector = {1, 0, 0, 0};
  EXPECT_EQ(mem_->Search(q).status().code(), absl::StatusCode::kNotFound);

  // Nothing changed.
  EXPECT_EQ(mem_->Stats("b/x")->records, 1u);
  EXPECT_EQ(StoreKeys("mem_rec", "b/x#"), 1u);
  EXPECT_EQ(mem_->Get("b/x", "a")->embedding, (std::vector<float>{1, 0, 0, 0}));
}

TEST_F(MemoryTest, RebuildsFromStoreOnReopen) {
  for (IndexKind kind : {IndexKind::kHnswlib, IndexKind::kFaissFlat, IndexKind::kFaissHnsw}) {
    KOS_ASSERT_OK(mem_->CreateNamespace(Ns(absl::StrCat("r/", IndexKindName(kind)), 8, kind)));
  }
  std::mt19937 rng(3);
  std::vector<std::vector<float>> vecs;
  for (int i = 0; i < 300; ++i) {
    vecs.push_back(RandomUnit(8, &rng));
    for (IndexKind kind : {IndexKind::kHnswlib, IndexKind::kFaissFlat, IndexKind::kFaissHnsw}) {
      KOS_ASSERT_OK(mem_->Add(absl::StrCat("r/", IndexKindName(kind)),
                              Rec(absl::StrCat("v", i), vecs.back(), {{"i", i}})));
    }
  }
  KOS_ASSERT_OK(mem_->Delete("r/hnswlib", "v7"));
  Reopen();
  for (IndexKind kind : {IndexKind::kHnswlib, IndexKind::kFaissFlat, IndexKind::kFaissHnsw}) {
    const std::string ns = absl::StrCat("r/", IndexKindName(kind));
    auto cfg = mem_->GetNamespace(ns);
    ASSERT_TRUE(cfg.ok());
    EXPECT_EQ(cfg->index, kind);
    int self = 0;
    for (int i = 0; i < 300; i += 10) {
      SearchRequest q;
      q.ns = ns;
      q.vector = vecs[i];
      q.k = 1;
      auto hits = mem_->Search(q);
      ASSERT_TRUE(hits.ok());
      self += !hits->empty() && (*hits)[0].record.id == absl::StrCat("v", i);
    }
    EXPECT_GE(self, 29) << ns;
    auto r = mem_->Get(ns, "v5");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->metadata["i"], 5);
    EXPECT_EQ(r->embedding, vecs[5]);
  }
  EXPECT_EQ(mem_->Stats("r/hnswlib")->records, 299u);
  EXPECT_EQ(mem_->Get("r/hnswlib", "v7").status().code(), absl::StatusCode::kNotFound);
}

// Records are stored as a JSON header written as text plus the raw
// embedding; whatever a caller can put in, a reopen (which decodes every
// record from the store) gives back bit for bit.
TEST_F(MemoryTest, RecordsRoundTripThroughTheStoreExactly) {
  NamespaceConfig c = Ns("rt", 4);
  c.metric = Metric::kL2;  // cosine would return the unit vector
  KOS_ASSERT_OK(mem_->CreateNamespace(c));
  const std::vector<std::string> texts = {"",
                                          "plain",
                                          "quote \" backslash \\ slash /",
                                          "tab\tnewline\ncr\r\x01\x1f\x7f",
                                          "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                          "</script>\u2028"};
  const std::vector<double> importances = {0, 1, 0.1, 1e-7, 0.3333333333333333, 5e-324};
  const Json metas[] = {Json::object(),
                        {{"a", 1}, {"b", "x\"y"}},
                        {{"nested", {{"deep", {1, 2.5, nullptr, true}}}}, {"neg", -3}},
                        {{"big", 9007199254740993LL}, {"f", 1e300}},
                        {{"s", "\xe2\x82\xac"}},
                        {{"e", Json::array()}}};
  std::vector<MemoryRecord> in;
  for (size_t i = 0; i < texts.size(); ++i) {
    MemoryRecord r = Rec(absl::StrCat("r", i), {1.0f / (i + 1), -0.0f, 3e-39f, 1e30f}, metas[i]);
    r.text = texts[i];
    r.importance = importances[i];
    if (i % 2) r.ttl = absl::Hours(i);
    in.push_back(r);
  }
  // Half through AddBatch, the last through Add then Update.
  KOS_ASSERT_OK(mem_->AddBatch("rt", {in.begin(), in.end() - 1}).status());
  MemoryRecord last = in.back();
  last.text = "before update";
  KOS_ASSERT_OK(mem_->Add("rt", last).status());
  KOS_ASSERT_OK(mem_->Update("rt", in.back()));
  std::vector<MemoryRecord> before;
  for (const auto& r : in) {
    auto got = mem_->Get("rt", r.id);
    ASSERT_TRUE(got.ok()) << got.status();
    before.push_back(*got);
  }
  Reopen();
  for (size_t i = 0; i < in.size(); ++i) {
    auto got = mem_->Get("rt", in[i].id);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->text, in[i].text) << i;
    EXPECT_EQ(got->metadata, in[i].metadata) << i;
    EXPECT_EQ(DumpJson(got->metadata), DumpJson(in[i].metadata)) << i;
    EXPECT_EQ(got->importance, in[i].importance) << i;  // exact, not approximate
    ASSERT_EQ(got->embedding.size(), 4u);
    EXPECT_EQ(0, memcmp(got->embedding.data(), in[i].embedding.data(), 16)) << i;
    EXPECT_EQ(got->created, before[i].created) << i;
    EXPECT_EQ(got->accessed, before[i].accessed) << i;
    EXPECT_EQ(got->expires, before[i].expires) << i;
  }
}

TEST_F(MemoryTest, RecallWeighsRecencyImportanceAndMmr) {
  KOS_ASSERT_OK(mem_->CreateNamespace(Ns("rc", 4)));
  std::vector<float> v = {1, 0, 0, 0};
  KOS_ASSERT_OK(mem_->Add("rc", Rec("old", v)));
  clock_.Advance(absl::Hours(48));
  KOS_ASSERT_OK(mem_->Add("rc", Rec("new", v)));
  auto important = Rec("important", {0.95f, 0.3122f, 0, 0});
  important.importance = 1.0;
  KOS_ASSERT_OK(mem_->Add("rc", important));
  KOS_ASSERT_OK(mem_->Add("rc", Rec("other", {0, 0, 1, 0})));

  SearchRequest q;
  q.ns = "rc";
  q.vector = v;
  q.k = 4;
  RecallOptions ro;
  ro.touch = false;
  ro.w_importance = 0;
  auto hits = mem_->Recall(q, ro);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 4u);
  EXPECT_EQ((*hits)[0].record.id, "new");  // same similarity as "old", more recent
  EXPECT_NEAR((*hits)[0].score, 1.0 + 1.0, 1e-4);
  // Two half-lives old: recency term is 1/4, so even the orthogonal but fresh
  // "other" (similarity 0.5 + recency 1) ranks above it.
  EXPECT_EQ((*hits)[3].record.id, "old");
  EXPECT_NEAR((*hits)[3].score, 1.0 + 0.25, 1e-4);
  EXPECT_EQ((*hits)[2].record.id, "other");

  ro.w_importance = 1;
  hits = mem_->Recall(q, ro);
  EXPECT_EQ((*hits)[0].record.id, "important");

  // Touch refreshes `accessed`, so "old" becomes as recent as "new".
  ro.w_importance = 0;
  ro.touch = true;
  q.k = 4;
  KOS_ASSERT_OK(mem_->Recall(q, ro).status());
  EXPECT_EQ(mem_->Get("rc", "old")->accessed, clock_.Now());
  Reopen();  // and it is durable
  EXPECT_EQ(mem_->Get("rc", "old")->accessed, clock_.Now());

  // MMR with strong diversity pressure skips the duplicate of the top hit.
  ro.touch = false;
  ro.mmr = true;
  ro.mmr_lambda = 0.3;
  q.k = 2;
  hits = mem_->Recall(q, ro);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[1].record.id, "other");
  EXPECT_TRUE((*hits)[0].record.embedding.empty());  // not requested
}

TEST_F(MemoryTest, ConcurrentReadersAndWritersAcrossNamespaces) {
  const int d = 8;
  KOS_ASSERT_OK(mem_->CreateNamespace(Ns("c/a", d)));
  KOS_ASSERT_OK(mem_->CreateNamespace(Ns("c/b", d)));
  std::mt19937 rng(4);
  std::vector<MemoryRecord> seed;
  for (int i = 0; i < 200; ++i) seed.push_back(Rec(absl::StrCat("s", i), RandomUnit(d, &rng)));
  KOS_ASSERT_OK(mem_->AddBatch("c/a", seed));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  auto reader = [&](uint32_t s) {
    std::mt19937 r(s);
    while (!stop) {
      SearchRequest q;
      q.ns = "c/a";
      q.vector = RandomUnit(d, &r);
      q.k = 5;
      auto hits = mem_->Search(q);
      if (!hits.ok() || hits->size() != 5) errors++;
    }
  };
  auto writer = [&](const std::string& ns, uint32_t s) {
    std::mt19937 r(s);
    for (int i = 0; i < 200; ++i) {
      if (!mem_->Add(ns, Rec(absl::StrCat("w", i), RandomUnit(d, &r))).ok()) errors++;
      if (i % 3 == 0 && !mem_->Delete(ns, absl::StrCat("w", i)).ok()) errors++;
    }
  };
  std::thread r1(reader, 10), r2(reader, 11);
  std::thread w1(writer, "c/a", 12), w2(writer, "c/b", 13);
  w1.join();
  w2.join();
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mem_->Stats("c/a")->records, 200u + 200u - 67u);
  EXPECT_EQ(mem_->Stats("c/b")->records, 200u - 67u);
}

}  // namespace
}  // namespace kos
