// In-process Store: a sorted map under one mutex. Used by tests and by
// `memory:` URIs; nothing survives the process.
#include <deque>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kos/status.h"
#include "store/backends.h"

namespace kos::internal {
namespace {

struct Entry {
  std::string value;
  uint64_t version = 0;
  uint64_t sequence = 0;
  absl::Time updated;
  absl::Time expires = absl::InfiniteFuture();
};

using Key = std::pair<std::string, std::string>;  // (collection, key)

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(const StoreOptions& options) : options_(options) {}

  absl::StatusOr<Record> Get(absl::string_view collection, absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateCollectionName(collection));
    absl::Time now = options_.clock->Now();
    absl::ReaderMutexLock l(&mu_);
    auto it = data_.find(Key(collection, key));
    if (it == data_.end() || it->second.expires <= now) {
      return absl::NotFoundError(
          absl::StrCat("no record '", key.substr(0, 128), "' in '", collection, "'"));
    }
    return ToRecord(it->first, it->second, false);
  }

  absl::StatusOr<std::vector<WriteResult>> Commit(const std::vector<WriteOp>& ops) override {
    for (const WriteOp& op : ops) KOS_RETURN_IF_ERROR(ValidateWriteOp(op, options_));
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    // Check every precondition first so a failing batch changes nothing. A
    // batch may touch one key twice; track the versions it would produce.
    std::map<Key, uint64_t> pending;
    for (size_t i = 0; i < ops.size(); ++i) {
      const WriteOp& op = ops[i];
      Key k(op.collection, op.key);
      uint64_t current;
      if (auto p = pending.find(k); p != pending.end()) {
        current = p->second;
      } else {
        auto it = data_.find(k);
        current = (it == data_.end() || it->second.expires <= now) ? 0 : it->second.version;
      }
      if (op.expected_version && *op.expected_version != current) {
        return absl::FailedPreconditionError(
            absl::StrCat("version conflict on '", op.collection, "/", op.key.substr(0, 128),
                         "' (op ", i, "): expected ", *op.expected_version, ", found ", current));
      }
      pending[k] = op.kind == WriteOp::Kind::kPut ? current + 1 : 0;
    }
    std::vector<WriteResult> results;
    results.reserve(ops.size());
    for (const WriteOp& op : ops) {
      Key k(op.collection, op.key);
      auto it = data_.find(k);
      bool live = it != data_.end() && it->second.expires > now;
      uint64_t seq = ++sequence_;
      if (op.kind == WriteOp::Kind::kPut) {
        Entry& e = data_[k];
        e.version = live ? e.version + 1 : 1;
        e.value = op.value;
        e.sequence = seq;
        e.updated = now;
        e.expires = op.ttl > absl::ZeroDuration() ? now + op.ttl : absl::InfiniteFuture();
        results.push_back({e.version, seq});
        changes_.push_back({seq, op.collection, op.key, false, e.version});
      } else {
        uint64_t v = live ? it->second.version : 0;
        if (it != data_.end()) data_.erase(it);
        results.push_back({v, seq});
        changes_.push_back({seq, op.collection, op.key, true, v});
      }
    }
    if (options_.change_feed_retention > 0) {
      while (changes_.size() > options_.change_feed_retention) changes_.pop_front();
    }
    return results;
  }

  absl::StatusOr<ScanPage> Scan(absl::string_view collection, const ScanOptions& options) override {
    KOS_RETURN_IF_ERROR(ValidateCollectionName(collection));
    KOS_RETURN_IF_ERROR(ValidateScanOptions(options));
    std::string start;
    if (!options.page_token.empty()) {
      KOS_ASSIGN_OR_RETURN(start, DecodePageToken(options.page_token));
    }
    absl::Time now = options_.clock->Now();
    absl::ReaderMutexLock l(&mu_);
    ScanPage page;
    Key from(collection, options.page_token.empty() ? options.prefix : start);
    auto it = options.page_token.empty() ? data_.lower_bound(from) : data_.upper_bound(from);
    for (; it != data_.end() && it->first.first == collection; ++it) {
      if (!absl::StartsWith(it->first.second, options.prefix)) {
        if (it->first.second > options.prefix) break;
        continue;
      }
      if (it->second.expires <= now) continue;
      if (page.records.size() == options.limit) {
        page.next_page_token = EncodePageToken(page.records.back().key);
        break;
      }
      page.records.push_back(ToRecord(it->first, it->second, options.keys_only));
    }
    return page;
  }

  absl::StatusOr<std::vector<Change>> Changes(uint64_t after, size_t limit) override {
    absl::ReaderMutexLock l(&mu_);
    std::vector<Change> out;
    if (!changes_.empty() && after + 1 < changes_.front().sequence) {
      return absl::OutOfRangeError(absl::StrCat("change feed starts at ", changes_.front().sequence,
                                                "; entries after ", after, " were trimmed"));
    }
    for (const Change& c : changes_) {
      if (c.sequence <= after) continue;
      if (out.size() == limit) break;
      out.push_back(c);
    }
    return out;
  }

  absl::StatusOr<uint64_t> LastSequence() override {
    absl::ReaderMutexLock l(&mu_);
    return sequence_;
  }

  absl::StatusOr<size_t> PurgeExpired() override {
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    size_t n = 0;
    for (auto it = data_.begin(); it != data_.end();) {
      if (it->second.expires <= now) {
        it = data_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

 private:
  static Record ToRecord(const Key& k, const Entry& e, bool keys_only) {
    Record r;
    r.collection = k.first;
    r.key = k.second;
    if (!keys_only) r.value = e.value;
    r.version = e.version;
    r.sequence = e.sequence;
    r.updated = e.updated;
    r.expires = e.expires;
    return r;
  }

  const StoreOptions options_;
  absl::Mutex mu_;
  std::map<Key, Entry> data_ ABSL_GUARDED_BY(mu_);
  std::deque<Change> changes_ ABSL_GUARDED_BY(mu_);
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore(const StoreOptions& options) {
  return std::make_unique<MemoryStore>(options);
}

}  // namespace kos::internal
