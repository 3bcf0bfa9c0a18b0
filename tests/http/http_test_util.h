// Helpers for the HTTP server tests: an in-process server on a free port
// over a copy of deploy/config, and a small JSON client.
#ifndef KOS_TESTS_HTTP_HTTP_TEST_UTIL_H_
#define KOS_TESTS_HTTP_HTTP_TEST_UTIL_H_

#include <memory>
#include <string>
#include <thread>

#include "http/server.h"
#include "httplib.h"
#include "kos/json.h"
#include "testing/test_util.h"

namespace kos::server::testing {

// Copies deploy/config into `dir`/config.
void CopyDeployConfig(const std::string& dir);

// Options for a test server rooted at `dir`: port 0, fast password hashing,
// the development echo handlers.
ServerOptions TestOptions(const std::string& dir);

// An HttpServer running on its own thread.
class RunningServer {
 public:
  explicit RunningServer(const ServerOptions& options);
  ~RunningServer();
  HttpServer* server() const { return server_.get(); }
  int port() const { return server_->port(); }
  absl::Status status() const { return status_; }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  absl::Status status_;
};

struct Reply {
  int status = 0;  // 0: no response (connection failed)
  Json body;       // parsed JSON, or null
  std::string text;
  httplib::Headers headers;
  std::string Header(const std::string& name) const;
};

// A JSON client for one server. Thread-compatible (one per thread).
class JsonClient {
 public:
  JsonClient(const std::string& host, int port);
  // `body` null: no body. Sends Authorization: Bearer `token` if not empty.
  Reply Call(const std::string& method, const std::string& path, const Json& body = nullptr,
             const std::string& token = "", httplib::Headers extra = {});
  // Raw body with a content type.
  Reply Raw(const std::string& method, const std::string& path, const std::string& body,
            const std::string& content_type, const std::string& token = "");
  // Logs in; returns the access token ("" on failure).
  std::string Login(const std::string& user, const std::string& password);
  httplib::Client& http() { return cli_; }

 private:
  httplib::Client cli_;
};

Reply ToReply(const httplib::Result& res);

}  // namespace kos::server::testing

#endif  // KOS_TESTS_HTTP_HTTP_TEST_UTIL_H_
