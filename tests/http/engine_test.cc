// The HTTP/1.1 engine on raw sockets (framing, limits, pipelining, timeouts,
// streams, shutdown) and the segment router, without a kernel.
#include "http/engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http/route.h"
#include "http/router.h"

namespace kos::server {
namespace {

// A raw client connection.
class Conn {
 public:
  explicit Conn(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Conn() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until `want` responses are complete (Content-Length framed), the
  // peer closes, or `timeout_ms` passes.
  std::string Read(int want, int timeout_ms = 5000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Complete(buf_) < want) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      end - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) break;
      char tmp[65536];
      ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      buf_.append(tmp, static_cast<size_t>(n));
    }
    return buf_;
  }
  // Reads until `needle` has arrived, the peer closes, or `timeout_ms`.
  std::string ReadUntil(const std::string& needle, int timeout_ms = 5000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!absl::StrContains(buf_, needle) && !closed_ && std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char tmp[65536];
      ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0)
        closed_ = true;
      else
        buf_.append(tmp, static_cast<size_t>(n));
    }
    return buf_;
  }
  void Clear() { buf_.clear(); }
  // True if the server closed the connection within `timeout_ms`.
  bool ClosedWithin(int timeout_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!closed_ && std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char tmp[4096];
      ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0)
        closed_ = true;
      else
        buf_.append(tmp, static_cast<size_t>(n));
    }
    return closed_;
  }
  bool closed() const { return closed_; }

  static int Complete(const std::string& s) {
    int count = 0;
    size_t pos = 0;
    while (true) {
      size_t end = s.find("\r\n\r\n", pos);
      if (end == std::string::npos) return count;
      size_t cl = 0;
      size_t h = s.find("Content-Length: ", pos);
      if (h != std::string::npos && h < end) cl = std::stoul(s.substr(h + 16));
      if (s.size() < end + 4 + cl) return count;
      pos = end + 4 + cl;
      ++count;
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
  bool closed_ = false;
};

int CountOf(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

class EngineTest : public ::testing::Test {
 protected:
  void Start(EngineOptions o = EngineOptions()) {
    o.host = "127.0.0.1";
    o.port = 0;
    EngineHooks h;
    h.handle = [this](Exchange& x, bool offloaded) {
      if (x.req.path == "/slow" && !offloaded) return false;
      handled_on_worker_ += offloaded ? 1 : 0;
      if (x.req.path == "/stream") {
        x.res.status = 200;
        x.res.set_chunked_content_provider("text/plain",
                                           [](size_t offset, httplib::DataSink& sink) {
                                             for (int i = 0; i < 3; ++i) {
                                               std::string part = absl::StrCat("part", i, ";");
                                               if (!sink.write(part.data(), part.size()))
                                                 return false;
                                             }
                                             sink.done();
                                             return true;
                                           });
        return true;
      }
      if (x.req.path == "/sized") {
        x.res.status = 200;
        x.res.set_content_provider(10, "text/plain",
                                   [](size_t offset, size_t length, httplib::DataSink& sink) {
                                     return sink.write("0123456789" + offset, 5);
                                   });
        return true;
      }
      x.res.status = x.req.path == "/missing" ? 404 : 200;
      x.res.set_content(absl::StrCat(x.req.method, " ", x.req.path,
                                     " q=", x.req.get_param_value("q"), " body=", x.req.body),
                        "text/plain");
      return true;
    };
    h.log = [this](const Exchange&) { ++logged_; };
    h.error = [](int status, const std::string& message, httplib::Response& res) {
      res.set_content(
          absl::StrCat("{\"error\":{\"code\":", status, ",\"message\":\"", message, "\"}}"),
          "application/json");
    };
    auto e = HttpEngine::Create(o, std::move(h));
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    ASSERT_TRUE(engine_->Bind().ok());
    thread_ = std::thread([this] { run_status_ = engine_->Run(); });
  }
  void TearDown() override {
    if (engine_) engine_->Stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return engine_->port(); }

  std::unique_ptr<HttpEngine> engine_;
  std::thread thread_;
  absl::Status run_status_;
  std::atomic<int> logged_{0};
  std::atomic<int> handled_on_worker_{0};
};

TEST_F(EngineTest, KeepAliveAndPipelinedRequestsAnswerInOrder) {
  Start();
  Conn c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.Send("GET /a?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
             "GET /c%20d HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string out = c.Read(3);
  EXPECT_EQ(CountOf(out, "HTTP/1.1 200 OK"), 3) << out;
  size_t a = out.find("GET /a q=1"), b = out.find("POST /b q= body=hello"),
         d = out.find("GET /c d q=");
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  ASSERT_NE(d, std::string::npos) << out;
  EXPECT_LT(a, b);
  EXPECT_LT(b, d);
  EXPECT_FALSE(c.closed());
  // The log hook runs just after the response is handed to the socket.
  for (int i = 0; i < 100 && logged_.load() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(logged_.load(), 3);
}

TEST_F(EngineTest, ChunkedRequestBodyIsDecoded) {
  Start();
  Conn c(port());
  ASSERT_TRUE(
      c.Send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  EXPECT_TRUE(absl::StrContains(c.Read(1), "body=abcde"));
}

TEST_F(EngineTest, SmugglingShapesAreRejectedWith400AndClose) {
  Start();
  const char* bad[] = {
      // Both framings at once.
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      // Two different lengths.
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
      // A chunk size that is not hex.
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      // Garbage request line, and a proxy-style absolute target.
      "HELLO\r\n\r\n",
      "GET http://evil/x HTTP/1.1\r\nHost: x\r\n\r\n",
      // A space before the colon.
      "GET /x HTTP/1.1\r\nHost : x\r\n\r\n",
  };
  for (const char* req : bad) {
    Conn c(port());
    ASSERT_TRUE(c.Send(req));
    std::string out = c.Read(1);
    EXPECT_TRUE(absl::StartsWith(out, "HTTP/1.1 400 ")) << req << "\n--\n" << out;
    EXPECT_TRUE(absl::StrContains(out, "{\"error\":")) << out;
    EXPECT_TRUE(absl::StrContains(out, "Connection: close")) << out;
    EXPECT_TRUE(c.ClosedWithin(3000)) << req;
  }
}

TEST_F(EngineTest, BodyAndHeaderLimits) {
  EngineOptions o;
  o.max_body_bytes = 1000;
  o.max_header_bytes = 2048;
  Start(o);
  {
    Conn c(port());
    ASSERT_TRUE(c.Send(absl::StrCat("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
                                    std::string(5000, 'a'))));
    std::string out = c.Read(1);
    EXPECT_TRUE(absl::StartsWith(out, "HTTP/1.1 413 ")) << out;
  }
  {
    // Chunked bodies count too.
    Conn c(port());
    ASSERT_TRUE(
        c.Send(absl::StrCat("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                            "800\r\n", std::string(0x800, 'a'), "\r\n0\r\n\r\n")));
    EXPECT_TRUE(absl::StartsWith(c.Read(1), "HTTP/1.1 413 "));
  }
  {
    Conn c(port());
    ASSERT_TRUE(c.Send(
        absl::StrCat("GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ", std::string(4000, 'b'), "\r\n\r\n")));
    std::string out = c.Read(1);
    EXPECT_TRUE(absl::StartsWith(out, "HTTP/1.1 431 ")) << out.substr(0, 200);
    EXPECT_TRUE(c.ClosedWithin(3000));
  }
  {
    // The server still serves afterwards.
    Conn c(port());
    ASSERT_TRUE(c.Send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(absl::StartsWith(c.Read(1), "HTTP/1.1 200 "));
  }
}

TEST_F(EngineTest, SlowClientsAreDropped) {
  EngineOptions o;
  o.read_timeout = absl::Milliseconds(300);
  o.keep_alive_timeout = absl::Milliseconds(300);
  Start(o);
  Conn slow(port());
  ASSERT_TRUE(slow.Send("GET /x HTTP/1.1\r\nHo"));  // and never the rest
  Conn idle(port());
  ASSERT_TRUE(idle.ok());
  // The sweep runs once a second.
  EXPECT_TRUE(slow.ClosedWithin(4000));
  EXPECT_TRUE(idle.ClosedWithin(4000));
  Conn fresh(port());
  ASSERT_TRUE(fresh.Send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(absl::StartsWith(fresh.Read(1), "HTTP/1.1 200 "));
}

TEST_F(EngineTest, HeadHttp10AndConnectionClose) {
  Start();
  {
    Conn c(port());
    ASSERT_TRUE(
        c.Send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string out = c.ClosedWithin(500) ? "" : c.Read(2, 1000);
    // HEAD gets the length of the GET body but no body, so the next
    // response starts right after the blank line.
    size_t second = out.find("HTTP/1.1 200", 1);
    ASSERT_NE(second, std::string::npos) << out;
    EXPECT_EQ(out.substr(second - 4, 4), "\r\n\r\n");
    EXPECT_TRUE(absl::StrContains(out.substr(second), "GET /after"));
  }
  {
    Conn c(port());
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
    EXPECT_TRUE(absl::StrContains(c.Read(1), "Connection: close"));
    EXPECT_TRUE(c.ClosedWithin(3000));
  }
  {
    Conn c(port());
    ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    EXPECT_TRUE(absl::StrContains(c.Read(1), "Connection: close"));
    EXPECT_TRUE(c.ClosedWithin(3000));
  }
}

TEST_F(EngineTest, ExpectContinueGetsInterimResponse) {
  Start();
  Conn c(port());
  ASSERT_TRUE(
      c.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_TRUE(absl::StartsWith(c.Read(1, 1000), "HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_TRUE(c.Send("abc"));
  EXPECT_TRUE(absl::StrContains(c.Read(2), "body=abc"));
}

TEST_F(EngineTest, BlockingHandlersAndStreamsRunOffTheIoThread) {
  EngineOptions o;
  o.io_threads = 1;
  Start(o);
  Conn c(port());
  ASSERT_TRUE(c.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(absl::StrContains(c.Read(1), "GET /slow"));
  EXPECT_EQ(handled_on_worker_.load(), 1);

  Conn s(port());
  ASSERT_TRUE(s.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string out = s.ReadUntil("0\r\n\r\n");
  EXPECT_TRUE(absl::StrContains(out, "Transfer-Encoding: chunked")) << out;
  EXPECT_TRUE(absl::StrContains(out, "6\r\npart0;\r\n6\r\npart1;\r\n6\r\npart2;\r\n0\r\n\r\n"))
      << out;
  // The connection stays usable after a finished stream.
  ASSERT_TRUE(s.Send("GET /sized HTTP/1.1\r\nHost: x\r\n\r\n"));
  s.Clear();
  std::string sized = s.ReadUntil("0123456789");
  EXPECT_TRUE(absl::StrContains(sized, "Content-Length: 10\r\n")) << sized;
  EXPECT_TRUE(absl::StrContains(sized, "\r\n\r\n0123456789")) << sized;
}

TEST_F(EngineTest, StopClosesIdleConnectionsAndReturns) {
  Start();
  Conn idle(port());
  ASSERT_TRUE(idle.Send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(absl::StartsWith(idle.Read(1), "HTTP/1.1 200 "));
  auto t0 = std::chrono::steady_clock::now();
  engine_->Stop();
  thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_TRUE(run_status_.ok());
  EXPECT_TRUE(idle.ClosedWithin(1000));
  EXPECT_FALSE(Conn(port()).ok());  // nothing listens any more
}

TEST(RouterTest, MatchesSegmentsParamsAndGreedyRest) {
  std::vector<Route> routes(6);
  routes[0].method = "GET";
  routes[0].path = "/health";
  routes[1].method = "GET";
  routes[1].path = "/api/v1/tasks/{id}";
  routes[2].method = "GET";
  routes[2].path = "/api/v1/tasks/{id}/logs";
  routes[3].method = "GET";
  routes[3].path = "/api/v1/vault/kv/{path...}";
  routes[4].method = "POST";
  routes[4].path = "/api/v1/memory/namespaces/{ns...}/records";
  routes[5].method = "GET";
  routes[5].path = "/api/v1/memory/namespaces/{ns...}/records/{id}";
  Router r;
  for (const Route& route : routes) r.Add(&route);
  PathParams p;
  EXPECT_EQ(r.Match("GET", "/health", &p), &routes[0]);
  EXPECT_EQ(r.Match("HEAD", "/health", &p), &routes[0]);
  EXPECT_EQ(r.Match("POST", "/health", &p), nullptr);
  EXPECT_EQ(r.Match("GET", "/health/", &p), nullptr);
  EXPECT_EQ(r.Match("GET", "/healthz", &p), nullptr);
  EXPECT_EQ(r.Match("GET", "health", &p), nullptr);
  EXPECT_EQ(r.Match("GET", "/api/v1/tasks/abc", &p), &routes[1]);
  EXPECT_EQ(p, (PathParams{{"id", "abc"}}));
  EXPECT_EQ(r.Match("GET", "/api/v1/tasks/", &p), nullptr);
  EXPECT_EQ(r.Match("GET", "/api/v1/tasks/abc/logs", &p), &routes[2]);
  EXPECT_EQ(r.Match("GET", "/api/v1/vault/kv/a/b/c", &p), &routes[3]);
  EXPECT_EQ(p, (PathParams{{"path", "a/b/c"}}));
  EXPECT_EQ(r.Match("GET", "/api/v1/vault/kv/", &p), nullptr);
  EXPECT_EQ(r.Match("POST", "/api/v1/memory/namespaces/users/u1/notes/records", &p), &routes[4]);
  EXPECT_EQ(p, (PathParams{{"ns", "users/u1/notes"}}));
  EXPECT_EQ(r.Match("GET", "/api/v1/memory/namespaces/a/records/b/records/x", &p), &routes[5]);
  EXPECT_EQ(p, (PathParams{{"ns", "a/records/b"}, {"id", "x"}}));
  EXPECT_EQ(r.Match("GET", "/api/v1/memory/namespaces/records/x", &p), nullptr);
  EXPECT_EQ(r.Match("BREW", "/health", &p), nullptr);
}

}  // namespace
}  // namespace kos::server
