// Wycheproof vectors for Ed25519, HMAC-SHA256 and HKDF-SHA256. Every vector
// in each file is run; "valid" must pass, "invalid" must fail, and
// "acceptable" (none in these files today) may do either and is counted.
#include "crypto/wycheproof_util.h"
#include "gtest/gtest.h"
#include "kos/crypto.h"

namespace kos {
namespace {

using ::kos::testing::Hex;
using ::kos::testing::LoadWycheproof;
using ::kos::testing::VectorTally;

TEST(WycheproofTest, Ed25519) {
  Json doc = LoadWycheproof("ed25519_test.json");
  VectorTally tally("ed25519_test.json");
  for (const Json& group : doc.at("testGroups")) {
    const std::string pk =
        absl::HexStringToBytes(group.at("publicKey").at("pk").get<std::string>());
    for (const Json& t : group.at("tests")) {
      const std::string result = t.at("result");
      absl::Status s = Ed25519Verify(pk, Hex(t, "msg"), Hex(t, "sig"));
      tally.Ran(result);
      if (result == "valid") {
        EXPECT_TRUE(s.ok()) << "tcId " << t.at("tcId") << ": " << s;
      } else if (result == "invalid") {
        EXPECT_FALSE(s.ok()) << "tcId " << t.at("tcId") << " " << t.at("comment");
        // Wrong-size signatures are bad input; well-formed forgeries are
        // authentication failures.
        EXPECT_TRUE(s.code() == absl::StatusCode::kUnauthenticated ||
                    s.code() == absl::StatusCode::kInvalidArgument)
            << s;
      }
    }
  }
  EXPECT_EQ(tally.run(), doc.at("numberOfTests").get<int>());
}

TEST(WycheproofTest, HmacSha256) {
  Json doc = LoadWycheproof("hmac_sha256_test.json");
  VectorTally tally("hmac_sha256_test.json");
  for (const Json& group : doc.at("testGroups")) {
    const size_t tag_bytes = group.at("tagSize").get<size_t>() / 8;
    for (const Json& t : group.at("tests")) {
      const std::string result = t.at("result");
      const std::string key = Hex(t, "key"), msg = Hex(t, "msg"), tag = Hex(t, "tag");
      ASSERT_EQ(tag.size(), tag_bytes);
      tally.Ran(result);
      const std::string full = HmacSha256(key, msg);
      absl::Status s = HmacSha256Verify(key, msg, tag);
      if (result == "valid") {
        EXPECT_EQ(full.substr(0, tag_bytes), tag) << "tcId " << t.at("tcId");
        EXPECT_TRUE(s.ok()) << "tcId " << t.at("tcId") << ": " << s;
      } else if (result == "invalid") {
        EXPECT_NE(full.substr(0, tag_bytes), tag) << "tcId " << t.at("tcId");
        EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << "tcId " << t.at("tcId");
      }
    }
  }
  EXPECT_EQ(tally.run(), doc.at("numberOfTests").get<int>());
}

TEST(WycheproofTest, HkdfSha256) {
  Json doc = LoadWycheproof("hkdf_sha256_test.json");
  VectorTally tally("hkdf_sha256_test.json");
  for (const Json& group : doc.at("testGroups")) {
    for (const Json& t : group.at("tests")) {
      const std::string result = t.at("result");
      tally.Ran(result);
      auto okm = HkdfSha256(Hex(t, "ikm"), Hex(t, "salt"), Hex(t, "info"), t.at("size"));
      if (result == "valid") {
        ASSERT_TRUE(okm.ok()) << "tcId " << t.at("tcId") << ": " << okm.status();
        EXPECT_EQ(okm->view(), Hex(t, "okm")) << "tcId " << t.at("tcId");
      } else if (result == "invalid") {
        EXPECT_EQ(okm.status().code(), absl::StatusCode::kInvalidArgument)
            << "tcId " << t.at("tcId");
      }
    }
  }
  EXPECT_EQ(tally.run(), doc.at("numberOfTests").get<int>());
}

}  // namespace
}  // namespace kos
