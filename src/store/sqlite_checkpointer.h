// Background WAL checkpoints for the SQLite store.
#ifndef KOS_STORE_SQLITE_CHECKPOINTER_H_
#define KOS_STORE_SQLITE_CHECKPOINTER_H_

#include <sqlite3.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kos::internal {

struct SqliteCheckpointerOptions {
  // The writer wakes the checkpoint thread once a commit leaves this many
  // pages in the WAL (SQLite's own automatic checkpoint threshold).
  int wake_pages = 1000;
  // Past this many, the committing writer checkpoints itself, as SQLite
  // would: the thread has fallen behind (slow disk, long readers), and the
  // WAL, which every read must search, would otherwise keep growing.
  int inline_pages = 8000;
  bool sync_full = false;
  absl::Duration busy_timeout = absl::Seconds(5);
};

// Copies the write-ahead log back into the database file on a thread of its
// own. SQLite's automatic checkpoint runs inside the commit that crosses the
// threshold, so that commit pays for copying and syncing ~4 MB (perf: 10% of
// a bulk ingest, and most of its wall time beyond CPU time). Checkpoints are
// PASSIVE: they never wait for or block readers and writers, and a skipped
// or failed one is retried at the next wake.
//
// Thread-safe: the hook runs on the writer's thread, the checkpoints on the
// object's own thread, on a connection of their own.
class SqliteCheckpointer {
 public:
  // Replaces `writer`'s automatic checkpoint with this object's hook.
  // `writer` must outlive the returned object, and must be in WAL mode.
  SqliteCheckpointer(std::string path, sqlite3* writer, const SqliteCheckpointerOptions& options);
  // Stops the thread and gives `writer` back SQLite's automatic checkpoint.
  ~SqliteCheckpointer();
  SqliteCheckpointer(const SqliteCheckpointer&) = delete;
  SqliteCheckpointer& operator=(const SqliteCheckpointer&) = delete;

  // Checkpoints completed by the thread (for tests and stats).
  int64_t completed() const;

 private:
  static int Hook(void* self, sqlite3* db, const char* name, int pages);
  void Run();

  const std::string path_;
  sqlite3* const writer_;
  const SqliteCheckpointerOptions options_;
  mutable absl::Mutex mu_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace kos::internal

#endif  // KOS_STORE_SQLITE_CHECKPOINTER_H_
