// The HTTP API end to end against an in-process kos-server over a copy of
// deploy/config: auth, RBAC, errors, rate limits, agents and their logs
// (JSON and SSE), plans, memory, prompts, vault, artifacts, audit, OpenAPI.
#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/openapi.h"
#include "http_test_util.h"

namespace kos::server {
namespace {

using testing::JsonClient;
using testing::Reply;
using testing::RunningServer;

class HttpApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new kos::testing::TempDir();
    testing::CopyDeployConfig(dir_->path());
    ServerOptions o = testing::TestOptions(dir_->path());
    o.max_body_bytes = 1 << 20;
    // The suite logs in often; the rate-limit test has its own server.
    o.rate_limits = {{"global", 100000, absl::Hours(1), 0},
                     {"auth", 10000, absl::Minutes(1), 0},
                     {"api", 100000, absl::Minutes(1), 0}};
    server_ = new RunningServer(o);
    ASSERT_TRUE(server_->status().ok()) << server_->status();
    std::string pw_file = dir_->File("admin.password");
    auto created = server_->server()->kernel()->EnsureAdmin("admin", pw_file);
    ASSERT_TRUE(created.ok()) << created.status();
    admin_password_ = new std::string(kos::testing::ReadFileOrDie(pw_file));
    admin_password_->pop_back();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    delete admin_password_;
  }

  void SetUp() override { cli_ = std::make_unique<JsonClient>("127.0.0.1", server_->port()); }

  std::string AdminToken() {
    std::string t = cli_->Login("admin", *admin_password_);
    EXPECT_FALSE(t.empty());
    return t;
  }
  // A user with role "user", created once through the admin API.
  std::string UserToken(std::string* id = nullptr) {
    static std::string* user_id = nullptr;
    if (user_id == nullptr) {
      Reply r = cli_->Call("POST", "/api/v1/users",
                           {{"username", "alice"},
                            {"password", "alice-password-1"},
                            {"display_name", "Alice"},
                            {"roles", {"user"}}},
                           AdminToken());
      EXPECT_EQ(r.status, 201) << r.text;
      user_id = new std::string(r.body.value("id", ""));
    }
    if (id) *id = *user_id;
    std::string t = cli_->Login("alice", "alice-password-1");
    EXPECT_FALSE(t.empty());
    return t;
  }
  // Polls a task until it leaves the queue (terminal or awaiting review).
  Json WaitTask(const std::string& id, const std::string& token) {
    Json last;
    for (int i = 0; i < 500; ++i) {
      Reply r = cli_->Call("GET", "/api/v1/tasks/" + id, nullptr, token);
      if (r.status != 200) return r.body;
      last = r.body;
      std::string st = last["state"];
      if (st == "succeeded" || st == "failed" || st == "cancelled" || st == "timed_out" ||
          st == "awaiting_review")
        return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return last;
  }
  static void ExpectError(const Reply& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.text;
    ASSERT_TRUE(r.body.is_object()) << r.text;
    ASSERT_TRUE(r.body.contains("error")) << r.text;
    EXPECT_EQ(r.body["error"]["code"], code) << r.text;
    EXPECT_TRUE(r.body["error"]["message"].is_string());
    EXPECT_FALSE(r.body["error"]["message"].get<std::string>().empty());
  }

  static kos::testing::TempDir* dir_;
  static RunningServer* server_;
  static std::string* admin_password_;
  std::unique_ptr<JsonClient> cli_;
};

kos::testing::TempDir* HttpApiTest::dir_ = nullptr;
RunningServer* HttpApiTest::server_ = nullptr;
std::string* HttpApiTest::admin_password_ = nullptr;

TEST_F(HttpApiTest, HealthReadyMetricsAndUnknownRoute) {
  Reply h = cli_->Call("GET", "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, Json({{"status", "ok"}}));
  EXPECT_FALSE(h.Header("X-Request-Id").empty());
  EXPECT_EQ(cli_->Call("GET", "/ready").status, 200);
  ExpectError(cli_->Call("GET", "/api/v1/nope"), 404, "NOT_FOUND");
  Reply m = cli_->Call("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_TRUE(absl::StrContains(m.text, "kos_http_requests_total{")) << m.text.substr(0, 2000);
  EXPECT_TRUE(absl::StrContains(m.text, "kos_http_request_duration_seconds_bucket"));
  EXPECT_TRUE(absl::StrContains(m.text, "route=\"/health\""));
}

TEST_F(HttpApiTest, RequestIdAndTraceparentAreEchoed) {
  std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  Reply r =
      cli_->Call("GET", "/health", nullptr, "", {{"X-Request-Id", "req-123"}, {"traceparent", tp}});
  EXPECT_EQ(r.Header("X-Request-Id"), "req-123");
  EXPECT_EQ(r.Header("traceparent"), tp);
  Reply bad = cli_->Call("GET", "/health", nullptr, "", {{"traceparent", "garbage"}});
  EXPECT_EQ(bad.Header("traceparent"), "");
}

TEST_F(HttpApiTest, LoginRefreshValidateLogout) {
  Reply login = cli_->Call("POST", "/api/v1/auth/login",
                           {{"username", "admin"}, {"password", *admin_password_}});
  ASSERT_EQ(login.status, 200) << login.text;
  for (const char* f : {"access_token", "refresh_token", "token_type", "expires_in"})
    EXPECT_TRUE(login.body.contains(f)) << f;
  EXPECT_EQ(login.body["token_type"], "Bearer");
  std::string access = login.body["access_token"], refresh = login.body["refresh_token"];

  Reply v = cli_->Call("GET", "/api/v1/auth/validate", nullptr, access);
  ASSERT_EQ(v.status, 200) << v.text;
  EXPECT_EQ(v.body["username"], "admin");
  EXPECT_TRUE(absl::StartsWith(v.body["subject"].get<std::string>(), "user:"));

  Reply r1 = cli_->Call("POST", "/api/v1/auth/refresh", {{"refresh_token", refresh}});
  ASSERT_EQ(r1.status, 200) << r1.text;
  EXPECT_NE(r1.body["refresh_token"], refresh);
  // Reusing a rotated refresh token is refused (and ends the session).
  ExpectError(cli_->Call("POST", "/api/v1/auth/refresh", {{"refresh_token", refresh}}), 401,
              "UNAUTHENTICATED");

  std::string fresh = AdminToken();
  EXPECT_EQ(cli_->Call("POST", "/api/v1/auth/logout", nullptr, fresh).status, 200);
  ExpectError(cli_->Call("GET", "/api/v1/auth/validate", nullptr, fresh), 401, "UNAUTHENTICATED");

  ExpectError(cli_->Call("POST", "/api/v1/auth/login",
                         {{"username", "admin"}, {"password", "wrong-password"}}),
              401, "UNAUTHENTICATED");
}

TEST_F(HttpApiTest, MissingOrBadTokenIs401) {
  Reply r = cli_->Call("GET", "/api/v1/users/me/profile");
  ExpectError(r, 401, "UNAUTHENTICATED");
  EXPECT_EQ(r.Header("WWW-Authenticate"), "Bearer");
  ExpectError(cli_->Call("GET", "/api/v1/users/me/profile", nullptr, "not.a.jwt"), 401,
              "UNAUTHENTICATED");
  ExpectError(cli_->Call("GET", "/api/v1/agents", nullptr, "", {{"Authorization", "Basic eDp5"}}),
              401, "UNAUTHENTICATED");
}

TEST_F(HttpApiTest, ProfileAndRbac) {
  std::string id;
  std::string alice = UserToken(&id);
  Reply p = cli_->Call("GET", "/api/v1/users/me/profile", nullptr, alice);
  ASSERT_EQ(p.status, 200) << p.text;
  EXPECT_EQ(p.body["id"], id);
  EXPECT_EQ(p.body["username"], "alice");
  EXPECT_EQ(p.body["display_name"], "Alice");
  EXPECT_EQ(p.body["roles"], Json({"user"}));
  EXPECT_TRUE(p.body["profile"].is_object());

  Reply up = cli_->Call("PUT", "/api/v1/users/me/profile",
                        {{"display_name", "Alice A."}, {"profile", {{"locale", "en"}}}}, alice);
  ASSERT_EQ(up.status, 200) << up.text;
  EXPECT_EQ(cli_->Call("GET", "/api/v1/users/me/profile", nullptr, alice).body["profile"]["locale"],
            "en");
  // The profile reply is written as text: names that need escaping must come
  // back exactly, in a document that parses.
  const std::string tricky = "A \"quoted\" \\ back\tslash \xc3\xa9\xe2\x9c\x93 \x01";
  ASSERT_EQ(cli_->Call("PUT", "/api/v1/users/me/profile",
                       {{"display_name", tricky}, {"profile", {{"k", {1, "two", nullptr}}}}}, alice)
                .status,
            200);
  Reply again = cli_->Call("GET", "/api/v1/users/me/profile", nullptr, alice);
  ASSERT_EQ(again.status, 200) << again.text;
  EXPECT_EQ(again.Header("Content-Type"), "application/json");
  EXPECT_EQ(again.body["display_name"], tricky);
  EXPECT_EQ(again.body["profile"], Json({{"k", {1, "two", nullptr}}}));
  EXPECT_EQ(again.body["roles"], Json({"user"}));
  EXPECT_EQ(again.body["id"], id);
  ASSERT_EQ(cli_->Call("PUT", "/api/v1/users/me/preferences", {{"theme", "dark"}}, alice).status,
            200);
  EXPECT_EQ(cli_->Call("GET", "/api/v1/users/me/preferences", nullptr, alice).body["theme"],
            "dark");
  Reply perms = cli_->Call("GET", "/api/v1/users/me/permissions", nullptr, alice);
  ASSERT_EQ(perms.status, 200);
  bool core = false, planner = true;
  for (const auto& x : perms.body["permissions"]) {
    if (x["resource"] == "agents:kCore") core = x["allowed"];
    if (x["resource"] == "agents:kPlanner") planner = x["allowed"];
  }
  EXPECT_TRUE(core);
  EXPECT_FALSE(planner);

  // Admin-only routes and other people's things are refused by RBAC.
  ExpectError(cli_->Call("GET", "/api/v1/users", nullptr, alice), 403, "PERMISSION_DENIED");
  ExpectError(cli_->Call("GET", "/api/v1/audit", nullptr, alice), 403, "PERMISSION_DENIED");
  ExpectError(cli_->Call("PUT", "/api/v1/vault/kv/team/key", {{"value", "x"}}, alice), 403,
              "PERMISSION_DENIED");
  // Her own vault space is hers.
  std::string mine = "/api/v1/vault/kv/users/" + id + "/token";
  EXPECT_EQ(cli_->Call("PUT", mine, {{"value", "s3cret"}}, alice).status, 200);
  EXPECT_EQ(cli_->Call("GET", mine, nullptr, alice).body["value"], "s3cret");
  // ... and the example policy denies even admins reading it.
  ExpectError(cli_->Call("GET", mine, nullptr, AdminToken()), 403, "PERMISSION_DENIED");

  Reply list = cli_->Call("GET", "/api/v1/users", nullptr, AdminToken());
  ASSERT_EQ(list.status, 200);
  EXPECT_GE(list.body["users"].size(), 2u);
  EXPECT_EQ(cli_->Call("GET", "/api/v1/users/" + id, nullptr, alice).status, 200);
  ExpectError(cli_->Call("PATCH", "/api/v1/users/" + id, {{"roles", {"admin"}}}, alice), 403,
              "PERMISSION_DENIED");
}

TEST_F(HttpApiTest, BadBodies) {
  std::string admin = AdminToken();
  Reply bad = cli_->Raw("POST", "/api/v1/auth/login", "{\"username\":", "application/json");
  ExpectError(bad, 400, "INVALID_ARGUMENT");
  EXPECT_TRUE(absl::StrContains(bad.body["error"]["message"].get<std::string>(), "malformed JSON"));
  Reply ct = cli_->Raw("POST", "/api/v1/auth/login", "username=a", "text/plain");
  EXPECT_EQ(ct.status, 415);
  EXPECT_EQ(ct.body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
  Reply missing = cli_->Call("POST", "/api/v1/auth/login", {{"username", "admin"}});
  ExpectError(missing, 400, "INVALID_ARGUMENT");
  EXPECT_TRUE(absl::StrContains(missing.body["error"]["message"].get<std::string>(), "password"));
  Reply type = cli_->Call("POST", "/api/v1/auth/login", {{"username", 5}, {"password", "x"}});
  ExpectError(type, 400, "INVALID_ARGUMENT");
  ExpectError(cli_->Call("POST", "/api/v1/auth/login", Json::array({1, 2})), 400,
              "INVALID_ARGUMENT");
  // A nested field of the wrong type is the client's error too, not a 500.
  ExpectError(cli_->Call("POST", "/api/v1/memory/recall",
                         {{"namespace", "shared/x"}, {"text", "t"}, {"mmr", "yes"}}, admin),
              400, "INVALID_ARGUMENT");
  Reply big = cli_->Raw("PUT", "/api/v1/vault/kv/big", std::string(2 << 20, 'x'),
                        "application/json", admin);
  EXPECT_EQ(big.status, 413) << big.text.substr(0, 200);
  EXPECT_TRUE(big.body.contains("error")) << big.text.substr(0, 200);
  ExpectError(cli_->Call("GET", "/api/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV", nullptr, admin), 404,
              "NOT_FOUND");
  ExpectError(cli_->Call("GET", "/api/v1/tasks?limit=0", nullptr, admin), 400, "INVALID_ARGUMENT");
}

TEST_F(HttpApiTest, ExecuteAgentAndReadLogsIncludingSse) {
  std::string alice = UserToken();
  ExpectError(cli_->Call("POST", "/api/v1/agents/kPlanner/execute", {{"input", {{"q", 1}}}}, alice),
              403, "PERMISSION_DENIED");
  Reply ex =
      cli_->Call("POST", "/api/v1/agents/kCore/execute", {{"input", {{"q", "hello"}}}}, alice);
  ASSERT_EQ(ex.status, 202) << ex.text;
  std::string id = ex.body["task_id"];
  Json task = WaitTask(id, alice);
  ASSERT_EQ(task["state"], "succeeded") << task.dump();
  EXPECT_EQ(task["output"]["input"]["q"], "hello");

  Reply logs = cli_->Call("GET", "/api/v1/tasks/" + id + "/logs", nullptr, alice);
  ASSERT_EQ(logs.status, 200) << logs.text;
  ASSERT_GE(logs.body["lines"].size(), 1u);

  httplib::Headers h = {{"Authorization", "Bearer " + alice}, {"Accept", "text/event-stream"}};
  auto sse = cli_->http().Get(("/api/v1/tasks/" + id + "/logs").c_str(), h);
  ASSERT_TRUE(sse);
  EXPECT_EQ(sse->status, 200);
  EXPECT_TRUE(absl::StartsWith(sse->get_header_value("Content-Type"), "text/event-stream"));
  EXPECT_TRUE(absl::StrContains(sse->body, "event: log\n")) << sse->body;
  EXPECT_TRUE(absl::StrContains(sse->body, "event: end\n")) << sse->body;
  EXPECT_TRUE(absl::StrContains(sse->body, "\"state\":\"succeeded\"")) << sse->body;

  // Her own tasks are listed for her; the admin sees them too.
  Reply mine = cli_->Call("GET", "/api/v1/tasks?agent=kCore", nullptr, alice);
  ASSERT_EQ(mine.status, 200);
  bool found = false;
  for (const auto& t : mine.body["tasks"]) found = found || t["id"] == id;
  EXPECT_TRUE(found);
  // Someone else's task is not hers to read.
  Reply other = cli_->Call("POST", "/api/v1/agents/kCore/execute", Json::object(), AdminToken());
  ASSERT_EQ(other.status, 202);
  ExpectError(cli_->Call("GET", "/api/v1/tasks/" + other.body["task_id"].get<std::string>(),
                         nullptr, alice),
              403, "PERMISSION_DENIED");
}

TEST_F(HttpApiTest, SseStreamsWhileTheTaskRuns) {
  std::string admin = AdminToken();
  // review=true pauses the task after its handler ran; the stream ends when it
  // reaches awaiting_review, approve finishes it.
  Reply ex = cli_->Call("POST", "/api/v1/agents/kExecutor/execute",
                        {{"input", {{"n", 7}}}, {"review", true}}, admin);
  ASSERT_EQ(ex.status, 202) << ex.text;
  std::string id = ex.body["task_id"];
  httplib::Headers h = {{"Authorization", "Bearer " + admin}, {"Accept", "text/event-stream"}};
  auto sse = cli_->http().Get(("/api/v1/tasks/" + id + "/logs").c_str(), h);
  ASSERT_TRUE(sse);
  EXPECT_TRUE(absl::StrContains(sse->body, "event: end\n")) << sse->body;
  Json t = WaitTask(id, admin);
  EXPECT_EQ(t["state"], "awaiting_review") << t.dump();
  Reply ok = cli_->Call("POST", "/api/v1/tasks/" + id + "/approve", nullptr, admin);
  ASSERT_EQ(ok.status, 200) << ok.text;
  EXPECT_EQ(ok.body["state"], "succeeded");
}

TEST_F(HttpApiTest, PlanWithDependencies) {
  std::string admin = AdminToken();
  Reply p = cli_->Call("POST", "/api/v1/planning",
                       {{"steps",
                         {{{"id", "a"}, {"agent", "kCore"}, {"input", {{"step", "a"}}}},
                          {{"id", "b"}, {"agent", "kExecutor"}, {"depends_on", {"a"}}}}}},
                       admin);
  ASSERT_EQ(p.status, 202) << p.text;
  std::string plan = p.body["plan_id"];
  Json last;
  for (int i = 0; i < 500; ++i) {
    last = cli_->Call("GET", "/api/v1/planning/" + plan, nullptr, admin).body;
    if (last["state"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(last["state"], "succeeded") << last.dump();
  EXPECT_EQ(last["tasks"].size(), 2u);
  // The step ids map to the tasks the plan ran (one signed plan envelope).
  Reply b =
      cli_->Call("GET", "/api/v1/tasks/" + p.body["tasks"]["b"].get<std::string>(), nullptr, admin);
  ASSERT_EQ(b.status, 200) << b.text;
  EXPECT_EQ(b.body["agent"], "kExecutor") << b.text;
  EXPECT_EQ(b.body["state"], "succeeded") << b.text;
  ExpectError(
      cli_->Call("POST", "/api/v1/planning",
                 {{"steps", {{{"id", "a"}, {"agent", "kCore"}, {"depends_on", {"zz"}}}}}}, admin),
      400, "INVALID_ARGUMENT");
  ExpectError(
      cli_->Call("POST", "/api/v1/planning", {{"steps", {{{"agent", "kPlanner"}}}}}, UserToken()),
      403, "PERMISSION_DENIED");
}

TEST_F(HttpApiTest, MemoryAddSearchAndPermissions) {
  std::string admin = AdminToken();
  Reply ns = cli_->Call("POST", "/api/v1/memory/namespaces", {{"name", "shared/notes"}}, admin);
  ASSERT_EQ(ns.status, 201) << ns.text;
  const std::string base = "/api/v1/memory/namespaces/shared%2Fnotes/records";
  for (const char* t :
       {"the cat sat on the mat", "stock prices fell sharply today", "a recipe for tomato soup"}) {
    Reply a = cli_->Call("POST", base, {{"text", t}, {"metadata", {{"kind", "note"}}}}, admin);
    ASSERT_EQ(a.status, 201) << a.text;
  }
  Reply s = cli_->Call("POST", "/api/v1/memory/search",
                       {{"namespace", "shared/notes"}, {"text", "cat on a mat"}, {"k", 2}}, admin);
  ASSERT_EQ(s.status, 200) << s.text;
  ASSERT_EQ(s.body["hits"].size(), 2u);
  EXPECT_EQ(s.body["hits"][0]["text"], "the cat sat on the mat");

  std::string alice = UserToken();
  EXPECT_EQ(cli_->Call("POST", "/api/v1/memory/recall",
                       {{"namespace", "shared/notes"}, {"text", "soup"}}, alice)
                .status,
            200);
  ExpectError(cli_->Call("POST", base, {{"text", "mine"}}, alice), 403, "PERMISSION_DENIED");
  Reply list = cli_->Call("GET", base + "?limit=10", nullptr, alice);
  ASSERT_EQ(list.status, 200) << list.text;
  EXPECT_EQ(list.body["records"].size(), 3u);
  std::string rid = list.body["records"][0]["id"];
  EXPECT_EQ(cli_->Call("GET", base + "/" + rid, nullptr, alice).status, 200);
  EXPECT_EQ(cli_->Call("DELETE", base + "/" + rid, nullptr, admin).status, 200);
  ExpectError(cli_->Call("GET", base + "/" + rid, nullptr, admin), 404, "NOT_FOUND");
  Reply emb = cli_->Call("POST", "/api/v1/memory/embeddings", {{"texts", {"a b", "c"}}}, alice);
  ASSERT_EQ(emb.status, 200) << emb.text;
  EXPECT_EQ(emb.body["embeddings"].size(), 2u);
  EXPECT_EQ(cli_->Call("DELETE", "/api/v1/memory/namespaces/shared%2Fnotes", nullptr, admin).status,
            200);
}

TEST_F(HttpApiTest, PromptSaveRenderHistory) {
  std::string admin = AdminToken();
  Reply save = cli_->Call("PUT", "/api/v1/prompts/greet",
                          {{"text", "Hello {{name}}!"},
                           {"variables", {{{"name", "name"}, {"type", "string"}}}},
                           {"labels", {"production"}}},
                          admin);
  ASSERT_EQ(save.status, 200) << save.text;
  EXPECT_EQ(save.body["version"], 1);
  std::string alice = UserToken();
  Reply out = cli_->Call("POST", "/api/v1/prompts/greet/render",
                         {{"variables", {{"name", "Ann"}}}, {"label", "production"}}, alice);
  ASSERT_EQ(out.status, 200) << out.text;
  EXPECT_EQ(out.body["text"], "Hello Ann!");
  ExpectError(
      cli_->Call("POST", "/api/v1/prompts/greet/render", {{"variables", Json::object()}}, alice),
      400, "INVALID_ARGUMENT");
  ExpectError(cli_->Call("PUT", "/api/v1/prompts/greet", {{"text", "x"}}, alice), 403,
              "PERMISSION_DENIED");
  Reply hist = cli_->Call("GET", "/api/v1/prompts/greet/history", nullptr, admin);
  ASSERT_EQ(hist.status, 200);
  EXPECT_EQ(hist.body["records"].size(), 1u);
  EXPECT_EQ(cli_->Call("GET", "/api/v1/prompts/greet", nullptr, alice).body["text"],
            "Hello {{name}}!");
}

TEST_F(HttpApiTest, VaultKvAndTransit) {
  std::string admin = AdminToken();
  Reply put = cli_->Call("PUT", "/api/v1/vault/kv/team/openai", {{"value", "sk-123"}}, admin);
  ASSERT_EQ(put.status, 200) << put.text;
  EXPECT_EQ(put.body["version"], 1);
  Reply get = cli_->Call("GET", "/api/v1/vault/kv/team/openai", nullptr, admin);
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body["value"], "sk-123");
  ExpectError(
      cli_->Call("PUT", "/api/v1/vault/kv/team/openai", {{"value", "v"}, {"cas", 0}}, admin), 412,
      "FAILED_PRECONDITION");
  EXPECT_EQ(cli_->Call("DELETE", "/api/v1/vault/kv/team/openai", nullptr, admin).status, 200);
  ExpectError(cli_->Call("GET", "/api/v1/vault/kv/team/openai", nullptr, admin), 404, "NOT_FOUND");
  Reply enc = cli_->Call("POST", "/api/v1/vault/transit/orders/encrypt",
                         {{"plaintext", "card 4242"}, {"context", "c1"}}, admin);
  ASSERT_EQ(enc.status, 200) << enc.text;
  Reply dec = cli_->Call("POST", "/api/v1/vault/transit/orders/decrypt",
                         {{"ciphertext", enc.body["ciphertext"]}, {"context", "c1"}}, admin);
  ASSERT_EQ(dec.status, 200) << dec.text;
  EXPECT_EQ(dec.body["plaintext"], "card 4242");
  ExpectError(cli_->Call("POST", "/api/v1/vault/transit/orders/decrypt",
                         {{"ciphertext", enc.body["ciphertext"]}, {"context", "c2"}}, admin),
              401, "UNAUTHENTICATED");
  EXPECT_EQ(cli_->Call("POST", "/api/v1/vault/rotate", nullptr, admin).status, 200);
  ExpectError(cli_->Call("POST", "/api/v1/vault/rotate", nullptr, UserToken()), 403,
              "PERMISSION_DENIED");
}

TEST_F(HttpApiTest, ArtifactUploadDownloadSignedUrl) {
  std::string alice = UserToken();
  std::string content = "hello artifact \x01\x02 bytes";
  Reply up = cli_->Raw("POST", "/api/v1/artifacts?name=note.txt", content, "text/plain", alice);
  ASSERT_EQ(up.status, 201) << up.text;
  std::string id = up.body["id"];
  EXPECT_EQ(up.body["size"], content.size());
  auto down =
      cli_->http().Get(("/api/v1/artifacts/" + id).c_str(), {{"Authorization", "Bearer " + alice}});
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 200);
  EXPECT_EQ(down->body, content);
  EXPECT_EQ(down->get_header_value("Content-Type"), "text/plain");

  Reply url = cli_->Call("POST", "/api/v1/artifacts/" + id + "/url", {{"ttl_seconds", 60}}, alice);
  ASSERT_EQ(url.status, 200) << url.text;
  auto signed_down = cli_->http().Get(url.body["url"].get<std::string>().c_str());
  ASSERT_TRUE(signed_down);
  EXPECT_EQ(signed_down->status, 200);
  EXPECT_EQ(signed_down->body, content);
  ExpectError(cli_->Call("GET", "/api/v1/artifacts/signed?token=forged"), 401, "UNAUTHENTICATED");

  // Another user's artifact is not hers; the admin may read it.
  std::string admin = AdminToken();
  Reply theirs =
      cli_->Raw("POST", "/api/v1/artifacts?name=a.bin", "xyz", "application/octet-stream", admin);
  ASSERT_EQ(theirs.status, 201);
  ExpectError(cli_->Call("GET", "/api/v1/artifacts/" + theirs.body["id"].get<std::string>(),
                         nullptr, alice),
              403, "PERMISSION_DENIED");
  EXPECT_EQ(cli_->Call("GET", "/api/v1/artifacts", nullptr, alice).body["artifacts"].size(), 1u);
  EXPECT_EQ(cli_->Call("DELETE", "/api/v1/artifacts/" + id, nullptr, alice).status, 200);
  ExpectError(cli_->Call("GET", "/api/v1/artifacts/" + id, nullptr, admin), 404, "NOT_FOUND");
}

TEST_F(HttpApiTest, AuditVerifyAndLogs) {
  std::string admin = AdminToken();
  ASSERT_EQ(cli_->Call("PUT", "/api/v1/vault/kv/audit/probe", {{"value", "1"}}, admin).status, 200);
  Reply v = cli_->Call("GET", "/api/v1/audit/verify", nullptr, admin);
  ASSERT_EQ(v.status, 200) << v.text;
  EXPECT_EQ(v.body["valid"], true);
  EXPECT_GT(v.body["records"].get<int>(), 0);
  Reply q = cli_->Call("GET", "/api/v1/audit?limit=1000", nullptr, admin);
  ASSERT_EQ(q.status, 200);
  bool seen = false;
  for (const auto& e : q.body["entries"]) seen = seen || e["resource"] == "kv/audit/probe";
  EXPECT_TRUE(seen);
  Reply logs =
      cli_->Call("GET", "/api/v1/logs?stream=system&component=http.access&limit=5", nullptr, admin);
  ASSERT_EQ(logs.status, 200) << logs.text;
  EXPECT_GE(logs.body["records"].size(), 1u);
}

TEST_F(HttpApiTest, OAuthTokenEndpointAndApiKeys) {
  Kernel* k = server_->server()->kernel();
  NewOAuthClient nc;
  nc.id = "ci-bot";
  nc.grant_types = {"client_credentials"};
  auto client = k->clients()->Create(nc);
  ASSERT_TRUE(client.ok()) << client.status();
  httplib::Params form = {{"grant_type", "client_credentials"},
                          {"client_id", "ci-bot"},
                          {"client_secret", client->secret}};
  auto res = cli_->http().Post("/api/v1/auth/token", form);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto tok = ParseJson(res->body);
  ASSERT_TRUE(tok.ok());
  Reply v = cli_->Call("GET", "/api/v1/auth/validate", nullptr, (*tok)["access_token"]);
  ASSERT_EQ(v.status, 200) << v.text;
  EXPECT_EQ(v.body["subject"], "service:ci-bot");
  httplib::Params wrong = {
      {"grant_type", "client_credentials"}, {"client_id", "ci-bot"}, {"client_secret", "wrong"}};
  auto bad = cli_->http().Post("/api/v1/auth/token", wrong);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_TRUE(absl::StrContains(bad->body, "invalid_client"));
  EXPECT_EQ(cli_->Raw("POST", "/api/v1/auth/token", "{}", "application/json").status, 415);

  NewApiKey nk;
  nk.owner = "service:reporter";
  auto key = k->api_keys()->Create(nk);
  ASSERT_TRUE(key.ok());
  Reply kv = cli_->Call("GET", "/api/v1/auth/validate", nullptr, key->plaintext);
  ASSERT_EQ(kv.status, 200) << kv.text;
  EXPECT_EQ(kv.body["subject"], "service:reporter");
  EXPECT_EQ(kv.body["method"], "api_key");
  ExpectError(cli_->Call("GET", "/api/v1/auth/validate", nullptr, key->plaintext + "x"), 401,
              "UNAUTHENTICATED");
  Reply jwks = cli_->Call("GET", "/.well-known/jwks.json");
  ASSERT_EQ(jwks.status, 200);
  EXPECT_GE(jwks.body["keys"].size(), 1u);
}

TEST_F(HttpApiTest, OpenApiCoversEveryRoute) {
  Reply r = cli_->Call("GET", "/openapi.json");
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.body.is_object()) << "spec does not parse";
  EXPECT_EQ(r.body["openapi"], "3.0.3");
  const auto& routes = server_->server()->routes();
  EXPECT_GE(routes.size(), 60u);
  size_t ops = 0;
  for (const auto& [path, methods] : r.body["paths"].items()) ops += methods.size();
  EXPECT_EQ(ops, routes.size()) << "a route is missing or duplicated in the spec";
  std::set<std::string> seen;
  for (const Route& route : routes) {
    std::string key = route.method + " " + route.path;
    EXPECT_TRUE(seen.insert(key).second) << "duplicate route " << key;
    std::string path = OpenApiPath(route.path);
    std::string method = absl::AsciiStrToLower(route.method);
    ASSERT_TRUE(r.body["paths"].contains(path)) << path;
    ASSERT_TRUE(r.body["paths"][path].contains(method)) << key;
    const Json& op = r.body["paths"][path][method];
    EXPECT_FALSE(op["summary"].get<std::string>().empty()) << key;
    EXPECT_TRUE(op["responses"].contains(std::to_string(route.success_status))) << key;
    std::vector<std::string> names;
    PathRegex(route.path, &names);
    EXPECT_EQ(op.contains("parameters") ? op["parameters"].size() : 0u, names.size()) << key;
    // Every authenticated route says how access is decided.
    if (route.auth) {
      EXPECT_TRUE(op.contains("x-kos-access")) << key;
    }
  }
}

TEST(HttpRateLimitTest, AuthClassGives429WithRetryAfter) {
  kos::testing::TempDir dir;
  testing::CopyDeployConfig(dir.path());
  ServerOptions o = testing::TestOptions(dir.path());
  o.rate_limits = {{"global", 1000, absl::Hours(1), 0},
                   {"auth", 2, absl::Minutes(1), 0},
                   {"api", 100, absl::Minutes(1), 0}};
  RunningServer server(o);
  ASSERT_TRUE(server.status().ok());
  JsonClient cli("127.0.0.1", server.port());
  Json body = {{"username", "nobody"}, {"password", "whatever-1"}};
  Reply first = cli.Call("POST", "/api/v1/auth/login", body);
  EXPECT_EQ(first.status, 401);
  EXPECT_EQ(first.Header("X-RateLimit-Limit"), "2");
  EXPECT_EQ(first.Header("X-RateLimit-Remaining"), "1");
  EXPECT_EQ(cli.Call("POST", "/api/v1/auth/login", body).status, 401);
  Reply third = cli.Call("POST", "/api/v1/auth/login", body);
  EXPECT_EQ(third.status, 429) << third.text;
  EXPECT_EQ(third.body["error"]["code"], "RESOURCE_EXHAUSTED");
  int retry = std::atoi(third.Header("Retry-After").c_str());
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  EXPECT_EQ(third.Header("X-RateLimit-Remaining"), "0");
  // Other classes are unaffected.
  EXPECT_EQ(cli.Call("GET", "/health").status, 200);
}

// /health through a server whose "global" class allows 2 requests per
// address, trusting `proxies`; returns the statuses for each X-Forwarded-For.
std::vector<int> HealthStatuses(const std::vector<std::string>& proxies,
                                const std::vector<std::string>& forwarded_for) {
  kos::testing::TempDir dir;
  testing::CopyDeployConfig(dir.path());
  ServerOptions o = testing::TestOptions(dir.path());
  o.rate_limits = {{"global", 2, absl::Hours(1), 0},
                   {"auth", 100, absl::Minutes(1), 0},
                   {"api", 100, absl::Minutes(1), 0}};
  o.trusted_proxies = proxies;
  RunningServer server(o);
  EXPECT_TRUE(server.status().ok()) << server.status();
  if (!server.status().ok()) return {};
  JsonClient cli("127.0.0.1", server.port());
  std::vector<int> out;
  for (const std::string& xff : forwarded_for) {
    out.push_back(cli.Call("GET", "/health", nullptr, "", {{"X-Forwarded-For", xff}}).status);
  }
  return out;
}

// Behind the gateway every request arrives from the proxy's address; with
// --trusted-proxy the per-address classes count the real clients instead,
// and a client that is not a configured proxy cannot pick its own address.
TEST(HttpRateLimitTest, TrustedProxyForwardedForKeysTheGlobalClass) {
  // The second request's left-most hop was written by the client: ignored.
  // Another client behind the same proxy has its own bucket.
  EXPECT_THAT(HealthStatuses({"127.0.0.1"},
                             {"203.0.113.7", "1.1.1.1, 203.0.113.7", "203.0.113.7", "203.0.113.8"}),
              ::testing::ElementsAre(200, 200, 429, 200));
  // The test client at 127.0.0.1 is not a proxy here: one bucket for all.
  EXPECT_THAT(HealthStatuses({"10.0.0.0/8"}, {"203.0.113.1", "203.0.113.2", "203.0.113.3"}),
              ::testing::ElementsAre(200, 200, 429));
}

TEST(HttpServerOptionsTest, BadTrustedProxyIsRefusedAtStart) {
  kos::testing::TempDir dir;
  testing::CopyDeployConfig(dir.path());
  ServerOptions o = testing::TestOptions(dir.path());
  o.trusted_proxies = {"gateway.local"};
  auto s = HttpServer::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), ::testing::HasSubstr("gateway.local"));
}

TEST(HttpServerOptionsTest, OutOfRangeSizesAreRefusedByName) {
  kos::testing::TempDir dir;
  testing::CopyDeployConfig(dir.path());
  struct Case {
    const char* name;
    void (*set)(ServerOptions&);
  } cases[] = {
      {"threads", [](ServerOptions& o) { o.threads = 0; }},
      {"worker_threads", [](ServerOptions& o) { o.worker_threads = 5000; }},
      {"max_header_bytes", [](ServerOptions& o) { o.max_header_bytes = 100; }},
      {"max_header_bytes", [](ServerOptions& o) { o.max_header_bytes = size_t{1} << 30; }},
  };
  for (const Case& c : cases) {
    ServerOptions o = testing::TestOptions(dir.path());
    c.set(o);
    auto s = HttpServer::Create(o);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.status().message(), ::testing::HasSubstr(c.name));
  }
}

TEST(HttpServerOptionsTest, HeaderLimitIsTheConfiguredOne) {
  kos::testing::TempDir dir;
  testing::CopyDeployConfig(dir.path());
  ServerOptions o = testing::TestOptions(dir.path());
  o.max_header_bytes = 4096;
  RunningServer server(o);
  ASSERT_TRUE(server.status().ok()) << server.status();
  JsonClient cli("127.0.0.1", server.port());
  EXPECT_EQ(cli.Call("GET", "/health", nullptr, "", {{"X-Pad", std::string(2000, 'p')}}).status,
            200);
  JsonClient cli2("127.0.0.1", server.port());
  EXPECT_EQ(cli2.Call("GET", "/health", nullptr, "", {{"X-Pad", std::string(6000, 'p')}}).status,
            431);
}

}  // namespace
}  // namespace kos::server
