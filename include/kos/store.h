// Store: durable, versioned records grouped in collections.
//
// Every record has a version (1 on first write, +1 on every write). Writes may
// require an expected version (compare-and-set): a mismatch fails with
// FAILED_PRECONDITION and changes nothing. Batches are atomic. Every committed
// write gets a sequence number from one monotonic counter per store, so other
// components (indexes, replicas) can follow the change feed.
//
// Backends: `memory:` (in-process, lost on exit) and `sqlite:///path/kos.db`
// (embedded, durable). Open one by URI with OpenStore().
#ifndef KOS_STORE_H_
#define KOS_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"

namespace kos {

struct Record {
  std::string collection;
  std::string key;
  std::string value;      // opaque bytes
  uint64_t version = 0;   // >= 1 for a stored record
  uint64_t sequence = 0;  // change-feed sequence of the write that made it
  absl::Time updated = absl::InfinitePast();
  absl::Time expires = absl::InfiniteFuture();  // InfiniteFuture: never
};

// One write inside a batch.
struct KOS_EXPORT WriteOp {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string collection;
  std::string key;
  std::string value;  // kPut only
  // If set, the write happens only when the stored version equals this; 0
  // means "the record must not exist". Unset: unconditional.
  std::optional<uint64_t> expected_version;
  // kPut only: the record expires this long after the write (0: never).
  absl::Duration ttl = absl::ZeroDuration();

  static WriteOp Put(std::string collection, std::string key, std::string value,
                     std::optional<uint64_t> expected_version = std::nullopt,
                     absl::Duration ttl = absl::ZeroDuration());
  static WriteOp Delete(std::string collection, std::string key,
                        std::optional<uint64_t> expected_version = std::nullopt);
};

// The outcome of one committed op, in batch order.
struct WriteResult {
  uint64_t version = 0;   // the new version (kPut) or the deleted one (kDelete)
  uint64_t sequence = 0;  // change-feed sequence of this write
};

struct ScanOptions {
  std::string prefix;      // only keys starting with this
  std::string page_token;  // from a previous ScanPage; "" starts at the beginning
  size_t limit = 100;      // at most this many records per page (1..10000)
  bool keys_only = false;  // leave Record::value empty
};

struct ScanPage {
  std::vector<Record> records;  // in ascending key order (bytewise)
  std::string next_page_token;  // "" when there are no more
};

// One entry of the change feed.
struct Change {
  uint64_t sequence = 0;
  std::string collection;
  std::string key;
  bool deleted = false;
  uint64_t version = 0;
};

struct StoreOptions {
  // Source of time for TTLs. Not owned; must outlive the store.
  Clock* clock = Clock::Real();
  // Largest value accepted, in bytes. Larger puts fail with INVALID_ARGUMENT.
  size_t max_value_bytes = 16 << 20;
  // Largest key accepted, in bytes.
  size_t max_key_bytes = 1024;
  // SQLite: how long a writer waits for another process's lock before the
  // call fails with UNAVAILABLE. Callers never see "database is locked".
  absl::Duration busy_timeout = absl::Seconds(30);
  // SQLite: PRAGMA synchronous. true = FULL (every commit survives power loss),
  // false = NORMAL (WAL; commits survive a process crash, may roll back on power loss).
  bool sync_full = false;
  // Create the database file (and its directory) if missing.
  bool create_if_missing = true;
  // Change-feed entries kept at least (SQLite trims in chunks of keep/16). 0: all.
  uint64_t change_feed_retention = 1'000'000;
  // SQLite: copy the write-ahead log back into the database file on a thread
  // of the store's own instead of inside the commit that crosses 1,000 WAL
  // pages. Measured: durable bulk ingest (batches of 1,000 x 700 B) 1.2-1.5x
  // faster in wall time; a stream of small commits (100 x 100 B) ~15% slower,
  // because the log then restarts less often. Hence off by default; turn it on
  // for bulk loads. Readers and writers are never blocked by it.
  bool background_checkpoint = false;
};

// Abstract durable record store. All implementations are thread-safe.
class KOS_EXPORT Store {
 public:
  virtual ~Store();

  // NOT_FOUND if absent or expired.
  virtual absl::StatusOr<Record> Get(absl::string_view collection, absl::string_view key) = 0;

  // Applies every op or none. FAILED_PRECONDITION names the first op whose
  // expected_version did not match; INVALID_ARGUMENT for a bad op.
  virtual absl::StatusOr<std::vector<WriteResult>> Commit(const std::vector<WriteOp>& ops) = 0;

  // Records of `collection` in key order, skipping expired ones.
  virtual absl::StatusOr<ScanPage> Scan(absl::string_view collection,
                                        const ScanOptions& options) = 0;

  // Change-feed entries with sequence > `after`, oldest first, at most `limit`.
  // OUT_OF_RANGE if `after` is older than the retained feed (the follower must
  // rescan).
  virtual absl::StatusOr<std::vector<Change>> Changes(uint64_t after, size_t limit) = 0;

  // The sequence number of the latest committed write (0 if none).
  virtual absl::StatusOr<uint64_t> LastSequence() = 0;

  // Deletes expired records; returns how many. Expired records are already
  // invisible to Get and Scan; this reclaims their space.
  virtual absl::StatusOr<size_t> PurgeExpired() = 0;

  // Conveniences over Commit().
  absl::StatusOr<WriteResult> Put(absl::string_view collection, absl::string_view key,
                                  absl::string_view value,
                                  std::optional<uint64_t> expected_version = std::nullopt,
                                  absl::Duration ttl = absl::ZeroDuration());
  absl::Status Delete(absl::string_view collection, absl::string_view key,
                      std::optional<uint64_t> expected_version = std::nullopt);
};

// Opens a store by URI: `memory:`, `sqlite:///abs/path.db`, `sqlite:rel/path.db`.
// INVALID_ARGUMENT for an unknown scheme or malformed URI.
KOS_EXPORT absl::StatusOr<std::unique_ptr<Store>> OpenStore(absl::string_view uri,
                                                            const StoreOptions& options = {});

// Collection names: 1..64 chars of [A-Za-z0-9_.-], not starting with '.'.
KOS_EXPORT absl::Status ValidateCollectionName(absl::string_view collection);

}  // namespace kos

#endif  // KOS_STORE_H_
