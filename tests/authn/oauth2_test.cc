// RFC 6749 token endpoint: every grant and every error code.
#include "kos/oauth2.h"

#include <map>
#include <string>

#include "authn/authn_test_env.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::AuthnEnv;
using Params = std::map<std::string, std::string>;

// RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined by ':'
// (so a ':' inside a client id travels as %3A).
std::string FormEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '*') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* hex = "0123456789ABCDEF";
      out += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

std::string Basic(const std::string& id, const std::string& secret) {
  std::string b = Base64UrlEncode(FormEncode(id) + ":" + FormEncode(secret));
  for (char& c : b) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (b.size() % 4) b.push_back('=');
  return "Basic " + b;
}

class OAuth2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    user_ = env_.MakeUser("alice", "correct horse", {"user"});
    NewOAuthClient web;
    web.id = "web";
    web.name = "Web app";
    web.confidential = false;
    web.grant_types = {"password", "refresh_token"};
    web.allowed_scopes = {"memory:read", "memory:write"};
    ASSERT_TRUE(env_.clients->Create(web).ok());
    NewOAuthClient agent;
    agent.id = "agent:kPlanner";
    agent.grant_types = {"client_credentials"};
    agent.allowed_scopes = {"tasks:run", "memory:read"};
    agent.roles = {"agent"};
    auto created = env_.clients->Create(agent);
    ASSERT_TRUE(created.ok()) << created.status();
    agent_secret_ = created->secret;
    EXPECT_EQ(agent_secret_.size(), 43u);
  }

  void ExpectError(const TokenEndpointResponse& r, const std::string& code, int status = 400) {
    EXPECT_EQ(r.http_status, status) << r.body.dump();
    EXPECT_EQ(r.body.value("error", ""), code) << r.body.dump();
    EXPECT_TRUE(r.body.contains("error_description"));
    EXPECT_FALSE(r.body.contains("access_token"));
  }

  AuthnEnv env_;
  User user_;
  std::string agent_secret_;
};

TEST_F(OAuth2Test, PasswordGrantThenRefreshGrant) {
  auto r = env_.endpoint->Handle({{"grant_type", "password"},
                                  {"client_id", "web"},
                                  {"username", "alice"},
                                  {"password", "correct horse"},
                                  {"scope", "memory:read"}},
                                 "", "10.1.1.1");
  ASSERT_TRUE(r.ok()) << r.body.dump();
  EXPECT_EQ(r.body["token_type"], "Bearer");
  EXPECT_EQ(r.body["expires_in"], 900);
  EXPECT_EQ(r.body["scope"], "memory:read");
  bool no_store = false;
  for (auto& [k, v] : r.headers) no_store |= (k == "Cache-Control" && v == "no-store");
  EXPECT_TRUE(no_store);
  auto p = env_.auth->Validate(r.body["access_token"].get<std::string>());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->claims.client_id, "web");
  EXPECT_EQ(p->claims.scope, "memory:read");

  std::string rt = r.body["refresh_token"];
  auto r2 = env_.endpoint->Handle(
      {{"grant_type", "refresh_token"}, {"client_id", "web"}, {"refresh_token", rt}});
  ASSERT_TRUE(r2.ok()) << r2.body.dump();
  EXPECT_NE(r2.body["refresh_token"], rt);
  EXPECT_EQ(r2.body["scope"], "memory:read");
  // Replaying the used refresh token: invalid_grant, and the family dies.
  auto r3 = env_.endpoint->Handle(
      {{"grant_type", "refresh_token"}, {"client_id", "web"}, {"refresh_token", rt}});
  ExpectError(r3, "invalid_grant");
  EXPECT_EQ(env_.reuses.size(), 1u);
  auto r4 = env_.endpoint->Handle({{"grant_type", "refresh_token"},
                                   {"client_id", "web"},
                                   {"refresh_token", r2.body["refresh_token"]}});
  ExpectError(r4, "invalid_grant");
}

TEST_F(OAuth2Test, ClientCredentialsGrant) {
  auto r = env_.endpoint->Handle({{"grant_type", "client_credentials"}},
                                 Basic("agent:kPlanner", agent_secret_));
  ASSERT_TRUE(r.ok()) << r.body.dump();
  EXPECT_FALSE(r.body.contains("refresh_token"));
  EXPECT_EQ(r.body["scope"], "tasks:run memory:read");
  auto p = env_.auth->Validate(r.body["access_token"].get<std::string>());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->is_client());
  EXPECT_EQ(p->claims.subject, "agent:kPlanner");
  EXPECT_EQ(p->claims.roles, std::vector<std::string>{"agent"});
  // Secret in the body works too; a narrower scope is granted as asked.
  auto r2 = env_.endpoint->Handle({{"grant_type", "client_credentials"},
                                   {"client_id", "agent:kPlanner"},
                                   {"client_secret", agent_secret_},
                                   {"scope", "tasks:run"}});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2.body["scope"], "tasks:run");
  // Disabling the client kills its outstanding tokens.
  KOS_ASSERT_OK(env_.clients->SetDisabled("agent:kPlanner", true));
  EXPECT_EQ(env_.auth->Validate(r.body["access_token"].get<std::string>()).status().code(),
            absl::StatusCode::kUnauthenticated);
  ExpectError(env_.endpoint->Handle({{"grant_type", "client_credentials"}},
                                    Basic("agent:kPlanner", agent_secret_)),
              "invalid_client", 401);
}

TEST_F(OAuth2Test, ErrorCodes) {
  // invalid_request
  ExpectError(env_.endpoint->Handle({{"client_id", "web"}}), "invalid_request");
  ExpectError(env_.endpoint->Handle(
                  {{"grant_type", "password"}, {"client_id", "web"}, {"username", "alice"}}),
              "invalid_request");
  ExpectError(env_.endpoint->Handle({{"grant_type", "refresh_token"}, {"client_id", "web"}}),
              "invalid_request");
  ExpectError(env_.endpoint->Handle(
                  {{"grant_type", "client_credentials"}, {"client_secret", agent_secret_}},
                  Basic("agent:kPlanner", agent_secret_)),
              "invalid_request");
  // invalid_client: wrong secret, unknown client, no client, confidential
  // client without a secret, bad Basic header.
  auto wrong = env_.endpoint->Handle({{"grant_type", "client_credentials"}},
                                     Basic("agent:kPlanner", "wrong"));
  ExpectError(wrong, "invalid_client", 401);
  bool www = false;
  for (auto& [k, v] : wrong.headers) www |= k == "WWW-Authenticate";
  EXPECT_TRUE(www);
  ExpectError(
      env_.endpoint->Handle(
          {{"grant_type", "client_credentials"}, {"client_id", "nobody"}, {"client_secret", "x"}}),
      "invalid_client", 401);
  ExpectError(env_.endpoint->Handle({{"grant_type", "password"}}), "invalid_client", 401);
  ExpectError(env_.endpoint->Handle(
                  {{"grant_type", "client_credentials"}, {"client_id", "agent:kPlanner"}}),
              "invalid_client", 401);
  ExpectError(env_.endpoint->Handle({{"grant_type", "client_credentials"}}, "Basic !!!"),
              "invalid_client", 401);
  ExpectError(env_.endpoint->Handle({{"grant_type", "client_credentials"}}, "Bearer abc"),
              "invalid_client", 401);
  // invalid_grant: wrong password, unknown user, bad refresh token, lockout.
  ExpectError(env_.endpoint->Handle({{"grant_type", "password"},
                                     {"client_id", "web"},
                                     {"username", "alice"},
                                     {"password", "wrong one"}}),
              "invalid_grant");
  ExpectError(env_.endpoint->Handle({{"grant_type", "password"},
                                     {"client_id", "web"},
                                     {"username", "nobody"},
                                     {"password", "wrong one"}}),
              "invalid_grant");
  ExpectError(env_.endpoint->Handle({{"grant_type", "refresh_token"},
                                     {"client_id", "web"},
                                     {"refresh_token", std::string(43, 'A')}}),
              "invalid_grant");
  env_.locked = absl::Minutes(5);
  ExpectError(env_.endpoint->Handle({{"grant_type", "password"},
                                     {"client_id", "web"},
                                     {"username", "alice"},
                                     {"password", "correct horse"}}),
              "invalid_grant");
  env_.locked = absl::ZeroDuration();
  // unauthorized_client: a client not registered for the grant.
  ExpectError(env_.endpoint->Handle({{"grant_type", "client_credentials"}, {"client_id", "web"}}),
              "unauthorized_client");
  ExpectError(
      env_.endpoint->Handle(
          {{"grant_type", "password"}, {"username", "alice"}, {"password", "correct horse"}},
          Basic("agent:kPlanner", agent_secret_)),
      "unauthorized_client");
  // unsupported_grant_type
  ExpectError(env_.endpoint->Handle({{"grant_type", "authorization_code"}, {"client_id", "web"}}),
              "unsupported_grant_type");
  ExpectError(env_.endpoint->Handle({{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
                                     {"client_id", "web"}}),
              "unsupported_grant_type");
  // invalid_scope
  ExpectError(env_.endpoint->Handle({{"grant_type", "password"},
                                     {"client_id", "web"},
                                     {"username", "alice"},
                                     {"password", "correct horse"},
                                     {"scope", "memory:read admin"}}),
              "invalid_scope");
  ExpectError(
      env_.endpoint->Handle({{"grant_type", "client_credentials"}, {"scope", "memory:write"}},
                            Basic("agent:kPlanner", agent_secret_)),
      "invalid_scope");
  ExpectError(
      env_.endpoint->Handle({{"grant_type", "client_credentials"}, {"scope", "tasks:run \"x\""}},
                            Basic("agent:kPlanner", agent_secret_)),
      "invalid_scope");
  // Refresh asking for more than the original grant.
  auto r = env_.endpoint->Handle({{"grant_type", "password"},
                                  {"client_id", "web"},
                                  {"username", "alice"},
                                  {"password", "correct horse"},
                                  {"scope", "memory:read"}});
  ASSERT_TRUE(r.ok());
  ExpectError(env_.endpoint->Handle({{"grant_type", "refresh_token"},
                                     {"client_id", "web"},
                                     {"refresh_token", r.body["refresh_token"]},
                                     {"scope", "memory:write"}}),
              "invalid_scope");
  // ...and that refusal did not consume the token.
  EXPECT_TRUE(env_.endpoint
                  ->Handle({{"grant_type", "refresh_token"},
                            {"client_id", "web"},
                            {"refresh_token", r.body["refresh_token"]}})
                  .ok());
  // No error body ever contains a secret or password.
  auto leak = env_.endpoint->Handle({{"grant_type", "password"},
                                     {"client_id", "web"},
                                     {"username", "alice"},
                                     {"password", "s3cr3t-pass"}});
  EXPECT_EQ(leak.body.dump().find("s3cr3t"), std::string::npos);
}

TEST_F(OAuth2Test, RefreshTokenBoundToItsClient) {
  NewOAuthClient other;
  other.id = "other";
  other.confidential = false;
  other.grant_types = {"password", "refresh_token"};
  ASSERT_TRUE(env_.clients->Create(other).ok());
  auto r = env_.endpoint->Handle({{"grant_type", "password"},
                                  {"client_id", "web"},
                                  {"username", "alice"},
                                  {"password", "correct horse"}});
  ASSERT_TRUE(r.ok());
  ExpectError(env_.endpoint->Handle({{"grant_type", "refresh_token"},
                                     {"client_id", "other"},
                                     {"refresh_token", r.body["refresh_token"]}}),
              "invalid_grant");
  // Not consumed by the wrong client.
  EXPECT_TRUE(env_.endpoint
                  ->Handle({{"grant_type", "refresh_token"},
                            {"client_id", "web"},
                            {"refresh_token", r.body["refresh_token"]}})
                  .ok());
}

TEST_F(OAuth2Test, ClientRegistry) {
  NewOAuthClient bad;
  bad.id = "x";
  bad.grant_types = {"implicit"};
  EXPECT_EQ(env_.clients->Create(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.grant_types = {"client_credentials"};
  bad.confidential = false;
  EXPECT_EQ(env_.clients->Create(bad).status().code(), absl::StatusCode::kInvalidArgument);
  NewOAuthClient dup;
  dup.id = "web";
  EXPECT_EQ(env_.clients->Create(dup).status().code(), absl::StatusCode::kAlreadyExists);
  auto rec = env_.store->Get("kos_oauth_clients", "agent:kPlanner");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->value.find(agent_secret_), std::string::npos);
  auto rotated = env_.clients->RotateSecret("agent:kPlanner");
  ASSERT_TRUE(rotated.ok());
  EXPECT_FALSE(env_.clients->Authenticate("agent:kPlanner", agent_secret_).ok());
  EXPECT_TRUE(env_.clients->Authenticate("agent:kPlanner", *rotated).ok());
  KOS_ASSERT_OK(env_.clients->Delete("agent:kPlanner"));
  EXPECT_EQ(env_.clients->Get("agent:kPlanner").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kos
