// Remembers the decoded form of stored records by id, valid only while the
// stored bytes are unchanged: a lookup presents the bytes just read and gets
// the decoded value back only if they are identical. Every request still
// reads the backend (so a change made by another process is seen at once);
// only the JSON decoding is skipped.
#ifndef KOS_SRC_AUTHN_DECODE_CACHE_H_
#define KOS_SRC_AUTHN_DECODE_CACHE_H_

#include <array>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace kos::internal {

// Thread-safe.
template <typename T>
class DecodeCache {
 public:
  // At most about `capacity` entries; a full shard starts over.
  explicit DecodeCache(size_t capacity)
      : per_shard_(capacity / kShards > 0 ? capacity / kShards : 1) {}

  std::optional<T> Find(absl::string_view id, absl::string_view raw) {
    Shard& s = ShardFor(id);
    absl::MutexLock l(&s.mu);
    auto it = s.map.find(id);
    if (it == s.map.end() || it->second.first != raw) return std::nullopt;
    return it->second.second;
  }

  void Put(absl::string_view id, absl::string_view raw, const T& value) {
    Shard& s = ShardFor(id);
    absl::MutexLock l(&s.mu);
    if (s.map.size() >= per_shard_ && !s.map.contains(id)) s.map.clear();
    s.map.insert_or_assign(std::string(id), std::make_pair(std::string(raw), value));
  }

  void Erase(absl::string_view id) {
    Shard& s = ShardFor(id);
    absl::MutexLock l(&s.mu);
    s.map.erase(id);
  }

 private:
  static constexpr size_t kShards = 8;
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, std::pair<std::string, T>> map ABSL_GUARDED_BY(mu);
  };
  Shard& ShardFor(absl::string_view id) { return shards_[absl::HashOf(id) % kShards]; }

  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace kos::internal

#endif  // KOS_SRC_AUTHN_DECODE_CACHE_H_
