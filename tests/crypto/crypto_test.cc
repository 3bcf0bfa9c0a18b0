#include "kos/crypto.h"

#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using absl::StatusCode;

TEST(SecretBytesTest, NeverPrintsContent) {
  SecretBytes s = SecretBytes::CopyFrom("hunter2-very-secret");
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "[redacted 19 bytes]");
  EXPECT_EQ(s.view(), "hunter2-very-secret");
}

TEST(SecretBytesTest, MoveTransfersAndEmptiesSource) {
  SecretBytes a = SecretBytes::CopyFrom("abc");
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.view(), "abc");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented state
  SecretBytes c;
  c = std::move(b);
  EXPECT_EQ(c.view(), "abc");
  SecretBytes d = c.Clone();
  EXPECT_TRUE(d.Equals(c));
  EXPECT_FALSE(d.Equals(SecretBytes::CopyFrom("abd")));
  static_assert(!std::is_copy_constructible_v<SecretBytes>);
}

TEST(SecretBytesTest, RandomIsRandom) {
  SecretBytes a = SecretBytes::Random(32), b = SecretBytes::Random(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_FALSE(a.Equals(b));
  EXPECT_EQ(SecretBytes(4).view(), std::string(4, '\0'));
}

TEST(Base64UrlTest, RoundTripsAllLengths) {
  for (size_t n = 0; n < 70; ++n) {
    std::string bytes = RandomBytes(n);
    std::string enc = Base64UrlEncode(bytes);
    EXPECT_EQ(enc.find_first_of("=+/"), std::string::npos);
    auto dec = Base64UrlDecode(enc);
    ASSERT_TRUE(dec.ok()) << dec.status();
    EXPECT_EQ(*dec, bytes);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64UrlTest, StrictDecoderRejectsBadInput) {
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
  for (const char* bad : {"-_8=", "Zg==", "Zm9v+g", "Zm9v/g", "Zm 9v", "Zm9v\n", "Z", "Zm9vY", "Zh",
                          "Zm9=", "Zm9vYh", "\xc3\xa9"}) {
    auto r = Base64UrlDecode(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << "accepted '" << bad << "'";
  }
  // "Zg" is canonical for "f"; "Zh" differs only in unused trailing bits.
  EXPECT_EQ(*Base64UrlDecode("Zg"), "f");
  EXPECT_FALSE(Base64UrlDecodeSecret("Zh").ok());
  EXPECT_EQ(Base64UrlDecodeSecret("Zm9v")->view(), "foo");
}

TEST(RandomTest, Uniform) {
  for (int i = 0; i < 100; ++i) EXPECT_LT(RandomUniform(10), 10u);
  EXPECT_EQ(RandomUniform(0), 0u);
  EXPECT_NE(RandomBytes(16), RandomBytes(16));
}

TEST(ConstantTimeEqualsTest, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
}

TEST(HashTest, Sha256KnownAnswer) {
  EXPECT_EQ(absl::BytesToHexString(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HashTest, Blake2bKnownAnswerAndSizes) {
  // RFC 7693 Appendix A: BLAKE2b-512("abc").
  EXPECT_EQ(absl::BytesToHexString(*Blake2b("abc", 64)),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
  EXPECT_EQ(Blake2b("abc", 15).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Blake2b("abc", 65).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Blake2b("abc", 32, "short").status().code(), StatusCode::kInvalidArgument);
  auto k1 = Blake2b("abc", 32, std::string(32, 'k'));
  auto k2 = Blake2b("abc", 32, std::string(32, 'j'));
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_NE(*k1, *k2);
  EXPECT_NE(*k1, *Blake2b("abc", 32));
  EXPECT_EQ(Blake2b("abc", 16)->size(), 16u);
}

TEST(HmacTest, Rfc4231Case2) {
  EXPECT_EQ(absl::BytesToHexString(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  std::string tag = HmacSha256("Jefe", "what do ya want for nothing?");
  KOS_EXPECT_OK(HmacSha256Verify("Jefe", "what do ya want for nothing?", tag));
  KOS_EXPECT_OK(HmacSha256Verify("Jefe", "what do ya want for nothing?", tag.substr(0, 16)));
  EXPECT_EQ(HmacSha256Verify("Jefe", "what do ya want for nothing?", tag.substr(0, 15)).code(),
            StatusCode::kInvalidArgument);
  tag[31] ^= 1;
  EXPECT_EQ(HmacSha256Verify("Jefe", "what do ya want for nothing?", tag).code(),
            StatusCode::kUnauthenticated);
}

TEST(HkdfTest, Limits) {
  EXPECT_EQ(HkdfSha256("ikm", "", "", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HkdfSha256("ikm", "", "", kHkdfSha256MaxBytes + 1).status().code(),
            StatusCode::kInvalidArgument);
  auto max = HkdfSha256("ikm", "", "", kHkdfSha256MaxBytes);
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->size(), kHkdfSha256MaxBytes);
  // A shorter output is a prefix of a longer one (same PRK and info).
  EXPECT_EQ(HkdfSha256("ikm", "", "", 40)->view(), max->view().substr(0, 40));
  EXPECT_NE(HkdfSha256("ikm", "", "a", 40)->view(), max->view().substr(0, 40));
}

TEST(Ed25519Test, Rfc8032Test1) {
  const std::string seed =
      absl::HexStringToBytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto kp = Ed25519KeyPair::FromSeed(seed);
  ASSERT_TRUE(kp.ok()) << kp.status();
  EXPECT_EQ(absl::BytesToHexString(kp->public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const std::string sig = kp->Sign("");
  EXPECT_EQ(absl::BytesToHexString(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  KOS_EXPECT_OK(Ed25519Verify(kp->public_key(), "", sig));
  EXPECT_EQ(kp->ExportSeed().view(), seed);
  EXPECT_EQ(*Ed25519Sign(SecretBytes::CopyFrom(seed), ""), sig);
  EXPECT_EQ(*Ed25519Sign(kp->secret_key(), ""), sig);
}

TEST(Ed25519Test, GenerateSignVerifyAndBase64Export) {
  Ed25519KeyPair kp = Ed25519KeyPair::Generate();
  EXPECT_EQ(kp.public_key().size(), kEd25519PublicKeyBytes);
  const std::string sig = Ed25519Sign(kp, "hello");
  EXPECT_EQ(sig.size(), kEd25519SignatureBytes);
  KOS_EXPECT_OK(Ed25519Verify(kp.public_key(), "hello", sig));
  EXPECT_EQ(Ed25519Verify(kp.public_key(), "hellO", sig).code(), StatusCode::kUnauthenticated);

  SecretBytes seed_b64 = kp.ExportSeedBase64Url();
  EXPECT_EQ(seed_b64.size(), 43u);
  auto again = Ed25519KeyPair::FromSeedBase64Url(seed_b64.view());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->public_key(), kp.public_key());
  auto pk = Ed25519PublicKeyFromBase64Url(kp.PublicKeyBase64Url());
  ASSERT_TRUE(pk.ok());
  EXPECT_EQ(*pk, kp.public_key());
  EXPECT_EQ(kp.Clone().public_key(), kp.public_key());
}

TEST(Ed25519Test, EveryFlippedSignatureBitFails) {
  Ed25519KeyPair kp = Ed25519KeyPair::Generate();
  const std::string sig = kp.Sign("message");
  for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
    std::string bad = sig;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    absl::Status s = Ed25519Verify(kp.public_key(), "message", bad);
    ASSERT_EQ(s.code(), StatusCode::kUnauthenticated) << "bit " << bit;
  }
}

TEST(Ed25519Test, WrongSizesAreInvalidArgument) {
  Ed25519KeyPair kp = Ed25519KeyPair::Generate();
  const std::string sig = kp.Sign("m");
  EXPECT_EQ(Ed25519Verify(kp.public_key().substr(1), "m", sig).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Verify(kp.public_key(), "m", sig.substr(1)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Verify(kp.public_key(), "m", sig + "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519KeyPair::FromSeed("short").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Sign(SecretBytes(33), "m").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519PublicKeyFromBase64Url("AAAA").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519KeyPair::FromSeedBase64Url("not base64!").status().code(),
            StatusCode::kInvalidArgument);
  // A different key does not verify.
  EXPECT_EQ(Ed25519Verify(Ed25519KeyPair::Generate().public_key(), "m", sig).code(),
            StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace kos
