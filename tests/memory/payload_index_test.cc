#include "memory/payload_index.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "memory/filter.h"

namespace kos::memory_internal {
namespace {

Json RandomMeta(std::mt19937* rng) {
  std::uniform_int_distribution<int> u(0, 9);
  Json m = Json::object();
  if (u(*rng) < 8) m["n"] = u(*rng);
  if (u(*rng) < 8) m["x"] = u(*rng) / 4.0;
  if (u(*rng) < 7) m["s"] = std::string(1, static_cast<char>('a' + u(*rng) % 4));
  if (u(*rng) < 5) m["b"] = u(*rng) % 2 == 0;
  if (u(*rng) < 2) m["z"] = nullptr;
  if (u(*rng) < 3) m["arr"] = Json::array({u(*rng), u(*rng)});
  if (u(*rng) < 6) m["u"] = {{"name", u(*rng) % 2 ? "ann" : "bob"}, {"age", u(*rng)}};
  // Mixed types under one field name.
  if (u(*rng) < 2) m["n"] = "3";
  return m;
}

Json RandomLeaf(std::mt19937* rng, int depth) {
  std::uniform_int_distribution<int> u(0, 99);
  const char* fields[] = {"n", "x", "s", "b", "z", "u.name", "u.age", "arr", "missing.x"};
  const std::string f = fields[u(*rng) % 9];
  auto scalar = [&]() -> Json {
    switch (u(*rng) % 6) {
      case 0:
        return u(*rng) % 10;
      case 1:
        return (u(*rng) % 10) / 4.0;
      case 2:
        return std::string(1, static_cast<char>('a' + u(*rng) % 4));
      case 3:
        return u(*rng) % 2 == 0;
      case 4:
        return nullptr;
      default:
        return u(*rng) % 2 ? "ann" : "bob";
    }
  };
  if (depth < 3 && u(*rng) < 25) {
    const char* ops[] = {"$and", "$or"};
    Json arr = Json::array();
    const int n = 1 + u(*rng) % 3;
    for (int i = 0; i < n; ++i) arr.push_back(RandomLeaf(rng, depth + 1));
    if (u(*rng) < 20) return Json{{"$not", RandomLeaf(rng, depth + 1)}};
    return Json{{ops[u(*rng) % 2], arr}};
  }
  const char* ops[] = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"};
  const std::string op = ops[u(*rng) % 9];
  Json v;
  if (op == "$in" || op == "$nin") {
    v = Json::array({scalar(), scalar()});
  } else if (op == "$exists") {
    v = u(*rng) % 2 == 0;
  } else if (op[1] == 'g' || op[1] == 'l') {
    v = u(*rng) % 2 ? Json(u(*rng) % 10)
                    : Json(std::string(1, static_cast<char>('a' + u(*rng) % 4)));
  } else {
    v = scalar();
  }
  return Json{{f, {{op, v}}}};
}

TEST(PayloadIndexTest, RandomFiltersMatchRecordByRecordEvaluation) {
  std::mt19937 rng(7);
  PayloadIndex idx;
  std::vector<Json> metas(600);
  std::vector<bool> live(metas.size(), true);
  for (size_t i = 0; i < metas.size(); ++i) {
    metas[i] = RandomMeta(&rng);
    idx.Add(static_cast<int64_t>(i), metas[i]);
  }
  // Remove and re-add some, as Update/Delete do.
  for (size_t i = 0; i < metas.size(); i += 7) {
    idx.Remove(static_cast<int64_t>(i), metas[i]);
    live[i] = false;
  }
  for (size_t i = 0; i < metas.size(); i += 21) {
    metas[i] = RandomMeta(&rng);
    idx.Add(static_cast<int64_t>(i), metas[i]);
    live[i] = true;
  }
  size_t live_n = 0;
  for (bool b : live) live_n += b;
  EXPECT_EQ(idx.live_count(), live_n);
  int checked = 0, nonempty = 0;
  for (int t = 0; t < 400; ++t) {
    const Json spec = RandomLeaf(&rng, 0);
    auto f = Filter::Compile(spec);
    ASSERT_TRUE(f.ok()) << spec.dump() << f.status();
    auto bits = idx.Evaluate(*f);
    ASSERT_TRUE(bits.has_value()) << spec.dump();
    size_t matches = 0;
    for (size_t i = 0; i < metas.size(); ++i) {
      const bool want = live[i] && f->Matches(metas[i]);
      ASSERT_EQ(bits->Test(static_cast<int64_t>(i)), want)
          << spec.dump() << " record " << i << " " << metas[i].dump();
      matches += want;
    }
    EXPECT_EQ(bits->Count(), matches);
    ++checked;
    nonempty += matches > 0 && matches < live_n;
  }
  EXPECT_EQ(checked, 400);
  EXPECT_GT(nonempty, 100);  // the generator exercises real selectivities
}

TEST(PayloadIndexTest, NestedFieldsAndCleanup) {
  PayloadIndex idx;
  const Json m = {{"user", {{"name", "ann"}, {"tags", {"x", "y"}}}}, {"k", 1}};
  idx.Add(3, m);
  EXPECT_TRUE(idx.HasTopLevelField("user"));
  auto f = Filter::Compile({{"user.name", "ann"}});
  ASSERT_TRUE(f.ok());
  auto b = idx.Evaluate(*f);
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->Test(3));
  EXPECT_EQ(b->Count(), 1u);
  // Whole-array comparisons are not indexed: the caller falls back.
  auto arr = Filter::Compile({{"user.tags", {{"$in", Json::array({Json::array({"x", "y"})})}}}});
  ASSERT_TRUE(arr.ok());
  EXPECT_FALSE(idx.Evaluate(*arr).has_value());
  idx.Remove(3, m);
  EXPECT_FALSE(idx.HasTopLevelField("user"));
  EXPECT_FALSE(idx.HasTopLevelField("k"));
  EXPECT_EQ(idx.live_count(), 0u);
  EXPECT_EQ(idx.Evaluate(*f)->Count(), 0u);
}

TEST(PayloadIndexTest, BitmapOps) {
  LabelBitmap a, b;
  a.Set(1);
  a.Set(130);
  b.Set(130);
  b.Set(5);
  LabelBitmap c = a;
  c.And(b);
  EXPECT_EQ(c.Count(), 1u);
  EXPECT_TRUE(c.Test(130));
  c = a;
  c.Or(b);
  EXPECT_EQ(c.Count(), 3u);
  c.AndNot(b);
  EXPECT_EQ(c.Count(), 1u);
  EXPECT_TRUE(c.Test(1));
  EXPECT_FALSE(c.Test(100000));
  std::vector<int64_t> seen;
  a.ForEach([&](int64_t l) { seen.push_back(l); });
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 130}));
}

}  // namespace
}  // namespace kos::memory_internal
