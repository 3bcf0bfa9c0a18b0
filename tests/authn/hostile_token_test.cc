// Every token here must be refused with UNAUTHENTICATED, without a crash and
// without echoing the token in the message.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "authn/authn_test_env.h"
#include "gtest/gtest.h"
#include "kos/crypto.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::AuthnEnv;

std::string B64(absl::string_view s) { return Base64UrlEncode(s); }

struct Hostile {
  std::string name;
  std::string token;
  // Expected failure kind, or kNone for "any".
  TokenFailure expect = TokenFailure::kNone;
};

class HostileTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    user_ = env_.MakeUser("alice");
    auto t = env_.auth->Login("alice", "correct horse", "10.0.0.1");
    ASSERT_TRUE(t.ok()) << t.status();
    good_ = *t;
    ASSERT_TRUE(env_.auth->Validate(good_.access_token).ok());
    std::vector<std::string> parts = absl::StrSplit(good_.access_token, '.');
    ASSERT_EQ(parts.size(), 3u);
    h_ = parts[0];
    p_ = parts[1];
    s_ = parts[2];
    kid_ = env_.keyring->ActiveKid();
  }

  Json GoodHeader() const { return {{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", kid_}}; }
  Json GoodPayload() const {
    int64_t now = absl::ToUnixSeconds(env_.clock.Now());
    return {{"iss", AuthnEnv::kIssuer},
            {"sub", user_.id},
            {"aud", AuthnEnv::kAudience},
            {"iat", now},
            {"nbf", now},
            {"exp", now + 600},
            {"jti", "j1"},
            {"sid", good_.session_id},
            {"roles", {"user"}}};
  }
  // Signs raw header/payload text with the real active key.
  std::string SignRaw(absl::string_view header, absl::string_view payload) {
    std::string input = absl::StrCat(B64(header), ".", B64(payload));
    auto sig = env_.keyring->Sign(input);
    return absl::StrCat(input, ".", B64(sig->second));
  }
  std::string Sign(const Json& header, const Json& payload) {
    return SignRaw(DumpJson(header), DumpJson(payload));
  }
  std::string WithPayload(const Json& payload) { return Sign(GoodHeader(), payload); }
  std::string WithHeader(const Json& header) { return Sign(header, GoodPayload()); }
  std::string Unsigned(const Json& header, const Json& payload, absl::string_view sig) {
    return absl::StrCat(B64(DumpJson(header)), ".", B64(DumpJson(payload)), ".", sig);
  }

  void ExpectRefused(const Hostile& h) {
    TokenFailure why = TokenFailure::kNone;
    auto r = env_.auth->Validate(h.token, "203.0.113.9", &why);
    ASSERT_FALSE(r.ok()) << h.name << " was accepted";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated)
        << h.name << ": " << r.status();
    EXPECT_NE(why, TokenFailure::kNone) << h.name;
    if (h.expect != TokenFailure::kNone) {
      EXPECT_EQ(why, h.expect) << h.name << ": got " << TokenFailureName(why) << " ("
                               << r.status().message() << ")";
    }
    EXPECT_LT(r.status().message().size(), 120u) << h.name;
    // No part of the token leaks into the message.
    for (absl::string_view seg : absl::StrSplit(h.token, '.')) {
      if (seg.size() >= 8) {
        EXPECT_EQ(r.status().message().find(std::string(seg)), std::string::npos) << h.name;
      }
    }
  }

  AuthnEnv env_;
  User user_;
  TokenSet good_;
  std::string h_, p_, s_, kid_;
};

TEST_F(HostileTokenTest, AllRefused) {
  const int64_t now = absl::ToUnixSeconds(env_.clock.Now());
  const std::string pub = env_.keyring->Keys()[0].public_key;
  std::vector<Hostile> cases;
  auto add = [&](std::string name, std::string token, TokenFailure f = TokenFailure::kNone) {
    cases.push_back({std::move(name), std::move(token), f});
  };

  // --- algorithm confusion (RFC 8725 §2.1, §3.1) ---
  Json none = GoodHeader();
  none["alg"] = "none";
  add("alg none, empty signature", Unsigned(none, GoodPayload(), ""), TokenFailure::kMalformed);
  add("alg none, real signature bytes", absl::StrCat(B64(DumpJson(none)), ".", p_, ".", s_),
      TokenFailure::kHeader);
  add("alg None (case)", WithHeader({{"alg", "None"}, {"typ", "at+jwt"}, {"kid", kid_}}),
      TokenFailure::kHeader);
  Json hs = GoodHeader();
  hs["alg"] = "HS256";
  {
    std::string input = absl::StrCat(B64(DumpJson(hs)), ".", p_);
    add("HS256 keyed with the raw public key",
        absl::StrCat(input, ".", B64(HmacSha256(pub, input))), TokenFailure::kHeader);
    add("HS256 keyed with the JWK x string",
        absl::StrCat(input, ".", B64(HmacSha256(B64(pub), input))), TokenFailure::kHeader);
  }
  Json rs = GoodHeader();
  rs["alg"] = "RS256";
  add("RS256 header, real Ed25519 signature", WithHeader(rs), TokenFailure::kHeader);
  Json es = GoodHeader();
  es["alg"] = "ES256";
  add("ES256 header", WithHeader(es), TokenFailure::kHeader);
  Json lower = GoodHeader();
  lower["alg"] = "eddsa";
  add("alg lowercase eddsa", WithHeader(lower), TokenFailure::kHeader);
  Json ed = GoodHeader();
  ed["alg"] = "Ed25519";
  add("alg Ed25519 (not the JOSE name)", WithHeader(ed), TokenFailure::kHeader);
  Json noalg = GoodHeader();
  noalg.erase("alg");
  add("missing alg", WithHeader(noalg), TokenFailure::kHeader);
  Json arralg = GoodHeader();
  arralg["alg"] = {"EdDSA"};
  add("alg as array", WithHeader(arralg), TokenFailure::kHeader);

  // --- key selection ---
  {
    // A key from another keyring (another deployment): its kid is unknown.
    auto other_store = *OpenStore("memory:");
    SigningKeyringOptions ko;
    ko.store = other_store.get();
    ko.key_encryption_key = env_.kek;
    auto other = *SigningKeyring::Open(ko);
    Json oh = GoodHeader();
    oh["kid"] = other->ActiveKid();
    std::string input = absl::StrCat(B64(DumpJson(oh)), ".", p_);
    add("kid and signature of another keyring",
        absl::StrCat(input, ".", B64(other->Sign(input)->second)), TokenFailure::kUnknownKey);
    // Same, but claiming our kid: the signature cannot verify.
    std::string input2 = absl::StrCat(h_, ".", p_);
    add("our kid, signed by another key",
        absl::StrCat(input2, ".", B64(other->Sign(input2)->second)), TokenFailure::kSignature);
  }
  Json unknown = GoodHeader();
  unknown["kid"] = "01HZZZZZZZZZZZZZZZZZZZZZZZ";
  add("unknown kid, real signature", WithHeader(unknown), TokenFailure::kUnknownKey);
  Json nokid = GoodHeader();
  nokid.erase("kid");
  add("missing kid", WithHeader(nokid), TokenFailure::kHeader);
  Json emptykid = GoodHeader();
  emptykid["kid"] = "";
  add("empty kid", WithHeader(emptykid), TokenFailure::kHeader);
  Json numkid = GoodHeader();
  numkid["kid"] = 1;
  add("kid as number", WithHeader(numkid), TokenFailure::kHeader);
  {
    // jku / x5u / jwk never select a key: an attacker key named in them with
    // its own kid is simply unknown.
    Ed25519KeyPair attacker = Ed25519KeyPair::Generate();
    Json jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", attacker.PublicKeyBase64Url()}};
    for (const char* member : {"jku", "x5u", "jwk"}) {
      Json h = GoodHeader();
      h["kid"] = "attacker";
      if (std::string(member) == "jwk") {
        h[member] = jwk;
      } else {
        h[member] = "https://attacker.example/keys";
      }
      std::string input = absl::StrCat(B64(DumpJson(h)), ".", p_);
      add(absl::StrCat(member, " header with attacker key"),
          absl::StrCat(input, ".", B64(attacker.Sign(input))), TokenFailure::kUnknownKey);
    }
    Json h = GoodHeader();
    h["jwk"] = jwk;
    std::string input = absl::StrCat(B64(DumpJson(h)), ".", p_);
    add("embedded jwk header with our kid, attacker signature",
        absl::StrCat(input, ".", B64(attacker.Sign(input))), TokenFailure::kSignature);
    Json x5c = GoodHeader();
    x5c["x5c"] = {"MIIB"};
    std::string input3 = absl::StrCat(B64(DumpJson(x5c)), ".", p_);
    add("x5c header, attacker signature", absl::StrCat(input3, ".", B64(attacker.Sign(input3))),
        TokenFailure::kSignature);
  }

  // --- header checks ---
  Json jwt = GoodHeader();
  jwt["typ"] = "JWT";
  add("typ JWT instead of at+jwt", WithHeader(jwt), TokenFailure::kHeader);
  Json notyp = GoodHeader();
  notyp.erase("typ");
  add("missing typ", WithHeader(notyp), TokenFailure::kHeader);
  Json crit = GoodHeader();
  crit["crit"] = {"exp"};
  add("crit header", WithHeader(crit), TokenFailure::kHeader);
  Json b64 = GoodHeader();
  b64["b64"] = false;
  add("b64=false header (RFC 7797)", WithHeader(b64), TokenFailure::kHeader);
  add("duplicate alg in header",
      SignRaw(absl::StrCat(R"({"alg":"EdDSA","typ":"at+jwt","kid":")", kid_, R"(","alg":"none"})"),
              DumpJson(GoodPayload())),
      TokenFailure::kMalformed);
  add("header is a JSON array", SignRaw("[1,2]", DumpJson(GoodPayload())),
      TokenFailure::kMalformed);
  add("header is not JSON", SignRaw("{alg:EdDSA}", DumpJson(GoodPayload())),
      TokenFailure::kMalformed);
  {
    Json huge = GoodHeader();
    huge["pad"] = std::string(2000, 'x');
    add("huge header (2 KB)", WithHeader(huge), TokenFailure::kMalformed);
  }
  {
    Json deep = GoodHeader();
    std::string nested = std::string(500, '[') + std::string(500, ']');
    add("deeply nested header",
        SignRaw(absl::StrCat(R"({"alg":"EdDSA","typ":"at+jwt","kid":")", kid_, R"(","x":)", nested,
                             "}"),
                DumpJson(GoodPayload())),
        TokenFailure::kMalformed);
  }

  // --- claims (validly signed, so only claim checks can refuse) ---
  auto payload_with = [&](const char* k, Json v) {
    Json p = GoodPayload();
    p[k] = std::move(v);
    return WithPayload(p);
  };
  auto payload_without = [&](const char* k) {
    Json p = GoodPayload();
    p.erase(k);
    return WithPayload(p);
  };
  add("expired", payload_with("exp", now - 3600), TokenFailure::kExpired);
  add("expired just beyond leeway", payload_with("exp", now - 60), TokenFailure::kExpired);
  {
    Json p = GoodPayload();
    p["nbf"] = now + 3600;
    p["exp"] = now + 3700;
    p["iat"] = now;
    add("not yet valid (nbf)", WithPayload(p), TokenFailure::kNotYetValid);
    Json q = GoodPayload();
    q["iat"] = now + 600;
    q["nbf"] = now;
    q["exp"] = now + 900;
    add("iat in the future beyond leeway", WithPayload(q), TokenFailure::kNotYetValid);
  }
  add("wrong iss", payload_with("iss", "https://evil.example"), TokenFailure::kClaims);
  add("iss with trailing slash", payload_with("iss", std::string(AuthnEnv::kIssuer) + "/"),
      TokenFailure::kClaims);
  add("wrong aud", payload_with("aud", "other-api"), TokenFailure::kClaims);
  add("aud array without ours", payload_with("aud", {"a", "b"}), TokenFailure::kClaims);
  add("missing aud", payload_without("aud"), TokenFailure::kClaims);
  add("missing exp", payload_without("exp"), TokenFailure::kClaims);
  add("missing iat", payload_without("iat"), TokenFailure::kClaims);
  add("missing sub", payload_without("sub"), TokenFailure::kClaims);
  add("missing jti", payload_without("jti"), TokenFailure::kClaims);
  add("empty sub", payload_with("sub", ""), TokenFailure::kClaims);
  add("exp as string", payload_with("exp", std::to_string(now + 600)), TokenFailure::kClaims);
  add("exp huge", payload_with("exp", 1e300), TokenFailure::kClaims);
  add("exp negative", payload_with("exp", -5), TokenFailure::kClaims);
  add("exp a year away (lifetime too long)", payload_with("exp", now + 365 * 86400),
      TokenFailure::kClaims);
  add("iss as number", payload_with("iss", 7), TokenFailure::kClaims);
  add("roles as string", payload_with("roles", "admin"), TokenFailure::kClaims);
  add("sid as object", payload_with("sid", Json::object()), TokenFailure::kClaims);
  add("duplicate sub in payload",
      SignRaw(DumpJson(GoodHeader()),
              absl::StrCat(DumpJson(GoodPayload()).substr(0, DumpJson(GoodPayload()).size() - 1),
                           R"(,"sub":"admin"})")),
      TokenFailure::kMalformed);
  add("payload is an array", SignRaw(DumpJson(GoodHeader()), "[]"), TokenFailure::kMalformed);
  add("payload is null", SignRaw(DumpJson(GoodHeader()), "null"), TokenFailure::kMalformed);
  add("payload is not JSON", SignRaw(DumpJson(GoodHeader()), "sub=admin"),
      TokenFailure::kMalformed);
  add("payload invalid UTF-8", SignRaw(DumpJson(GoodHeader()), "{\"sub\":\"\xff\xfe\"}"),
      TokenFailure::kMalformed);

  // --- tampering and framing ---
  {
    Json p = GoodPayload();
    p["roles"] = {"admin"};
    add("tampered payload (roles: admin)", absl::StrCat(h_, ".", B64(DumpJson(p)), ".", s_),
        TokenFailure::kSignature);
    Json h = GoodHeader();
    h["x"] = 1;
    add("tampered header", absl::StrCat(B64(DumpJson(h)), ".", p_, ".", s_),
        TokenFailure::kSignature);
    std::string flipped = s_;
    flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
    add("one signature character changed", absl::StrCat(h_, ".", p_, ".", flipped));
  }
  add("stripped signature", absl::StrCat(h_, ".", p_, "."), TokenFailure::kMalformed);
  add("short signature (63 bytes)", absl::StrCat(h_, ".", p_, ".", B64(std::string(63, 'a'))),
      TokenFailure::kSignature);
  add("zero signature (64 bytes)", absl::StrCat(h_, ".", p_, ".", B64(std::string(64, '\0'))),
      TokenFailure::kSignature);
  {
    auto other = env_.auth->Login("alice", "correct horse", "10.0.0.1");
    std::vector<std::string> op = absl::StrSplit(other->access_token, '.');
    add("signature of another token", absl::StrCat(h_, ".", p_, ".", op[2]),
        TokenFailure::kSignature);
  }
  add("truncated", good_.access_token.substr(0, good_.access_token.size() - 10));
  add("truncated to header", h_, TokenFailure::kMalformed);
  add("extra segment", absl::StrCat(good_.access_token, ".", s_), TokenFailure::kMalformed);
  add("five segments (JWE shape)", absl::StrCat(h_, ".", p_, ".", s_, ".", s_, ".", s_),
      TokenFailure::kMalformed);
  add("two segments", absl::StrCat(h_, ".", p_), TokenFailure::kMalformed);
  add("empty token", "", TokenFailure::kMalformed);
  add("only dots", "..", TokenFailure::kMalformed);
  {
    std::string std_b64 = s_;
    for (char& c : std_b64) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    std_b64[0] = '+';
    add("non-base64url character '+'", absl::StrCat(h_, ".", p_, ".", std_b64),
        TokenFailure::kMalformed);
  }
  add("padding '=' on header", absl::StrCat(h_, "=.", p_, ".", s_), TokenFailure::kMalformed);
  add("whitespace inside", absl::StrCat(h_, ". ", p_, ".", s_), TokenFailure::kMalformed);
  add("Bearer prefix left on", absl::StrCat("Bearer ", good_.access_token),
      TokenFailure::kMalformed);
  add("NUL byte inside", absl::StrCat(h_, std::string(1, '\0'), ".", p_, ".", s_),
      TokenFailure::kMalformed);
  add("bytes >= 0x80", absl::StrCat(h_, "\xc3\xa9.", p_, ".", s_), TokenFailure::kMalformed);
  add("huge token (100 KB)", absl::StrCat(h_, ".", std::string(100000, 'A'), ".", s_),
      TokenFailure::kMalformed);

  // --- liveness: a valid signature on claims whose subject is gone ---
  {
    User bob = env_.MakeUser("bob");
    Json p = GoodPayload();
    p["sub"] = bob.id;  // alice's session, bob's id
    add("session of another user", WithPayload(p), TokenFailure::kRevoked);
    Json q = GoodPayload();
    q["sid"] = "AAAAAAAAAAAAAAAAAAAAAA";
    add("unknown session id", WithPayload(q), TokenFailure::kRevoked);
    Json c = GoodPayload();
    c.erase("sid");
    c["sub"] = "no-such-client";
    add("client token for an unknown client", WithPayload(c), TokenFailure::kRevoked);
  }

  ASSERT_GE(cases.size(), 40u);
  for (const Hostile& h : cases) ExpectRefused(h);
  // The good token still works: nothing above disturbed state.
  EXPECT_TRUE(env_.auth->Validate(good_.access_token).ok());
  // Bad signatures and unknown keys were reported.
  EXPECT_GE(env_.signature_failures.size(), 10u);
  std::cout << "hostile tokens refused: " << cases.size() << "\n";
}

// Cases that need state changes between issue and validation.
TEST_F(HostileTokenTest, RevokedSessionRefusedAtOnce) {
  KOS_ASSERT_OK(env_.auth->Logout(good_.access_token));
  TokenFailure why;
  auto r = env_.auth->Validate(good_.access_token, "", &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kRevoked);
}

TEST_F(HostileTokenTest, SessionIdleTimeoutRefused) {
  // The session times out after 10 minutes; the token would live 15.
  env_.clock.Advance(absl::Minutes(11));
  TokenFailure why;
  auto r = env_.auth->Validate(good_.access_token, "", &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kRevoked);
}

TEST_F(HostileTokenTest, ExpiredAfterLifetimePlusLeeway) {
  env_.clock.Advance(absl::Minutes(15) + absl::Seconds(59));
  // Still within leeway (session of 10 minutes would end first, so refresh
  // the session clock: use the token service directly).
  EXPECT_TRUE(env_.tokens->Verify(good_.access_token).ok());
  env_.clock.Advance(absl::Seconds(1));
  TokenFailure why;
  EXPECT_FALSE(env_.tokens->Verify(good_.access_token, &why).ok());
  EXPECT_EQ(why, TokenFailure::kExpired);
}

TEST_F(HostileTokenTest, DeletedUserRefused) {
  KOS_ASSERT_OK(env_.users->Delete(user_.id));
  TokenFailure why;
  auto r = env_.auth->Validate(good_.access_token, "", &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kRevoked);
}

TEST_F(HostileTokenTest, DisabledUserRefused) {
  KOS_ASSERT_OK(env_.users->Disable(user_.id));
  TokenFailure why;
  auto r = env_.auth->Validate(good_.access_token, "", &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kRevoked);
  KOS_ASSERT_OK(env_.users->Enable(user_.id));
  EXPECT_TRUE(env_.auth->Validate(good_.access_token).ok());
}

TEST_F(HostileTokenTest, RetiredKeyRefused) {
  // Pre-sign a token whose claims become valid only after the old key has
  // retired, so the key's retirement is the only reason to refuse it.
  Json p = GoodPayload();
  int64_t later = absl::ToUnixSeconds(env_.clock.Now() + absl::Minutes(70));
  p["iat"] = later;
  p["nbf"] = later;
  p["exp"] = later + 600;
  p.erase("sid");
  std::string token = WithPayload(p);
  ASSERT_TRUE(env_.keyring->Rotate().ok());
  env_.clock.Advance(absl::Minutes(70));
  TokenFailure why;
  auto r = env_.tokens->Verify(token, &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kUnknownKey);
}

TEST_F(HostileTokenTest, ParserNeverEchoesInput) {
  auto r = ParseCompactJws("secret-looking-bytes.more.bytes!");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("secret"), std::string::npos);
}

}  // namespace
}  // namespace kos
