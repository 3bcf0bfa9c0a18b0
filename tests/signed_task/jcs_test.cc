#include "kos/jcs.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

double FromBits(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

class JcsVectorTest : public ::testing::TestWithParam<const char*> {};

TEST_P(JcsVectorTest, MatchesReferenceOutputByteForByte) {
  std::string name = GetParam();
  std::string input = testing::ReadFileOrDie(testing::TestDataPath("jcs/input/" + name));
  std::string expected = testing::ReadFileOrDie(testing::TestDataPath("jcs/output/" + name));
  ASSERT_FALSE(expected.empty());
  auto got = Canonicalize(input);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
  // Canonical output is a fixed point.
  auto again = Canonicalize(*got);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, expected);
}

INSTANTIATE_TEST_SUITE_P(Rfc8785, JcsVectorTest,
                         ::testing::Values("arrays.json", "french.json", "structures.json",
                                           "unicode.json", "values.json", "weird.json"),
                         [](const auto& info) {
                           std::string n = info.param;
                           return n.substr(0, n.find('.'));
                         });

// RFC 8785 Appendix B: IEEE-754 bit patterns and their ES serialization.
TEST(JcsNumberTest, Rfc8785AppendixB) {
  struct Case {
    uint64_t bits;
    const char* want;
  } cases[] = {
      {0x0000000000000000, "0"},
      {0x8000000000000000, "0"},
      {0x0000000000000001, "5e-324"},
      {0x8000000000000001, "-5e-324"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0xffefffffffffffff, "-1.7976931348623157e+308"},
      {0x4340000000000000, "9007199254740992"},
      {0xc340000000000000, "-9007199254740992"},
      {0x4430000000000000, "295147905179352830000"},
      {0x44b52d02c7e14af5, "9.999999999999997e+22"},
      {0x44b52d02c7e14af6, "1e+23"},
      {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
      {0x444b1ae4d6e2ef4e, "999999999999999700000"},
      {0x444b1ae4d6e2ef4f, "999999999999999900000"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x41b3de4355555553, "333333333.3333332"},
      {0x41b3de4355555554, "333333333.33333325"},
      {0x41b3de4355555555, "333333333.3333333"},
      {0x41b3de4355555556, "333333333.3333334"},
      {0x41b3de4355555557, "333333333.33333343"},
      {0xbecbf647612f3696, "-0.0000033333333333333333"},
      {0x43143ff3c1cb0959, "1424953923781206.2"},
  };
  for (const Case& c : cases) {
    auto got = JcsNumber(FromBits(c.bits));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want) << absl::StrCat(absl::Hex(c.bits));
  }
}

TEST(JcsNumberTest, RejectsNanAndInfinity) {
  EXPECT_EQ(JcsNumber(FromBits(0x7fffffffffffffff)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JcsNumber(FromBits(0x7ff0000000000000)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Canonicalize(Json::array({1, std::numeric_limits<double>::infinity()})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JcsTest, IntegersUpTo2Pow53AreExactBeyondAreRejected) {
  EXPECT_EQ(*Canonicalize("[9007199254740992,-9007199254740992,0,-0,1.0,-0.0]"),
            "[9007199254740992,-9007199254740992,0,0,1,0]");
  for (const char* bad : {"[9007199254740993]", "[-9007199254740993]", "[18446744073709551615]",
                          "[18446744073709551616]", "{\"a\":123456789012345678901234567890}"}) {
    auto got = Canonicalize(bad);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(got.status().message().find("2^53"), std::string::npos) << got.status();
  }
  // A big value written as a double is a double, like in every JCS implementation.
  EXPECT_EQ(*Canonicalize("[1e30, 12345678901234567890.0]"), "[1e+30,12345678901234567000]");
  // Digits inside strings are not numbers.
  EXPECT_EQ(*Canonicalize("[\"123456789012345678901234567890\"]"),
            "[\"123456789012345678901234567890\"]");
  EXPECT_EQ(Canonicalize(Json(uint64_t{1} << 60)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JcsTest, RejectsDuplicateKeysLoneSurrogatesAndBadUtf8) {
  EXPECT_EQ(Canonicalize(R"({"a":1,"a":2})").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Canonicalize(R"({"x":{"a":1,"a":1}})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Canonicalize(R"(["\ud800"])").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Canonicalize(R"(["\udc00\ud800"])").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Canonicalize("[\"\xff\"]").status().code(), absl::StatusCode::kInvalidArgument);
  // CESU-8 surrogate in a programmatically built value.
  EXPECT_EQ(Canonicalize(Json("\xed\xa0\x80")).status().code(), absl::StatusCode::kInvalidArgument);
  Json bad_key = Json::object();
  bad_key["\xc3"] = 1;
  EXPECT_EQ(Canonicalize(bad_key).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Canonicalize("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Canonicalize("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Canonicalize("[1] x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JcsTest, SortsKeysByUtf16CodeUnitsNotCodePoints) {
  // Code point order would put U+FB33 before U+1F602; UTF-16 order puts the
  // surrogate pair 0xD83D 0xDE02 first because 0xD83D < 0xFB33.
  Json obj = Json::object();
  obj["\xef\xac\xb3"] = 1;      // U+FB33
  obj["\xf0\x9f\x98\x82"] = 2;  // U+1F602
  obj["\xe2\x82\xac"] = 3;      // U+20AC
  obj["z"] = 4;
  EXPECT_EQ(*Canonicalize(obj),
            "{\"z\":4,\"\xe2\x82\xac\":3,\"\xf0\x9f\x98\x82\":2,\"\xef\xac\xb3\":1}");
}

TEST(JcsTest, EscapesOnlyWhatRfc8785Requires) {
  std::string s = std::string("\x01\x1f\b\f\n\r\t\"\\/\x7f<>&'", 15);
  EXPECT_EQ(*Canonicalize(Json(s)), "\"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\x7f<>&'\"");
}

TEST(JcsTest, ParsesNestedContainersAndScalarRoots) {
  EXPECT_EQ(*Canonicalize(R"([[{"b":[1,{"y":2,"x":[]}],"a":{}},{"c":3}],4,"s",null])"),
            R"([[{"a":{},"b":[1,{"x":[],"y":2}]},{"c":3}],4,"s",null])");
  EXPECT_EQ(*Canonicalize(" 42 "), "42");
  EXPECT_EQ(*Canonicalize("\"x\""), "\"x\"");
  EXPECT_EQ(*Canonicalize("true"), "true");
  EXPECT_EQ(Canonicalize(R"([{"a":1},{"a":2,"b":{"c":1,"c":2}}])").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto parsed = ParseJsonForJcs(R"({"k":[1,2.5,"x",{"z":null}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)["k"][3]["z"], nullptr);
  EXPECT_TRUE((*parsed)["k"][1].is_number_float());
}

TEST(JcsTest, RejectsExcessiveNesting) {
  std::string deep(200, '[');
  deep += std::string(200, ']');
  EXPECT_EQ(Canonicalize(deep).status().code(), absl::StatusCode::kInvalidArgument);
  Json j = Json::array();
  for (int i = 0; i < 200; ++i) j = Json::array({j});
  EXPECT_EQ(Canonicalize(j).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
