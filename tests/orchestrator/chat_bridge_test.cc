// kBridge against a fake OpenAI-compatible server on loopback.
#include <atomic>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "kos/agent_handlers.h"
#include "orchestrator/orchestrator_testing.h"

namespace kos {
namespace {

using testing::Agent;
using testing::SigningSetup;

class FakeChatServer {
 public:
  FakeChatServer() {
    server_.Post(
        "/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
          ++calls_;
          if (req.get_header_value("Authorization") != "Bearer sk-test-SECRET") {
            res.status = 401;
            res.set_content("{\"error\":\"bad key " + req.get_header_value("Authorization") + "\"}",
                            "application/json");
            return;
          }
          Json body = ParseJson(req.body).value();
          std::string last = body["messages"].back()["content"];
          if (last == "flaky" && calls_ == 1) {
            res.status = 503;
            return;
          }
          last_body_ = body;
          Json reply = {
              {"model", body["model"]},
              {"choices",
               {{{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", absl::AsciiStrToUpper(last)}}},
                 {"finish_reason", "stop"}}}},
              {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 1}}}};
          res.set_content(DumpJson(reply), "application/json");
        });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeChatServer() {
    server_.stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int calls() const { return calls_; }
  Json last_body() const { return last_body_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> calls_{0};
  Json last_body_;
};

class ChatBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStore("memory:").value();
    signing_ = SigningSetup::Make(store_.get(), Clock::Real());
    OrchestratorOptions o;
    o.store = store_.get();
    o.keys = signing_.keys.get();
    AgentProfile bridge = Agent("kBridge");
    bridge.handler = "bridge";
    bridge.model = {{"baseUrl", server_.base_url()},
                    {"name", "tiny-model"},
                    {"temperature", 0.1},
                    {"systemPrompt", "be brief"}};
    profile_ = bridge;
    o.agents = {bridge};
    orch_ = Orchestrator::Open(o).value();
  }

  TaskInfo Run(Json payload) {
    auto id = orch_->Submit(signing_.Sign("kBridge", std::move(payload)));
    EXPECT_TRUE(id.ok()) << id.status();
    return orch_->Wait(*id, absl::Seconds(30)).value();
  }

  FakeChatServer server_;
  std::unique_ptr<Store> store_;
  SigningSetup signing_;
  AgentProfile profile_;
  std::unique_ptr<Orchestrator> orch_;
};

TEST_F(ChatBridgeTest, ForwardsPromptsAndReturnsTheCompletion) {
  auto opts = ChatBridgeOptionsFromProfile(profile_, "sk-test-SECRET");
  ASSERT_TRUE(opts.ok()) << opts.status();
  ASSERT_TRUE(orch_->RegisterHandler("kBridge", MakeChatBridgeHandler(*opts).value()).ok());
  TaskInfo t = Run({{"input", {{"prompt", "hello"}}}});
  ASSERT_EQ(t.state, TaskState::kSucceeded) << t.error;
  EXPECT_EQ(t.output["content"], "HELLO");
  EXPECT_EQ(t.output["finish_reason"], "stop");
  EXPECT_EQ(t.output["usage"]["prompt_tokens"], 3);
  Json sent = server_.last_body();
  EXPECT_EQ(sent["model"], "tiny-model");
  EXPECT_EQ(sent["messages"][0]["role"], "system");
  EXPECT_EQ(sent["messages"][0]["content"], "be brief");
  EXPECT_DOUBLE_EQ(sent["temperature"].get<double>(), 0.1);
  // Chat-style input with an override.
  t = Run({{"input", {{"messages", {{{"role", "user"}, {"content", "abc"}}}}, {"max_tokens", 5}}}});
  EXPECT_EQ(t.output["content"], "ABC");
  EXPECT_EQ(server_.last_body()["max_tokens"], 5);
  // The task log records sizes, never the text.
  auto logs = orch_->Logs(t.id).value();
  ASSERT_FALSE(logs.empty());
  for (const auto& l : logs) EXPECT_FALSE(absl::StrContains(DumpJson(l.fields), "abc"));
}

TEST_F(ChatBridgeTest, RetriesUnavailableAndRefusesBadInput) {
  auto opts = ChatBridgeOptionsFromProfile(profile_, "sk-test-SECRET").value();
  ASSERT_TRUE(orch_->RegisterHandler("kBridge", MakeChatBridgeHandler(opts).value()).ok());
  TaskInfo t = Run({{"input", {{"prompt", "flaky"}}},
                    {"retry", {{"max_attempts", 2}, {"initial_backoff_ms", 0}, {"jitter", 0}}}});
  EXPECT_EQ(t.state, TaskState::kSucceeded) << t.error;
  EXPECT_EQ(t.attempt, 2);
  int before = server_.calls();
  t = Run({{"input", {{"messages", "not a list"}}}, {"retry", {{"max_attempts", 3}}}});
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.error_code, "INVALID_ARGUMENT");
  EXPECT_EQ(t.attempt, 1);
  t = Run({{"input", {{"messages", {{{"role", "root"}, {"content", "x"}}}}}}});
  EXPECT_EQ(t.error_code, "INVALID_ARGUMENT");
  EXPECT_EQ(server_.calls(), before);  // bad input never reached the server
}

TEST_F(ChatBridgeTest, WrongKeyIsUnauthenticatedAndNeverEchoed) {
  auto opts = ChatBridgeOptionsFromProfile(profile_, "sk-wrong-SECRET").value();
  ASSERT_TRUE(orch_->RegisterHandler("kBridge", MakeChatBridgeHandler(opts).value()).ok());
  TaskInfo t = Run({{"input", {{"prompt", "hi"}}}});
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.error_code, "UNAUTHENTICATED");
  EXPECT_FALSE(absl::StrContains(t.error, "sk-wrong-SECRET")) << t.error;
  EXPECT_TRUE(absl::StrContains(t.error, "[redacted]")) << t.error;
}

TEST(ChatBridgeOptionsTest, ProfileErrors) {
  AgentProfile p = Agent("kBridge");
  EXPECT_EQ(ChatBridgeOptionsFromProfile(p, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  p.model = {{"baseUrl", "ftp://x"}, {"name", "m"}};
  auto o = ChatBridgeOptionsFromProfile(p, "");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(MakeChatBridgeHandler(*o).status().code(), absl::StatusCode::kInvalidArgument);
  p.model = {{"baseUrl", "http://127.0.0.1:1"}, {"name", 5}};
  EXPECT_FALSE(ChatBridgeOptionsFromProfile(p, "").ok());
}

TEST(ChatBridgeOptionsTest, UnreachableServerIsUnavailable) {
  auto store = OpenStore("memory:").value();
  auto signing = SigningSetup::Make(store.get(), Clock::Real());
  OrchestratorOptions o;
  o.store = store.get();
  o.keys = signing.keys.get();
  o.agents = {Agent("kBridge")};
  auto orch = Orchestrator::Open(o).value();
  ChatBridgeOptions co;
  co.base_url = "http://127.0.0.1:1/v1";  // nothing listens on port 1
  co.model = "m";
  co.timeout = absl::Seconds(2);
  ASSERT_TRUE(orch->RegisterHandler("kBridge", MakeChatBridgeHandler(co).value()).ok());
  auto id = orch->Submit(signing.Sign("kBridge", {{"input", {{"prompt", "x"}}}})).value();
  TaskInfo t = orch->Wait(id, absl::Seconds(30)).value();
  EXPECT_EQ(t.error_code, "UNAVAILABLE");
}

}  // namespace
}  // namespace kos
