// OpenAIEmbedder against a fake /v1/embeddings server on loopback.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/embedder.h"
#include "kos/json.h"
#include "testing/test_util.h"

namespace kos {
namespace {

constexpr char kKey[] = "sk-test-SECRET-123";

class FakeServer {
 public:
  FakeServer() {
    server_.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      requests++;
      if (req.get_header_value("Authorization") != absl::StrCat("Bearer ", kKey)) {
        res.status = 401;
        res.set_content(
            absl::StrCat(R"({"error":"bad key )", req.get_header_value("Authorization"), R"("})"),
            "application/json");
        return;
      }
      Json body = Json::parse(req.body);
      if (mode == 1) {
        res.status = 429;
        res.set_content(R"({"error":"slow down"})", "application/json");
        return;
      }
      if (mode == 2) {
        res.set_content("{not json", "application/json");
        return;
      }
      Json data = Json::array();
      const auto& input = body["input"];
      // Reply in reverse order with explicit indexes, as servers may.
      for (size_t i = input.size(); i-- > 0;) {
        const std::string t = input[i].get<std::string>();
        std::vector<double> v = {double(t.size()), double(t[0]), mode == 3 ? 1.0 : 0.5};
        if (mode == 4) v.push_back(1);
        data.push_back({{"index", i}, {"embedding", v}, {"object", "embedding"}});
      }
      res.set_content(Json({{"data", data}, {"model", body["model"]}}).dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::atomic<int> requests{0};
  std::atomic<int> mode{0};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(OpenAIEmbedderTest, BatchesAndOrdersByIndex) {
  FakeServer fake;
  OpenAIEmbedderOptions o;
  o.base_url = fake.url();
  o.model = "fake-embed";
  o.api_key = kKey;
  o.dimension = 3;
  o.max_batch = 2;
  auto e = OpenAIEmbedder::Open(o);
  ASSERT_TRUE(e.ok()) << e.status();
  auto v = (*e)->Embed({"a", "bb", "ccc", "dddd", "eeeee"});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(fake.requests.load(), 3);
  ASSERT_EQ(v->size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ((*v)[i][0], float(i + 1));
  EXPECT_EQ((*v)[2][1], float('c'));
  EXPECT_EQ((*e)->model(), "fake-embed");
  // base_url ending in /v1 is accepted too.
  o.base_url = fake.url() + "/v1/";
  auto e2 = OpenAIEmbedder::Open(o);
  ASSERT_TRUE(e2.ok());
  KOS_EXPECT_OK((*e2)->Embed({"x"}));
}

TEST(OpenAIEmbedderTest, ErrorsAreTypedAndNeverLeakTheKey) {
  FakeServer fake;
  OpenAIEmbedderOptions o;
  o.base_url = fake.url();
  o.model = "fake-embed";
  o.api_key = "sk-wrong-SECRET";
  o.dimension = 3;
  auto e = OpenAIEmbedder::Open(o);
  ASSERT_TRUE(e.ok());
  auto r = (*e)->Embed({"hello"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(absl::StrContains(r.status().message(), "sk-wrong-SECRET")) << r.status();

  o.api_key = kKey;
  e = OpenAIEmbedder::Open(o);
  fake.mode = 1;
  EXPECT_EQ((*e)->Embed({"hello"}).status().code(), absl::StatusCode::kResourceExhausted);
  fake.mode = 2;
  EXPECT_EQ((*e)->Embed({"hello"}).status().code(), absl::StatusCode::kInternal);
  fake.mode = 4;  // wrong dimension
  EXPECT_EQ((*e)->Embed({"hello"}).status().code(), absl::StatusCode::kInternal);
  fake.mode = 0;
  EXPECT_EQ((*e)->Embed({"ok", ""}).status().code(), absl::StatusCode::kInvalidArgument);

  // Nothing listening: UNAVAILABLE, quickly.
  o.base_url = "http://127.0.0.1:1";
  o.timeout = absl::Seconds(2);
  auto dead = OpenAIEmbedder::Open(o);
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ((*dead)->Embed({"x"}).status().code(), absl::StatusCode::kUnavailable);

  o.base_url = "ftp://x";
  EXPECT_EQ(OpenAIEmbedder::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.base_url = fake.url();
  o.dimension = 0;
  EXPECT_EQ(OpenAIEmbedder::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
