#include "http_test_util.h"

#include <filesystem>

#include "gtest/gtest.h"

namespace kos::server::testing {

namespace fs = std::filesystem;

void CopyDeployConfig(const std::string& dir) {
  fs::copy(kos::testing::SourcePath("deploy/config"), dir + "/config", fs::copy_options::recursive);
}

ServerOptions TestOptions(const std::string& dir) {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 8;
  o.data_dir = dir + "/data";
  o.config_dir = dir + "/config";
  o.logs_dir = dir + "/logs";
  // Argon2id at its minimum cost (PasswordHasherOptions::Minimum()), set by
  // field so the test does not depend on that symbol being exported.
  o.password_hashing.ops_limit = 1;
  o.password_hashing.mem_limit = 8192;
  o.development_handlers = true;
  o.shutdown_grace = absl::Seconds(2);
  return o;
}

RunningServer::RunningServer(const ServerOptions& options) {
  auto s = HttpServer::Create(options);
  if (!s.ok()) {
    status_ = s.status();
    ADD_FAILURE() << "HttpServer::Create: " << s.status();
    return;
  }
  server_ = std::move(*s);
  status_ = server_->Bind();
  if (!status_.ok()) {
    ADD_FAILURE() << "Bind: " << status_;
    return;
  }
  thread_ = std::thread([this] { server_->Run().IgnoreError(); });
  for (int i = 0; i < 500 && !server_->listening(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

RunningServer::~RunningServer() {
  if (server_) server_->Stop();
  if (thread_.joinable()) thread_.join();
}

std::string Reply::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

Reply ToReply(const httplib::Result& res) {
  Reply r;
  if (!res) return r;
  r.status = res->status;
  r.text = res->body;
  r.headers = res->headers;
  auto parsed = ParseJson(res->body);
  if (parsed.ok()) r.body = std::move(*parsed);
  return r;
}

JsonClient::JsonClient(const std::string& host, int port) : cli_(host, port) {
  cli_.set_connection_timeout(5);
  cli_.set_read_timeout(10);
}

Reply JsonClient::Call(const std::string& method, const std::string& path, const Json& body,
                       const std::string& token, httplib::Headers extra) {
  httplib::Headers h = std::move(extra);
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  std::string text = body.is_null() ? "" : DumpJson(body);
  const char* ct = "application/json";
  if (method == "GET") return ToReply(cli_.Get(path, h));
  if (method == "DELETE") return ToReply(cli_.Delete(path, h));
  if (method == "POST") return ToReply(cli_.Post(path, h, text, ct));
  if (method == "PUT") return ToReply(cli_.Put(path, h, text, ct));
  if (method == "PATCH") return ToReply(cli_.Patch(path, h, text, ct));
  return Reply{};
}

Reply JsonClient::Raw(const std::string& method, const std::string& path, const std::string& body,
                      const std::string& content_type, const std::string& token) {
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  if (method == "PUT") return ToReply(cli_.Put(path, h, body, content_type.c_str()));
  return ToReply(cli_.Post(path, h, body, content_type.c_str()));
}

std::string JsonClient::Login(const std::string& user, const std::string& password) {
  Reply r = Call("POST", "/api/v1/auth/login", {{"username", user}, {"password", password}});
  if (r.status != 200 || !r.body.contains("access_token")) return "";
  return r.body["access_token"].get<std::string>();
}

}  // namespace kos::server::testing
