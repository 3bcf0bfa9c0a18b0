#include "http/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "http/http_status.h"
#include "httplib.h"
#include "kos/id.h"
#include "kos/json.h"
#include "kos/status.h"

namespace kos::server {

struct HttpServer::State {
  ServerOptions options;
  SystemConfig config;
  std::unique_ptr<Store> store;
  std::unique_ptr<JsonlFileSink> log_sink;
  std::unique_ptr<Logger> log;
  MetricsRegistry metrics;
  httplib::Server http;
  std::atomic<int> bound_port{0};
  Counter* requests_ok = nullptr;
  absl::Time started = absl::Now();
};

HttpServer::HttpServer(std::unique_ptr<State> state) : s_(std::move(state)) {}

HttpServer::~HttpServer() {
  Stop();
  if (s_->log_sink) s_->log_sink->Flush();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const ServerOptions& options) {
  auto s = std::make_unique<State>();
  s->options = options;
  KOS_ASSIGN_OR_RETURN(s->config, LoadSystemConfig(options.config_dir));
  std::string uri = options.store_uri;
  if (uri.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.data_dir, ec);
    uri =
        absl::StrCat("sqlite://", std::filesystem::absolute(options.data_dir).string(), "/kos.db");
  }
  KOS_ASSIGN_OR_RETURN(s->store, OpenStore(uri));
  JsonlFileSinkOptions lo;
  lo.directory = absl::StrCat(options.logs_dir, "/system");
  lo.stem = "system";
  KOS_ASSIGN_OR_RETURN(s->log_sink, JsonlFileSink::Open(lo));
  s->log = std::make_unique<Logger>(s->log_sink.get(), "server", s->config.logging.level);
  RegisterProcessMetrics(&s->metrics);
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(s)));
  server->InstallRoutes();
  return server;
}

namespace {

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

void SendError(httplib::Response& res, const absl::Status& status) {
  res.status = HttpStatusFor(status.code());
  res.set_content(ErrorBody(status), "application/json");
}

}  // namespace

void HttpServer::InstallRoutes() {
  State* s = s_.get();
  auto& http = s->http;
  http.new_task_queue = [s] { return new httplib::ThreadPool(s->options.threads); };
  http.set_payload_max_length(s->options.max_body_bytes);
  http.set_keep_alive_max_count(1000);
  http.set_read_timeout(10, 0);
  http.set_write_timeout(10, 0);
  // Small JSON responses must not wait for Nagle's algorithm.
  http.set_socket_options([](socket_t sock) {
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });

  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    std::string id =
        req.has_header("X-Request-Id") ? req.get_header_value("X-Request-Id") : NewId();
    if (id.size() > 128) id = NewId();
    res.set_header("X-Request-Id", id);
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, {{"status", "ok"}});
  });
  http.Get("/ready", [s](const httplib::Request&, httplib::Response& res) {
    auto seq = s->store->LastSequence();
    if (!seq.ok()) {
      SendError(res,
                absl::UnavailableError(absl::StrCat("store not ready: ", seq.status().message())));
      return;
    }
    SendJson(res, 200, {{"status", "ready"}, {"store_sequence", *seq}});
  });
  http.Get("/metrics", [s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s->metrics.RenderPrometheus(), "text/plain; version=0.0.4");
  });
  http.Get("/api/v1/info", [s](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200,
             {{"name", "kos-server"},
              {"environment", EnvironmentName(s->config.environment)},
              {"uptime_seconds", absl::ToInt64Seconds(absl::Now() - s->started)}});
  });

  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    // Only fill in bodies for errors no handler described.
    if (!res.body.empty()) return;
    absl::Status st;
    if (res.status == 404)
      st = absl::NotFoundError(absl::StrCat("no route for ", req.method, " ", req.path));
    else if (res.status == 413)
      st = absl::InvalidArgumentError("request body too large");
    else if (res.status == 400)
      st = absl::InvalidArgumentError("malformed request");
    else
      st = absl::UnknownError(absl::StrCat("HTTP ", res.status));
    res.set_content(ErrorBody(st), "application/json");
  });
  http.set_exception_handler(
      [s](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        s->log->Error("http.handler_exception");
        SendError(res, absl::InternalError("internal error"));
      });
  http.set_logger([s](const httplib::Request& req, const httplib::Response& res) {
    auto c = s->metrics.GetCounter("http_requests_total", "HTTP requests by status class.",
                                   {{"code", absl::StrCat(res.status / 100, "xx")}});
    if (c.ok()) (*c)->Increment();
    s->log->Info("http.access", {{"method", req.method},
                                 {"path", req.path},
                                 {"status", res.status},
                                 {"request_id", res.get_header_value("X-Request-Id")},
                                 {"remote", req.remote_addr}});
  });
}

absl::Status HttpServer::Run() {
  int port = s_->options.port;
  if (port == 0) {
    port = s_->http.bind_to_any_port(s_->options.host);
    if (port <= 0) return absl::UnavailableError(absl::StrCat("cannot bind ", s_->options.host));
  } else if (!s_->http.bind_to_port(s_->options.host, port)) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", s_->options.host, ":", port, " (in use, or not permitted)"));
  }
  s_->bound_port = port;
  s_->log->Info("server.listening", {{"host", s_->options.host}, {"port", port}});
  bool ok = s_->http.listen_after_bind();
  s_->log->Info("server.stopped");
  s_->log_sink->Flush();
  return ok ? absl::OkStatus() : absl::UnavailableError("listener stopped with an error");
}

void HttpServer::Stop() { s_->http.stop(); }
int HttpServer::port() const { return s_->bound_port.load(); }
bool HttpServer::listening() const { return s_->http.is_running(); }

}  // namespace kos::server
