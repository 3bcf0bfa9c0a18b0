// Wycheproof AEAD vectors: XChaCha20-Poly1305, ChaCha20-Poly1305 (IETF) and
// AES-256-GCM through the raw AEAD API. "valid" vectors must decrypt to the
// message and encrypt to the exact ciphertext and tag; "invalid" must fail.
#include "crypto/wycheproof_util.h"
#include "gtest/gtest.h"
#include "kos/crypto.h"

namespace kos {
namespace {

using ::kos::testing::Hex;
using ::kos::testing::LoadWycheproof;
using ::kos::testing::VectorTally;

void RunAeadFile(const std::string& file, AeadAlgorithm algorithm, bool aes_gcm_filter) {
  Json doc = LoadWycheproof(file);
  VectorTally tally(file);
  int total = 0;
  for (const Json& group : doc.at("testGroups")) {
    const int key_bits = group.at("keySize"), iv_bits = group.at("ivSize"),
              tag_bits = group.at("tagSize");
    for (const Json& t : group.at("tests")) {
      ++total;
      const std::string result = t.at("result");
      const std::string id = absl::StrCat(file, " tcId ", t.at("tcId").get<int>(), " (",
                                          t.at("comment").get<std::string>(), ")");
      if (aes_gcm_filter && (key_bits != 256 || iv_bits != 96)) {
        tally.Skip("IV size != 96 bits or key size != 256 (libsodium supports only these)");
        continue;
      }
      if (tag_bits != 128) {
        tally.Skip("tag size != 128 bits (libsodium emits full 16-byte tags only)");
        continue;
      }
      tally.Ran(result);
      const SecretBytes key = SecretBytes::CopyFrom(Hex(t, "key"));
      const std::string iv = Hex(t, "iv"), aad = Hex(t, "aad"), msg = Hex(t, "msg");
      const std::string ct_tag = Hex(t, "ct") + Hex(t, "tag");
      auto plain = AeadDecrypt(algorithm, key, iv, ct_tag, aad);
      if (result == "valid") {
        ASSERT_TRUE(plain.ok()) << id << ": " << plain.status();
        EXPECT_EQ(plain->view(), msg) << id;
        auto enc = AeadEncrypt(algorithm, key, iv, msg, aad);
        ASSERT_TRUE(enc.ok()) << id << ": " << enc.status();
        EXPECT_EQ(*enc, ct_tag) << id;
      } else if (result == "invalid") {
        EXPECT_FALSE(plain.ok()) << id;
        // A wrong-size nonce is bad input; anything else is a forgery.
        const auto expected = iv.size() != AeadNonceBytes(algorithm)
                                  ? absl::StatusCode::kInvalidArgument
                                  : absl::StatusCode::kUnauthenticated;
        EXPECT_EQ(plain.status().code(), expected) << id << ": " << plain.status();
      }
    }
  }
  EXPECT_EQ(total, doc.at("numberOfTests").get<int>());
  EXPECT_GT(tally.run(), 0);
}

TEST(WycheproofAeadTest, XChaCha20Poly1305) {
  RunAeadFile("xchacha20_poly1305_test.json", AeadAlgorithm::kXChaCha20Poly1305, false);
}

TEST(WycheproofAeadTest, ChaCha20Poly1305Ietf) {
  RunAeadFile("chacha20_poly1305_test.json", AeadAlgorithm::kChaCha20Poly1305Ietf, false);
}

TEST(WycheproofAeadTest, Aes256Gcm) {
  if (!Aes256GcmAvailable()) {
    GTEST_SKIP() << "AES-256-GCM unavailable on this CPU (libsodium needs AES-NI + PCLMUL)";
  }
  RunAeadFile("aes_gcm_test.json", AeadAlgorithm::kAes256Gcm, true);
}

}  // namespace
}  // namespace kos
