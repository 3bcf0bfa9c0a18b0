#include "store/sqlite_checkpointer.h"

#include <utility>

#include "store/sqlite_conn.h"

namespace kos::internal {

SqliteCheckpointer::SqliteCheckpointer(std::string path, sqlite3* writer,
                                       const SqliteCheckpointerOptions& options)
    : path_(std::move(path)), writer_(writer), options_(options) {
  thread_ = std::thread([this] { Run(); });
  sqlite3_wal_hook(writer_, &SqliteCheckpointer::Hook, this);
}

SqliteCheckpointer::~SqliteCheckpointer() {
  sqlite3_wal_autocheckpoint(writer_, 1000);  // also removes our hook
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  thread_.join();
}

int64_t SqliteCheckpointer::completed() const {
  absl::MutexLock l(&mu_);
  return completed_;
}

int SqliteCheckpointer::Hook(void* self, sqlite3* db, const char* name, int pages) {
  auto* c = static_cast<SqliteCheckpointer*>(self);
  if (pages >= c->options_.inline_pages) {
    // What SQLite's own hook does; its result is not the commit's result.
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (pages >= c->options_.wake_pages) {
    absl::MutexLock l(&c->mu_);
    c->pending_ = true;
  }
  return SQLITE_OK;
}

void SqliteCheckpointer::Run() {
  std::unique_ptr<SqliteConn> conn;
  absl::MutexLock l(&mu_);
  for (;;) {
    mu_.Await(absl::Condition(
        +[](SqliteCheckpointer* c)
             ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->pending_ || c->stop_; },
        this));
    if (stop_) return;
    pending_ = false;
    mu_.Unlock();
    bool ok = false;
    if (conn == nullptr) {
      auto opened = SqliteConn::Open(path_, false, options_.sync_full, options_.busy_timeout);
      if (opened.ok()) conn = *std::move(opened);
    }
    if (conn != nullptr) {
      // Busy (another process checkpointing) or an I/O error: the next wake,
      // or the writer's inline fallback, tries again.
      ok = sqlite3_wal_checkpoint_v2(conn->db().getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                     nullptr, nullptr) == SQLITE_OK;
    }
    mu_.Lock();
    if (ok) ++completed_;
  }
}

}  // namespace kos::internal
