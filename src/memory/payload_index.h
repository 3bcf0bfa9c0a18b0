// Payload index: per-namespace inverted index of record metadata, so a filter
// is answered as an exact set of labels (a bitmap) before the vector search
// instead of by parsing each visited record's JSON during the graph walk.
#ifndef KOS_SRC_MEMORY_PAYLOAD_INDEX_H_
#define KOS_SRC_MEMORY_PAYLOAD_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "kos/json.h"
#include "memory/filter.h"

namespace kos::memory_internal {

// A dense set of labels. Not thread-safe.
class LabelBitmap {
 public:
  LabelBitmap() = default;
  explicit LabelBitmap(size_t universe) : words_((universe + 63) / 64, 0), universe_(universe) {}

  void Set(int64_t label) {
    Grow(static_cast<size_t>(label) + 1);
    words_[label >> 6] |= uint64_t{1} << (label & 63);
  }
  void Clear(int64_t label) {
    if (static_cast<size_t>(label) < universe_)
      words_[label >> 6] &= ~(uint64_t{1} << (label & 63));
  }
  bool Test(int64_t label) const {
    return static_cast<size_t>(label) < universe_ &&
           ((words_[label >> 6] >> (label & 63)) & 1) != 0;
  }
  size_t Count() const;
  size_t universe() const { return universe_; }
  // this &= o / this |= o / this &= ~o; the universe becomes the larger one.
  void And(const LabelBitmap& o);
  void Or(const LabelBitmap& o);
  void AndNot(const LabelBitmap& o);
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t w = 0; w < words_.size(); ++w) {
      uint64_t bits = words_[w];
      while (bits != 0) {
        f(static_cast<int64_t>(w * 64 + __builtin_ctzll(bits)));
        bits &= bits - 1;
      }
    }
  }

 private:
  void Grow(size_t universe);
  std::vector<uint64_t> words_;
  size_t universe_ = 0;
};

// Not thread-safe; the owning namespace's mutex guards it.
class PayloadIndex {
 public:
  // Indexes every scalar reachable through nested objects (arrays are indexed
  // for presence only: filters compare them as whole values).
  void Add(int64_t label, const Json& metadata);
  // `metadata` must be what was passed to Add for `label`.
  void Remove(int64_t label, const Json& metadata);

  // Whether any live record has the top-level field.
  bool HasTopLevelField(const std::string& field) const;

  // The exact set of indexed labels matching `filter`, or nullopt when the
  // filter compares against an array or object value (the caller then
  // evaluates it record by record).
  std::optional<LabelBitmap> Evaluate(const Filter& filter) const;

  // Labels currently indexed.
  const LabelBitmap& live() const { return live_; }
  size_t live_count() const { return live_count_; }

 private:
  struct Field {
    absl::btree_set<std::pair<double, int64_t>> nums;
    absl::btree_set<std::pair<std::string, int64_t>> strs;
    absl::btree_set<int64_t> trues, falses, nulls;
    absl::btree_set<int64_t> present;  // any value, arrays and objects included
  };

  void Walk(int64_t label, const Json& obj, std::string* prefix, bool add);
  std::optional<LabelBitmap> Eval(const Filter::Node& n) const;
  // Labels whose value at `key` equals the scalar `v`; nullopt for non-scalars.
  std::optional<LabelBitmap> Equal(const std::string& key, const Json& v) const;
  LabelBitmap Range(const std::string& key, Filter::Op op, const Json& v) const;
  const Field* Find(const std::string& key) const;
  LabelBitmap Empty() const { return LabelBitmap(live_.universe()); }

  // Keyed by the path encoded as length-prefixed segments (unambiguous even
  // when keys contain separators).
  absl::flat_hash_map<std::string, Field> fields_;
  LabelBitmap live_;
  size_t live_count_ = 0;
};

// Encodes a path as the PayloadIndex key.
std::string PayloadPathKey(const std::vector<std::string>& path);

}  // namespace kos::memory_internal

#endif  // KOS_SRC_MEMORY_PAYLOAD_INDEX_H_
