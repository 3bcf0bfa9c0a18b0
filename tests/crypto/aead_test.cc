#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kos/crypto.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using absl::StatusCode;

std::vector<AeadAlgorithm> SealAlgorithms() {
  std::vector<AeadAlgorithm> algs = {AeadAlgorithm::kXChaCha20Poly1305};
  if (Aes256GcmAvailable()) algs.push_back(AeadAlgorithm::kAes256Gcm);
  return algs;
}

class SealTest : public ::testing::TestWithParam<AeadAlgorithm> {
 protected:
  SecretBytes key_ = SecretBytes::Random(32);
};

TEST_P(SealTest, RoundTripAndHeader) {
  for (size_t n : {0, 1, 15, 16, 17, 1024, 65537}) {
    const std::string plain = RandomBytes(n);
    auto sealed = Seal(key_, 7, plain, "aad", GetParam());
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_EQ(sealed->size(), 6 + AeadNonceBytes(GetParam()) + n + kAeadTagBytes);
    auto h = ParseSealedHeader(*sealed);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->format_version, kSealedFormatVersion);
    EXPECT_EQ(h->algorithm, GetParam());
    EXPECT_EQ(h->key_version, 7u);
    auto opened = Open(key_, 7, *sealed, "aad");
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(opened->view(), plain);
  }
  // Fresh nonce each time.
  EXPECT_NE(*Seal(key_, 1, "x", "", GetParam()), *Seal(key_, 1, "x", "", GetParam()));
}

TEST_P(SealTest, OpenThroughKeyringLookup) {
  SecretBytes old_key = SecretBytes::Random(32);
  auto sealed_old = Seal(old_key, 1, "old", "", GetParam());
  auto sealed_new = Seal(key_, 2, "new", "", GetParam());
  ASSERT_TRUE(sealed_old.ok() && sealed_new.ok());
  SealKeyLookup lookup = [&](uint32_t v) -> absl::StatusOr<const SecretBytes*> {
    if (v == 1) return &old_key;
    if (v == 2) return &key_;
    return absl::NotFoundError("no such key version");
  };
  EXPECT_EQ(Open(lookup, *sealed_old, "")->view(), "old");
  EXPECT_EQ(Open(lookup, *sealed_new, "")->view(), "new");
  auto sealed_unknown = Seal(key_, 3, "x", "", GetParam());
  EXPECT_EQ(Open(lookup, *sealed_unknown, "").status().code(), StatusCode::kNotFound);
}

TEST_P(SealTest, HostileInputGivesTypedErrors) {
  const std::string sealed = *Seal(key_, 5, "attack at dawn", "ctx", GetParam());
  // Every single flipped bit, header included, is detected.
  for (size_t i = 0; i < sealed.size() * 8; ++i) {
    std::string bad = sealed;
    bad[i / 8] ^= static_cast<char>(1 << (i % 8));
    auto r = Open(key_, 5, bad, "ctx");
    ASSERT_FALSE(r.ok()) << "bit " << i;
    // Header bits may change the format version / algorithm (INVALID_ARGUMENT)
    // or key version (NOT_FOUND); everything else fails authentication.
    if (i >= 48) {
      ASSERT_EQ(r.status().code(), StatusCode::kUnauthenticated) << "bit " << i;
    }
  }
  // Every truncation.
  for (size_t len = 0; len < sealed.size(); ++len) {
    auto r = Open(key_, 5, sealed.substr(0, len), "ctx");
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_TRUE(r.status().code() == StatusCode::kInvalidArgument ||
                r.status().code() == StatusCode::kUnauthenticated)
        << r.status();
  }
  EXPECT_EQ(Open(key_, 5, sealed.substr(0, 10), "ctx").status().code(),
            StatusCode::kInvalidArgument);
  // Wrong AAD, wrong key, wrong key version.
  EXPECT_EQ(Open(key_, 5, sealed, "other").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(Open(SecretBytes::Random(32), 5, sealed, "ctx").status().code(),
            StatusCode::kUnauthenticated);
  auto wrong_version = Open(key_, 6, sealed, "ctx");
  EXPECT_EQ(wrong_version.status().code(), StatusCode::kNotFound);
  EXPECT_NE(wrong_version.status().message().find("key version 5"), std::string::npos);
  // Wrong key size.
  EXPECT_EQ(Seal(SecretBytes::Random(16), 1, "x", "", GetParam()).status().code(),
            StatusCode::kInvalidArgument);
  // The error never contains the plaintext.
  EXPECT_EQ(Open(key_, 5, sealed, "other").status().message().find("attack"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, SealTest, ::testing::ValuesIn(SealAlgorithms()),
                         [](const auto& info) {
                           return std::string(info.param == AeadAlgorithm::kAes256Gcm
                                                  ? "Aes256Gcm"
                                                  : "XChaCha20Poly1305");
                         });

TEST(SealFormatTest, RejectsUnknownVersionAndAlgorithm) {
  SecretBytes key = SecretBytes::Random(32);
  std::string sealed = *Seal(key, 1, "x", "");
  std::string v2 = sealed;
  v2[0] = 2;
  EXPECT_EQ(ParseSealedHeader(v2).status().code(), StatusCode::kInvalidArgument);
  std::string alg = sealed;
  alg[1] = 3;  // ChaCha20-Poly1305 IETF is not a sealed algorithm
  EXPECT_EQ(ParseSealedHeader(alg).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Seal(key, 1, "x", "", AeadAlgorithm::kChaCha20Poly1305Ietf).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Seal(key, 1, "x", "", static_cast<AeadAlgorithm>(9)).status().code(),
            StatusCode::kInvalidArgument);
  // Known-layout check: byte 1 is the algorithm, bytes 2..5 the key version.
  std::string s = *Seal(key, 0x01020304, "x", "");
  EXPECT_EQ(s.substr(0, 6), std::string("\x01\x01\x01\x02\x03\x04", 6));
}

TEST(RawAeadTest, SizesChecked) {
  SecretBytes key = SecretBytes::Random(32);
  const std::string nonce(24, 'n');
  EXPECT_EQ(
      AeadEncrypt(AeadAlgorithm::kXChaCha20Poly1305, key, nonce.substr(1), "m", "").status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(AeadDecrypt(AeadAlgorithm::kXChaCha20Poly1305, key, nonce, "short", "").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(AeadEncrypt(AeadAlgorithm::kXChaCha20Poly1305, SecretBytes(31), nonce, "m", "")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  auto ct = AeadEncrypt(AeadAlgorithm::kXChaCha20Poly1305, key, nonce, "m", "a");
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(AeadDecrypt(AeadAlgorithm::kXChaCha20Poly1305, key, nonce, *ct, "a")->view(), "m");
}

TEST(PasswordHasherTest, HashVerifyRehash) {
  auto hasher = PasswordHasher::Create(PasswordHasherOptions::Minimum());
  ASSERT_TRUE(hasher.ok()) << hasher.status();
  auto h = hasher->Hash("correct horse");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u) << *h;
  KOS_EXPECT_OK(hasher->Verify(*h, "correct horse"));
  EXPECT_EQ(hasher->Verify(*h, "correct horsf").code(), StatusCode::kUnauthenticated);
  EXPECT_NE(*h, *hasher->Hash("correct horse"));  // salted
  EXPECT_FALSE(*hasher->NeedsRehash(*h));

  PasswordHasherOptions stronger = PasswordHasherOptions::Minimum();
  stronger.ops_limit += 1;
  auto hasher2 = PasswordHasher::Create(stronger);
  ASSERT_TRUE(hasher2.ok());
  EXPECT_TRUE(*hasher2->NeedsRehash(*h));
  KOS_EXPECT_OK(hasher2->Verify(*h, "correct horse"));  // old hashes still verify
}

TEST(PasswordHasherTest, DefaultsAreOwasp) {
  PasswordHasherOptions o;
  EXPECT_EQ(o.ops_limit, 2u);
  EXPECT_EQ(o.mem_limit, 19u * 1024 * 1024);
}

TEST(PasswordHasherTest, RejectsMalformed) {
  auto hasher = PasswordHasher::Create(PasswordHasherOptions::Minimum());
  ASSERT_TRUE(hasher.ok());
  for (std::string bad : {std::string(""), std::string("plaintext"),
                          std::string("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
                          std::string("$argon2id$v=19$m=8,t=1,p=1$!!$!!"),
                          std::string("$argon2id$\0junk", 15), std::string(200, 'a')}) {
    EXPECT_EQ(hasher->Verify(bad, "pw").code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(hasher->NeedsRehash(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  PasswordHasherOptions o;
  o.ops_limit = 0;
  EXPECT_EQ(PasswordHasher::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = PasswordHasherOptions();
  o.mem_limit = 1;
  EXPECT_EQ(PasswordHasher::Create(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
