#include "kos/json.h"

#include <string>

#include "gtest/gtest.h"

namespace kos {
namespace {

TEST(JsonTest, ParsesValidDocument) {
  auto j = ParseJson(R"({"a":1,"b":[true,null],"c":{"d":"x"}})");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["c"]["d"], "x");
}

TEST(JsonTest, RejectsDuplicateKeysAtAnyDepth) {
  auto top = ParseJson(R"({"a":1,"a":2})");
  EXPECT_EQ(top.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(top.status().message().find("duplicate object key 'a'"), std::string::npos);
  EXPECT_FALSE(ParseJson(R"({"x":{"b":1,"b":1}})").ok());
  // The same key in sibling objects is fine.
  EXPECT_TRUE(ParseJson(R"([{"a":1},{"a":2}])").ok());
  ParseJsonOptions lax;
  lax.reject_duplicate_keys = false;
  EXPECT_TRUE(ParseJson(R"({"a":1,"a":2})", lax).ok());
}

TEST(JsonTest, RejectsMalformedWithOffset) {
  auto j = ParseJson(R"({"a":})");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("at byte"), std::string::npos) << j.status();
  EXPECT_FALSE(ParseJson("").ok());
  EXPECT_FALSE(ParseJson("{} {}").ok());
  EXPECT_FALSE(ParseJson("\"\xff\"").ok());     // invalid UTF-8
  EXPECT_FALSE(ParseJson(R"("\ud800")").ok());  // lone surrogate
}

TEST(JsonTest, RejectsDeepNesting) {
  std::string deep(10000, '[');
  deep += std::string(10000, ']');
  auto j = ParseJson(deep);
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonTest, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
}

TEST(JsonTest, TypedGettersNameTheField) {
  Json j = ParseJson(R"({"n":"x","i":5,"b":true,"f":1.5})").value();
  EXPECT_EQ(*GetInt(j, "i"), 5);
  EXPECT_EQ(*GetNumber(j, "f"), 1.5);
  EXPECT_TRUE(*GetBool(j, "b"));
  auto bad = GetInt(j, "n", "agents");
  EXPECT_EQ(bad.status().message(), "agents.n: expected integer, got string");
  EXPECT_EQ(GetString(j, "zz").status().message(), "zz: missing");
}

TEST(JsonTest, DumpNeverThrowsOnBadUtf8) {
  Json j = std::string("\xff");
  EXPECT_EQ(DumpJson(j), "\"\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace kos
