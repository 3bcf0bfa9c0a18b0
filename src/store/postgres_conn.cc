#include "store/postgres_conn.h"

#include <endian.h>
#include <poll.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace kos::internal {
namespace {

absl::Status BadUri(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad PostgreSQL URI: ", why,
      " (expected postgresql://[user[:password]@]host[:port]/database[?pool_size=..&schema=..&"
      "<libpq options>])"));
}

// libpq prints NOTICEs ("relation already exists, skipping") to stderr by
// default; the library never writes to stderr.
void IgnoreNotice(void*, const char*) {}

// An idle connection has nothing to read unless the server sent a shutdown
// notice or closed it (restart, idle timeout, pg_terminate_backend). Checking
// first lets a call use a fresh connection instead of failing on a dead one.
bool ClosedByServer(PGconn* c) {
  pollfd p{PQsocket(c), POLLIN, 0};
  return p.fd < 0 || poll(&p, 1, 0) != 0;
}

bool ValidSchemaName(absl::string_view s) {
  if (s.empty() || s.size() > 63 || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

// Maps a failed statement to a status code by its SQLSTATE class.
absl::StatusCode CodeFor(absl::string_view sqlstate) {
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::StatusCode::kAborted;
  if (absl::StartsWith(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03" || sqlstate == "25006") {
    return absl::StatusCode::kUnavailable;
  }
  if (sqlstate == "57014") return absl::StatusCode::kDeadlineExceeded;
  if (absl::StartsWith(sqlstate, "53")) return absl::StatusCode::kResourceExhausted;
  if (absl::StartsWith(sqlstate, "28")) return absl::StatusCode::kUnauthenticated;
  if (sqlstate == "42501") return absl::StatusCode::kPermissionDenied;
  if (absl::StartsWith(sqlstate, "22")) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kInternal;
}

}  // namespace

absl::StatusOr<PostgresConfig> ParsePostgresUri(absl::string_view uri) {
  PostgresConfig c;
  absl::string_view base = uri;
  std::vector<std::string> pass_through;
  bool has_connect_timeout = false;
  if (size_t q = uri.find('?'); q != absl::string_view::npos) {
    base = uri.substr(0, q);
    for (absl::string_view kv : absl::StrSplit(uri.substr(q + 1), '&', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> p =
          absl::StrSplit(kv, absl::MaxSplits('=', 1));
      if (p.first == "pool_size") {
        int n;
        if (!absl::SimpleAtoi(p.second, &n) || n < 1 || n > 1024) {
          return BadUri("pool_size must be 1..1024");
        }
        c.pool_size = n;
      } else if (p.first == "schema") {
        if (!ValidSchemaName(p.second)) {
          return BadUri("schema must be 1..63 of [a-z0-9_], not starting with a digit");
        }
        c.schema = std::string(p.second);
      } else {
        if (p.first == "connect_timeout") has_connect_timeout = true;
        pass_through.emplace_back(kv);
      }
    }
  }
  // libpq waits forever to connect by default; a dead host must fail fast.
  if (!has_connect_timeout) pass_through.emplace_back("connect_timeout=5");
  // libpq matches the scheme case-sensitively.
  size_t colon = base.find(':');
  c.conninfo = absl::StrCat(absl::AsciiStrToLower(base.substr(0, colon)), base.substr(colon), "?",
                            absl::StrJoin(pass_through, "&"));

  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(c.conninfo.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err != nullptr ? std::string(absl::StripAsciiWhitespace(err)) : "unparsable";
    if (err != nullptr) PQfreemem(err);
    // libpq's message quotes the offending option or URI part, never a
    // password value, but scrub what we can find anyway.
    if (size_t at = uri.find('@'); at != absl::string_view::npos) {
      absl::string_view userinfo = uri.substr(0, at);
      if (size_t colon = userinfo.rfind(':'); colon != absl::string_view::npos &&
                                              userinfo.substr(colon + 1).size() > 0 &&
                                              colon > userinfo.find("//")) {
        why = absl::StrReplaceAll(why, {{std::string(userinfo.substr(colon + 1)), "***"}});
      }
    }
    return BadUri(why);
  }
  std::string host = "localhost", port = "5432", db;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::strcmp(o->keyword, "password") == 0) c.password = o->val;
    if (std::strcmp(o->keyword, "host") == 0 && *o->val) host = o->val;
    if (std::strcmp(o->keyword, "hostaddr") == 0 && *o->val) host = o->val;
    if (std::strcmp(o->keyword, "port") == 0 && *o->val) port = o->val;
    if (std::strcmp(o->keyword, "dbname") == 0) db = o->val;
  }
  PQconninfoFree(opts);
  c.address = absl::StrCat(host, ":", port, "/", db);
  return c;
}

PgParams& PgParams::Text(std::string s) {
  lengths_.push_back(static_cast<int>(s.size()));
  values_.push_back(std::move(s));
  null_.push_back(false);
  formats_.push_back(0);
  return *this;
}

PgParams& PgParams::Bytes(std::string s) {
  Text(std::move(s));
  formats_.back() = 1;
  return *this;
}

PgParams& PgParams::Int(int64_t v) { return Text(absl::StrCat(v)); }

PgParams& PgParams::Null() {
  Text("");
  null_.back() = true;
  return *this;
}

std::vector<const char*> PgParams::Values() const {
  std::vector<const char*> v;
  v.reserve(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) v.push_back(null_[i] ? nullptr : values_[i].data());
  return v;
}

int64_t PgInt64(const PGresult* r, int row, int col) {
  uint64_t be = 0;
  if (PQgetlength(r, row, col) == 8) std::memcpy(&be, PQgetvalue(r, row, col), 8);
  return static_cast<int64_t>(be64toh(be));
}

bool PgBool(const PGresult* r, int row, int col) {
  return PQgetlength(r, row, col) == 1 && PQgetvalue(r, row, col)[0] != 0;
}

std::string PgBytes(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}

bool IsRetryable(const absl::Status& s) { return s.code() == absl::StatusCode::kAborted; }

PgConn::~PgConn() { pool_->Release(conn_, broken()); }

bool PgConn::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

absl::StatusOr<PgResult> PgConn::Exec(const char* sql, const PgParams& params) {
  std::vector<const char*> values = params.Values();
  PgResult r(PQexecParams(conn_, sql, params.size(), nullptr, values.data(), params.Lengths(),
                          params.Formats(), /*resultFormat=*/1));
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  if (PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(pool_->Scrub(
        absl::StrCat("lost the connection to PostgreSQL at ", pool_->config().address, ": ",
                     absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn_)))));
  }
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  const char* msg = r ? PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string sqlstate = state != nullptr ? state : "";
  return absl::Status(CodeFor(sqlstate),
                      pool_->Scrub(absl::StrCat("PostgreSQL error ", sqlstate, ": ",
                                                msg != nullptr ? msg : PQerrorMessage(conn_))));
}

PgPool::~PgPool() {
  absl::MutexLock l(&mu_);
  for (PGconn* c : idle_) PQfinish(c);
}

std::string PgPool::Scrub(absl::string_view message) const {
  if (config_.password.empty()) return std::string(message);
  return absl::StrReplaceAll(message, {{config_.password, "***"}});
}

absl::StatusOr<std::unique_ptr<PgConn>> PgPool::Acquire(absl::Duration wait) {
  {
    absl::MutexLock l(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < config_.pool_size;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), wait)) {
      return absl::UnavailableError(absl::StrCat("all ", config_.pool_size,
                                                 " PostgreSQL connections to ", config_.address,
                                                 " stayed busy for ", absl::FormatDuration(wait)));
    }
    while (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      if (!ClosedByServer(c)) return std::make_unique<PgConn>(this, c);
      PQfinish(c);
      --open_;
    }
    ++open_;
  }
  absl::StatusOr<PGconn*> c = Connect();
  if (!c.ok()) {
    absl::MutexLock l(&mu_);
    --open_;
    return c.status();
  }
  return std::make_unique<PgConn>(this, *c);
}

void PgPool::Release(PGconn* conn, bool broken) {
  std::vector<PGconn*> drop;
  {
    absl::MutexLock l(&mu_);
    if (broken) {
      // A broken connection usually means the server restarted, which broke
      // the idle ones too: close them all so the next calls reconnect.
      drop.swap(idle_);
      drop.push_back(conn);
      open_ -= static_cast<int>(drop.size());
    } else {
      idle_.push_back(conn);
    }
  }
  for (PGconn* c : drop) PQfinish(c);
}

absl::StatusOr<PGconn*> PgPool::Connect() {
  PGconn* c = PQconnectdb(config_.conninfo.c_str());
  if (c == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why(absl::StripTrailingAsciiWhitespace(PQerrorMessage(c)));
    PQfinish(c);
    absl::StatusCode code = absl::StatusCode::kUnavailable;
    if (absl::StrContains(why, "authentication failed") || absl::StrContains(why, "password")) {
      code = absl::StatusCode::kUnauthenticated;
    }
    return absl::Status(
        code, Scrub(absl::StrCat("cannot connect to PostgreSQL at ", config_.address, ": ", why)));
  }
  PQsetNoticeProcessor(c, IgnoreNotice, nullptr);
  if (!config_.schema.empty()) {
    // The name was validated as [a-z0-9_]+, so quoting is enough.
    // The store creates the schema once at open, under its migration lock.
    std::string sql = absl::StrCat("SET search_path TO \"", config_.schema, "\"");
    PgResult r(PQexec(c, sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      absl::Status s(
          CodeFor(state != nullptr ? state : ""),
          Scrub(absl::StrCat("cannot use schema '", config_.schema, "' at ", config_.address, ": ",
                             absl::StripTrailingAsciiWhitespace(PQerrorMessage(c)))));
      PQfinish(c);
      return s;
    }
  }
  return c;
}

}  // namespace kos::internal
