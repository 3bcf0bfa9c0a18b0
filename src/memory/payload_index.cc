#include "memory/payload_index.h"

#include <algorithm>
#include <limits>

namespace kos::memory_internal {
namespace {

constexpr int64_t kMinLabel = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxLabel = std::numeric_limits<int64_t>::max();

void AppendSegment(std::string* key, const std::string& seg) {
  const uint32_t n = static_cast<uint32_t>(seg.size());
  key->append(reinterpret_cast<const char*>(&n), sizeof(n));
  key->append(seg);
}

template <typename Set>
void SetAll(const Set& s, LabelBitmap* out) {
  for (int64_t label : s) out->Set(label);
}

template <typename It>
void SetRange(It begin, It end, LabelBitmap* out) {
  for (It it = begin; it != end; ++it) out->Set(it->second);
}

}  // namespace

std::string PayloadPathKey(const std::vector<std::string>& path) {
  std::string key;
  for (const auto& p : path) AppendSegment(&key, p);
  return key;
}

size_t LabelBitmap::Count() const {
  size_t n = 0;
  for (uint64_t w : words_) n += __builtin_popcountll(w);
  return n;
}

void LabelBitmap::Grow(size_t universe) {
  if (universe <= universe_) return;
  universe_ = universe;
  words_.resize((universe + 63) / 64, 0);
}

void LabelBitmap::And(const LabelBitmap& o) {
  Grow(o.universe_);
  for (size_t i = 0; i < words_.size(); ++i) words_[i] &= i < o.words_.size() ? o.words_[i] : 0;
}

void LabelBitmap::Or(const LabelBitmap& o) {
  Grow(o.universe_);
  for (size_t i = 0; i < o.words_.size(); ++i) words_[i] |= o.words_[i];
}

void LabelBitmap::AndNot(const LabelBitmap& o) {
  Grow(o.universe_);
  for (size_t i = 0; i < o.words_.size(); ++i) words_[i] &= ~o.words_[i];
}

void PayloadIndex::Walk(int64_t label, const Json& obj, std::string* prefix, bool add) {
  const size_t base = prefix->size();
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    AppendSegment(prefix, it.key());
    Field& f = fields_[*prefix];
    const Json& v = *it;
    auto apply = [&](auto& set, auto&& elem) {
      if (add) {
        set.insert(elem);
      } else {
        set.erase(elem);
      }
    };
    apply(f.present, label);
    if (v.is_number()) {
      apply(f.nums, std::make_pair(v.get<double>(), label));
    } else if (v.is_string()) {
      apply(f.strs, std::make_pair(v.get<std::string>(), label));
    } else if (v.is_boolean()) {
      apply(v.get<bool>() ? f.trues : f.falses, label);
    } else if (v.is_null()) {
      apply(f.nulls, label);
    }
    // Recursing may insert into fields_ and so invalidate `f`.
    if (v.is_object()) Walk(label, v, prefix, add);
    if (!add) {
      auto again = fields_.find(*prefix);
      if (again != fields_.end() && again->second.present.empty()) fields_.erase(again);
    }
    prefix->resize(base);
  }
}

void PayloadIndex::Add(int64_t label, const Json& metadata) {
  std::string prefix;
  if (metadata.is_object()) Walk(label, metadata, &prefix, true);
  if (!live_.Test(label)) ++live_count_;
  live_.Set(label);
}

void PayloadIndex::Remove(int64_t label, const Json& metadata) {
  std::string prefix;
  if (metadata.is_object()) Walk(label, metadata, &prefix, false);
  if (live_.Test(label)) --live_count_;
  live_.Clear(label);
}

bool PayloadIndex::HasTopLevelField(const std::string& field) const {
  return Find(PayloadPathKey({field})) != nullptr;
}

const PayloadIndex::Field* PayloadIndex::Find(const std::string& key) const {
  auto it = fields_.find(key);
  return it == fields_.end() ? nullptr : &it->second;
}

std::optional<LabelBitmap> PayloadIndex::Evaluate(const Filter& filter) const {
  auto r = Eval(filter.root());
  if (r.has_value()) r->And(live_);
  return r;
}

std::optional<LabelBitmap> PayloadIndex::Equal(const std::string& key, const Json& v) const {
  if (v.is_array() || v.is_object()) return std::nullopt;
  LabelBitmap out = Empty();
  const Field* f = Find(key);
  if (f == nullptr) return out;
  if (v.is_number()) {
    const double x = v.get<double>();
    SetRange(f->nums.lower_bound({x, kMinLabel}), f->nums.upper_bound({x, kMaxLabel}), &out);
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    SetRange(f->strs.lower_bound({s, kMinLabel}), f->strs.upper_bound({s, kMaxLabel}), &out);
  } else if (v.is_boolean()) {
    SetAll(v.get<bool>() ? f->trues : f->falses, &out);
  } else if (v.is_null()) {
    SetAll(f->nulls, &out);
  }
  return out;
}

LabelBitmap PayloadIndex::Range(const std::string& key, Filter::Op op, const Json& v) const {
  LabelBitmap out = Empty();
  const Field* f = Find(key);
  if (f == nullptr) return out;
  // Mirrors Filter::Eval: ordering compares numbers with numbers and strings
  // with strings only.
  auto run = [&](const auto& set, const auto& x) {
    using Label = int64_t;
    auto lo = set.begin();
    auto hi = set.end();
    switch (op) {
      case Filter::Op::kGt:
        lo = set.upper_bound({x, Label{kMaxLabel}});
        break;
      case Filter::Op::kGte:
        lo = set.lower_bound({x, Label{kMinLabel}});
        break;
      case Filter::Op::kLt:
        hi = set.lower_bound({x, Label{kMinLabel}});
        break;
      case Filter::Op::kLte:
        hi = set.upper_bound({x, Label{kMaxLabel}});
        break;
      default:
        return;
    }
    SetRange(lo, hi, &out);
  };
  if (v.is_number()) {
    run(f->nums, v.get<double>());
  } else if (v.is_string()) {
    run(f->strs, v.get<std::string>());
  }
  return out;
}

std::optional<LabelBitmap> PayloadIndex::Eval(const Filter::Node& n) const {
  using Op = Filter::Op;
  switch (n.op) {
    case Op::kAnd: {
      std::optional<LabelBitmap> acc;
      for (const auto& c : n.children) {
        auto b = Eval(c);
        if (!b.has_value()) return std::nullopt;
        if (!acc.has_value()) {
          acc = std::move(b);
        } else {
          acc->And(*b);
        }
      }
      if (!acc.has_value()) return live_;  // empty $and: everything
      return acc;
    }
    case Op::kOr: {
      LabelBitmap acc = Empty();
      for (const auto& c : n.children) {
        auto b = Eval(c);
        if (!b.has_value()) return std::nullopt;
        acc.Or(*b);
      }
      return acc;
    }
    case Op::kNot: {
      auto b = Eval(n.children[0]);
      if (!b.has_value()) return std::nullopt;
      LabelBitmap out = live_;
      out.AndNot(*b);
      return out;
    }
    default:
      break;
  }
  const std::string key = PayloadPathKey(n.path);
  switch (n.op) {
    case Op::kEq:
      return Equal(key, n.value);
    case Op::kNe: {
      auto eq = Equal(key, n.value);
      if (!eq.has_value()) return std::nullopt;
      LabelBitmap out = live_;
      out.AndNot(*eq);
      return out;
    }
    case Op::kGt:
    case Op::kGte:
    case Op::kLt:
    case Op::kLte:
      return Range(key, n.op, n.value);
    case Op::kIn:
    case Op::kNin: {
      LabelBitmap in = Empty();
      for (const auto& x : n.value) {
        auto eq = Equal(key, x);
        if (!eq.has_value()) return std::nullopt;
        in.Or(*eq);
      }
      if (n.op == Op::kIn) return in;
      LabelBitmap out = live_;
      out.AndNot(in);
      return out;
    }
    case Op::kExists: {
      LabelBitmap present = Empty();
      if (const Field* f = Find(key)) SetAll(f->present, &present);
      if (n.value.get<bool>()) return present;
      LabelBitmap out = live_;
      out.AndNot(present);
      return out;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace kos::memory_internal
