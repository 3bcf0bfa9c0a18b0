#include "http/engine.h"

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kos::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
// Sockets bound to a concrete io_context executor (no type-erased
// any_io_executor on every operation).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using TlsStream = asio::ssl::stream<Socket>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;
using WorkGuard = asio::executor_work_guard<Executor>;

namespace {

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

Socket& Lowest(Socket& s) { return s; }
Socket& Lowest(TlsStream& s) { return s.next_layer(); }

std::chrono::nanoseconds ToChrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // On the session's I/O thread.
  virtual void Sweep(Clock::time_point now) = 0;
  virtual void OnStop() = 0;
};

// One event loop and the connections it owns. `sessions` is only touched
// on the loop's own thread.
struct Context {
  asio::io_context io{1};  // concurrency hint 1: one thread, no scheduler locking
  std::unordered_set<SessionBase*> sessions;
  std::optional<Timer> sweeper;
  std::optional<WorkGuard> guard;
};

}  // namespace

struct HttpEngine::Impl {
  EngineOptions opt;
  EngineHooks hooks;
  std::vector<std::unique_ptr<Context>> ctx;
  std::optional<Acceptor> acceptor;
  std::optional<asio::ssl::context> ssl;
  std::optional<asio::thread_pool> workers;
  std::atomic<bool> stopping{false};
  std::atomic<bool> running{false};
  std::atomic<int> port{0};
  size_t next_ctx = 0;  // accept handler only
  std::optional<Timer> accept_retry;
  std::mutex streams_mu;
  std::condition_variable streams_cv;
  int streams = 0;  // guarded by streams_mu

  void Accept();
  void StartSession(Context* c, Socket sock);
  void ScheduleSweep(Context* c);
  void StreamBegins() {
    std::lock_guard<std::mutex> l(streams_mu);
    ++streams;
  }
  void StreamEnds() {
    std::lock_guard<std::mutex> l(streams_mu);
    if (--streams == 0) streams_cv.notify_all();
  }
};

namespace {

// One connection. Lives on its context's thread; a shared_ptr to it is held
// by whatever is pending (a socket operation, an offloaded handler, a
// stream thread). All socket operations happen on the I/O thread, also for
// streams (their writes are posted to it).
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpEngine::Impl* e, Context* c, Stream stream)
      : e_(e), c_(c), stream_(std::move(stream)) {}

  void Start() {
    c_->sessions.insert(this);
    beast::error_code ec;
    auto remote = Lowest(stream_).remote_endpoint(ec);
    if (!ec) {
      remote_addr_ = remote.address().to_string();
      remote_port_ = remote.port();
    }
    auto local = Lowest(stream_).local_endpoint(ec);
    if (!ec) {
      local_addr_ = local.address().to_string();
      local_port_ = local.port();
    }
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      state_ = State::kHandshake;
      deadline_ = Clock::now() + ToChrono(e_->opt.read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->NextRequest();
                              });
    } else {
      NextRequest();
    }
  }

  void Sweep(Clock::time_point now) override {
    if ((state_ == State::kHandshake || state_ == State::kReading || state_ == State::kWriting ||
         state_ == State::kLingering) &&
        now > deadline_)
      Close();
  }

  void OnStop() override {
    // Idle keep-alive connections go now; a request being read or served
    // finishes first (its response then says Connection: close).
    if (state_ == State::kReading && !request_started_) Close();
  }

 private:
  enum class State { kHandshake, kReading, kHandling, kWriting, kStreaming, kLingering, kClosed };

  void NextRequest() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->body_limit(e_->opt.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(e_->opt.max_header_bytes));
    parser_->eager(true);
    continue_sent_ = false;
    request_started_ = buf_.size() > 0;
    deadline_ = Clock::now() +
                ToChrono(request_started_ ? e_->opt.read_timeout : e_->opt.keep_alive_timeout);
    if (e_->stopping && !request_started_) return Close();
    Parse();
  }

  void DoRead() {
    stream_.async_read_some(
        buf_.prepare(16 << 10),
        [self = this->shared_from_this()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(beast::error_code ec, size_t n) {
    if (state_ == State::kClosed) return;
    if (ec) return Close();
    buf_.commit(n);
    if (!request_started_) {
      request_started_ = true;
      deadline_ = Clock::now() + ToChrono(e_->opt.read_timeout);
    }
    Parse();
  }

  // Feeds what is buffered to the parser (pipelined requests are already
  // there after a response) and reads more only when it needs more.
  void Parse() {
    while (buf_.size() > 0) {
      beast::error_code ec;
      size_t used = parser_->put(buf_.data(), ec);
      buf_.consume(used);
      if (ec == bhttp::error::need_more) {
        if (used == 0) break;
        continue;
      }
      if (ec) return Fail(ec);
      if (parser_->is_done()) return Handle();
      if (used == 0) break;
    }
    if (parser_->is_header_done() && !parser_->is_done() && !continue_sent_) {
      continue_sent_ = true;
      auto& m = parser_->get();
      auto it = m.find(bhttp::field::expect);
      if (it != m.end() && absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(absl::string_view(
                                                      it->value().data(), it->value().size())),
                                                  "100-continue")) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        asio::async_write(stream_, asio::buffer(kContinue, sizeof(kContinue) - 1),
                          [self = this->shared_from_this()](beast::error_code ec, size_t) {
                            if (self->state_ == State::kClosed) return;
                            if (ec) return self->Close();
                            self->DoRead();
                          });
        return;
      }
    }
    DoRead();
  }

  // A request the parser rejected: answered, then the connection closes
  // (the stream position is unknown after a framing error).
  void Fail(beast::error_code ec) {
    int status = 400;
    std::string message = absl::StrCat("malformed HTTP request: ", ec.message());
    if (ec == bhttp::error::body_limit) {
      status = 413;
      message = absl::StrCat("request body too large (limit ", e_->opt.max_body_bytes, " bytes)");
    } else if (ec == bhttp::error::header_limit) {
      status = 431;
      message =
          absl::StrCat("request headers too large (limit ", e_->opt.max_header_bytes, " bytes)");
    }
    x_ = std::make_unique<Exchange>();
    x_->keep_alive = false;
    x_->res.status = status;
    linger_ = true;  // the rest of the request is still coming
    e_->hooks.error(status, message, x_->res);
    parser_.reset();
    Write(/*log=*/false);
  }

  void Handle() {
    state_ = State::kHandling;
    x_ = std::make_unique<Exchange>();
    Exchange& x = *x_;
    x.start = Clock::now();
    auto& m = parser_->get();
    httplib::Request& req = x.req;
    req.method = std::string(m.method_string());
    req.target = std::string(m.target().data(), m.target().size());
    absl::string_view target = req.target;  // the parser (and its message) goes below
    req.version = m.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
    for (const auto& f : m)
      req.headers.emplace(std::string(f.name_string()), std::string(f.value()));
    req.remote_addr = remote_addr_;
    req.remote_port = remote_port_;
    req.local_addr = local_addr_;
    req.local_port = local_port_;
    x.keep_alive = parser_->keep_alive() && !e_->stopping;
    x.head = m.method() == bhttp::verb::head;
    req.body = std::move(m.body());
    parser_.reset();
    // Only origin-form targets ("/path?query"); absolute and authority forms
    // are for proxies.
    if (target.empty() || target.front() != '/') {
      x.keep_alive = false;
      x.res.status = 400;
      e_->hooks.error(400, "malformed HTTP request: request target must start with '/'", x.res);
      return Write(false);
    }
    size_t q = target.find('?');
    req.path = httplib::detail::decode_url(std::string(target.substr(0, q)), false);
    if (q != absl::string_view::npos)
      httplib::detail::parse_query_text(std::string(target.substr(q + 1)), req.params);
    // As cpp-httplib's server did: form bodies also land in params.
    if (absl::StartsWith(req.get_header_value("Content-Type"), "application/x-www-form-urlencoded"))
      httplib::detail::parse_query_text(req.body, req.params);

    if (RunHandler(false)) return Respond();
    // Off the I/O thread; the work guard keeps the loop alive until the
    // response is posted back.
    asio::post(*e_->workers,
               [self = this->shared_from_this(), guard = asio::make_work_guard(c_->io)]() mutable {
                 self->RunHandler(true);
                 Context* c = self->c_;
                 asio::post(c->io, [self = std::move(self)] { self->Respond(); });
                 guard.reset();
               });
  }

  bool RunHandler(bool offloaded) {
    try {
      return e_->hooks.handle(*x_, offloaded);
    } catch (...) {
      x_->res = httplib::Response();
      x_->res.status = 500;
      e_->hooks.error(500, "internal error", x_->res);
      return true;
    }
  }

  void Respond() {
    if (state_ == State::kClosed) return;
    httplib::Response& res = x_->res;
    if (res.status == -1) res.status = 200;
    if (e_->stopping) x_->keep_alive = false;
    if (res.content_provider_) return StartStream();
    Write(true);
  }

  static bool NoBody(int status) { return status < 200 || status == 204 || status == 304; }

  // The status line and headers. `length` npos: none (chunked or ended by
  // the close).
  void BuildHead(size_t length, bool chunked) {
    const Exchange& x = *x_;
    const httplib::Response& res = x.res;
    head_.clear();
    absl::StrAppend(&head_, "HTTP/1.1 ", res.status, " ", Reason(res.status), "\r\n");
    for (const auto& [k, v] : res.headers) {
      if (absl::EqualsIgnoreCase(k, "Content-Length") || absl::EqualsIgnoreCase(k, "Connection") ||
          absl::EqualsIgnoreCase(k, "Transfer-Encoding"))
        continue;
      absl::StrAppend(&head_, k, ": ", v, "\r\n");
    }
    if (!NoBody(res.status)) {
      if (chunked)
        head_ += "Transfer-Encoding: chunked\r\n";
      else if (length != std::string::npos)
        absl::StrAppend(&head_, "Content-Length: ", length, "\r\n");
    }
    if (!x.keep_alive)
      head_ += "Connection: close\r\n";
    else if (x.req.version == "HTTP/1.0")
      head_ += "Connection: keep-alive\r\n";
    head_ += "\r\n";
  }

  void Write(bool log) {
    state_ = State::kWriting;
    deadline_ = Clock::now() + ToChrono(e_->opt.write_timeout);
    const httplib::Response& res = x_->res;
    BuildHead(res.body.size(), false);
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), x_->head || NoBody(res.status)
                                                                    ? asio::const_buffer()
                                                                    : asio::buffer(res.body)};
    // asio tries the send right here, so the log line below is built while
    // the response is already on the wire.
    asio::async_write(
        stream_, bufs,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnWritten(ec); });
    if (log) e_->hooks.log(*x_);
  }

  void OnWritten(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    bool keep = x_->keep_alive;
    x_.reset();
    if (ec) return Close();
    if (!keep || e_->stopping) return Linger();
    NextRequest();
  }

  // Closes the sending side, then reads (and drops) what the client still
  // sends until it closes too: closing with unread data would make the
  // kernel reset the connection, and the client could lose the response.
  void Linger() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      return Close();
    } else {
      // Only after a rejected request is unread input likely; otherwise
      // close at once (shutdown must not wait on idle clients).
      if (!linger_ && buf_.size() == 0) return Close();
      state_ = State::kLingering;
      deadline_ = Clock::now() + std::chrono::seconds(2);
      beast::error_code ec;
      Lowest(stream_).shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return Close();
      DrainRead();
    }
  }

  void DrainRead() {
    buf_.clear();
    stream_.async_read_some(buf_.prepare(16 << 10),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (self->state_ == State::kClosed) return;
                              self->lingered_ += n;
                              if (ec || self->lingered_ > (64u << 20)) return self->Close();
                              self->DrainRead();
                            });
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    c_->sessions.erase(this);
    beast::error_code ec;
    Lowest(stream_).shutdown(tcp::socket::shutdown_both, ec);
    Lowest(stream_).close(ec);
    if (e_->stopping && c_->sessions.empty() && c_->sweeper) c_->sweeper->cancel();
  }

  // ---- streamed responses (httplib content providers) ----

  void StartStream() {
    state_ = State::kStreaming;
    httplib::Response& res = x_->res;
    bool chunked = res.is_chunked_content_provider_;
    bool sized = !chunked && res.content_length_ > 0;
    if (!chunked && !sized) x_->keep_alive = false;  // the close ends the body
    BuildHead(sized ? res.content_length_ : std::string::npos, chunked);
    e_->hooks.log(*x_);
    e_->StreamBegins();
    HttpEngine::Impl* e = e_;
    std::thread([self = this->shared_from_this(), guard = asio::make_work_guard(c_->io),
                 e]() mutable {
      bool ok = self->RunStream();
      Context* c = self->c_;
      asio::post(c->io, [self = std::move(self), ok] { self->OnStreamed(ok); });
      guard.reset();
      e->StreamEnds();
    }).detach();
  }

  // Runs on the stream's own thread; blocks in the provider and in writes.
  bool RunStream() {
    if (!BlockingWrite(head_)) return false;
    Exchange& x = *x_;
    httplib::Response& res = x.res;
    if (x.head || NoBody(res.status)) return true;
    bool chunked = res.is_chunked_content_provider_;
    size_t length = chunked ? 0 : res.content_length_;
    bool ok = true, done = false;
    size_t offset = 0;
    httplib::DataSink sink;
    sink.write = [&](const char* d, size_t n) -> bool {
      if (!ok || done) return false;
      if (n == 0) return true;
      std::string out;
      if (chunked) {
        out.reserve(n + 16);
        absl::StrAppend(&out, absl::Hex(n), "\r\n");
        out.append(d, n);
        out += "\r\n";
      } else {
        if (length > 0 && offset + n > length) n = length - offset;
        out.assign(d, n);
      }
      offset += n;
      ok = BlockingWrite(std::move(out));
      return ok;
    };
    sink.is_writable = [&] { return ok; };
    sink.done = [&] {
      if (done) return;
      done = true;
      if (ok && chunked) ok = BlockingWrite("0\r\n\r\n");
    };
    while (ok && !done && (length == 0 || offset < length)) {
      size_t before = offset;
      if (!res.content_provider_(offset, length == 0 ? 0 : length - offset, sink)) {
        ok = false;
        break;
      }
      // A provider that neither writes nor finishes would spin forever.
      if (offset == before && !done) {
        ok = false;
        break;
      }
    }
    if (length > 0 && offset < length) ok = false;
    if (chunked && !done) ok = false;
    res.content_provider_success_ = ok;
    return ok;
  }

  // A write from the stream thread: done on the I/O thread, waited for here,
  // bounded by write_timeout.
  bool BlockingWrite(std::string data) {
    auto buf = std::make_shared<std::string>(std::move(data));
    auto done = std::make_shared<std::promise<bool>>();
    std::future<bool> result = done->get_future();
    auto self = this->shared_from_this();
    asio::post(c_->io, [self, buf, done] {
      if (self->state_ == State::kClosed) return done->set_value(false);
      asio::async_write(self->stream_, asio::buffer(*buf),
                        [buf, done](beast::error_code ec, size_t) { done->set_value(!ec); });
    });
    if (result.wait_for(ToChrono(e_->opt.write_timeout)) != std::future_status::ready) {
      asio::post(c_->io, [self] { self->Close(); });  // cancels the write
      result.wait();
      return false;
    }
    return result.get();
  }

  void OnStreamed(bool ok) {
    bool keep = ok && x_->keep_alive;
    x_.reset();  // runs the provider's releaser here
    if (state_ == State::kClosed) return;
    if (!keep || e_->stopping) return Linger();
    NextRequest();
  }

  HttpEngine::Impl* e_;
  Context* c_;
  Stream stream_;
  beast::flat_buffer buf_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<Exchange> x_;
  std::string head_;
  State state_ = State::kReading;
  Clock::time_point deadline_;
  bool request_started_ = false;
  bool continue_sent_ = false;
  size_t lingered_ = 0;
  bool linger_ = false;
  std::string remote_addr_, local_addr_;
  int remote_port_ = 0, local_port_ = 0;
};

}  // namespace

void HttpEngine::Impl::Accept() {
  Context* c = ctx[next_ctx++ % ctx.size()].get();
  acceptor->async_accept(c->io, [this, c](beast::error_code ec, Socket sock) {
    if (ec == asio::error::operation_aborted || stopping || !acceptor->is_open()) return;
    if (!ec) {
      asio::post(c->io,
                 [this, c, sock = std::move(sock)]() mutable { StartSession(c, std::move(sock)); });
      return Accept();
    }
    // Out of descriptors (or a connection reset before accept): back off
    // briefly instead of spinning.
    accept_retry->expires_after(std::chrono::milliseconds(50));
    accept_retry->async_wait([this](beast::error_code ec) {
      if (!ec && !stopping) Accept();
    });
  });
}

void HttpEngine::Impl::StartSession(Context* c, Socket sock) {
  if (stopping) return;
  beast::error_code ec;
  // Small responses must not wait for Nagle's algorithm.
  sock.set_option(tcp::no_delay(true), ec);
  if (ssl) {
    auto s = std::make_shared<Session<TlsStream>>(this, c, TlsStream(std::move(sock), *ssl));
    s->Start();
  } else {
    auto s = std::make_shared<Session<Socket>>(this, c, std::move(sock));
    s->Start();
  }
}

// Once a second: drops connections past their deadline. One timer per loop
// instead of one per socket operation keeps timeouts off the request path.
void HttpEngine::Impl::ScheduleSweep(Context* c) {
  c->sweeper->expires_after(std::chrono::seconds(1));
  c->sweeper->async_wait([this, c](beast::error_code ec) {
    if (ec) return;
    auto now = Clock::now();
    std::vector<SessionBase*> all(c->sessions.begin(), c->sessions.end());
    for (SessionBase* s : all)
      if (c->sessions.count(s)) s->Sweep(now);
    if (stopping && c->sessions.empty()) return;
    ScheduleSweep(c);
  });
}

HttpEngine::HttpEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpEngine::~HttpEngine() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpEngine>> HttpEngine::Create(const EngineOptions& options,
                                                               EngineHooks hooks) {
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->hooks = std::move(hooks);
  int n = std::max(1, options.io_threads);
  for (int i = 0; i < n; ++i) impl->ctx.push_back(std::make_unique<Context>());
  impl->workers.emplace(std::max(1, options.worker_threads));
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty())
      return absl::InvalidArgumentError("TLS needs both a certificate and a key");
    impl->ssl.emplace(asio::ssl::context::tls_server);
    beast::error_code ec1, ec2;
    impl->ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(impl->ssl->native_handle(), TLS1_2_VERSION);
    impl->ssl->use_certificate_chain_file(options.tls_cert, ec1);
    impl->ssl->use_private_key_file(options.tls_key, asio::ssl::context::pem, ec2);
    if (ec1 || ec2)
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load TLS certificate '", options.tls_cert, "' or key '", options.tls_key, "'"));
  }
  return std::unique_ptr<HttpEngine>(new HttpEngine(std::move(impl)));
}

absl::Status HttpEngine::Bind() {
  Impl& m = *impl_;
  if (m.acceptor) return absl::OkStatus();
  beast::error_code ec;
  tcp::endpoint ep;
  auto addr = asio::ip::make_address(m.opt.host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, static_cast<unsigned short>(m.opt.port));
  } else {
    asio::ip::basic_resolver<tcp, Executor> resolver(m.ctx[0]->io);
    auto results = resolver.resolve(m.opt.host, std::to_string(m.opt.port), ec);
    if (ec || results.empty())
      return absl::UnavailableError(absl::StrCat("cannot resolve ", m.opt.host));
    ep = results.begin()->endpoint();
  }
  Acceptor a(m.ctx[0]->io);
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", m.opt.host, ":", m.opt.port, " (", ec.message(), ")"));
  m.port = a.local_endpoint(ec).port();
  m.acceptor.emplace(std::move(a));
  m.accept_retry.emplace(m.ctx[0]->io);
  return absl::OkStatus();
}

absl::Status HttpEngine::Run() {
  Impl& m = *impl_;
  absl::Status bound = Bind();
  if (!bound.ok()) return bound;
  if (m.stopping) return absl::OkStatus();
  for (auto& c : m.ctx) {
    c->guard.emplace(asio::make_work_guard(c->io));
    c->sweeper.emplace(c->io);
    m.ScheduleSweep(c.get());
  }
  m.running = true;
  // Stop() may have run between the check above and here; its posted work
  // is what ends the loops, so post it (again) if so.
  if (m.stopping) Stop();
  asio::post(m.ctx[0]->io, [&m] {
    if (!m.stopping) m.Accept();
  });
  std::vector<std::thread> threads;
  for (size_t i = 1; i < m.ctx.size(); ++i)
    threads.emplace_back([c = m.ctx[i].get()] { c->io.run(); });
  m.ctx[0]->io.run();
  for (auto& t : threads) t.join();
  m.workers->join();
  {
    std::unique_lock<std::mutex> l(m.streams_mu);
    m.streams_cv.wait(l, [&] { return m.streams == 0; });
  }
  m.running = false;
  return absl::OkStatus();
}

void HttpEngine::Stop() {
  Impl& m = *impl_;
  m.stopping = true;
  asio::post(m.ctx[0]->io, [&m] {
    beast::error_code ec;
    if (m.acceptor) m.acceptor->close(ec);
    if (m.accept_retry) m.accept_retry->cancel();
  });
  for (auto& c : m.ctx) {
    asio::post(c->io, [c = c.get()] {
      std::vector<SessionBase*> all(c->sessions.begin(), c->sessions.end());
      for (SessionBase* s : all)
        if (c->sessions.count(s)) s->OnStop();
      if (c->sessions.empty() && c->sweeper) c->sweeper->cancel();
      c->guard.reset();
    });
  }
}

int HttpEngine::port() const { return impl_->port.load(); }
bool HttpEngine::running() const { return impl_->running.load(); }
bool HttpEngine::tls() const { return impl_->ssl.has_value(); }

}  // namespace kos::server
