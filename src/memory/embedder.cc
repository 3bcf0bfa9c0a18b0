#include "kos/embedder.h"

#include <sodium.h>

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "memory/index_impls.h"

namespace kos {

Embedder::~Embedder() = default;

absl::StatusOr<std::unique_ptr<HashingEmbedder>> HashingEmbedder::Open(
    const HashingEmbedderOptions& o) {
  if (o.dimension < 8 || o.dimension > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("hashing embedder dimension must be 8..65536, got ", o.dimension));
  }
  return std::unique_ptr<HashingEmbedder>(new HashingEmbedder(o));
}

std::string HashingEmbedder::model() const {
  return absl::StrCat("kos-hashing-v1-d", options_.dimension, options_.bigrams ? "-bi" : "",
                      options_.seed ? absl::StrCat("-s", options_.seed) : "");
}

namespace {

std::vector<std::string> Tokenize(absl::string_view text) {
  std::vector<std::string> tokens;
  std::string cur;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c >= 0x80) {
      cur.push_back(absl::ascii_tolower(c));
    } else if (!cur.empty()) {
      tokens.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) tokens.push_back(std::move(cur));
  return tokens;
}

}  // namespace

absl::StatusOr<std::vector<std::vector<float>>> HashingEmbedder::Embed(
    const std::vector<std::string>& texts) {
  using memory_internal::Fnv1a64;
  const int d = options_.dimension;
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (size_t t = 0; t < texts.size(); ++t) {
    if (texts[t].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("text ", t, " is empty"));
    }
    std::vector<std::string> tokens = Tokenize(texts[t]);
    // Text with no word characters (e.g. only punctuation) still gets a
    // stable, distinct vector from its raw bytes.
    if (tokens.empty()) tokens.push_back(texts[t]);
    std::vector<float> v(d, 0.0f);
    auto add = [&](absl::string_view feature, float weight) {
      const uint64_t h = Fnv1a64(feature, 0xcbf29ce484222325ULL ^ options_.seed);
      // Murmur-style finalizer so low bits are well mixed before bucketing.
      uint64_t x = h ^ (h >> 33);
      x *= 0xff51afd7ed558ccdULL;
      x ^= x >> 33;
      v[x % d] += (x >> 63) ? -weight : weight;
    };
    for (size_t i = 0; i < tokens.size(); ++i) {
      add(tokens[i], 1.0f);
      if (options_.bigrams && i + 1 < tokens.size()) {
        add(absl::StrCat(tokens[i], " ", tokens[i + 1]), 0.5f);
      }
    }
    double n = 0;
    for (float x : v) n += static_cast<double>(x) * x;
    if (n == 0) {
      // Every feature cancelled out (possible with signed hashing); fall back
      // to one bucket so the vector is never zero.
      v[Fnv1a64(texts[t]) % d] = 1.0f;
      n = 1;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(n));
    for (float& x : v) x *= inv;
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<CachingEmbedder>> CachingEmbedder::Open(
    const CachingEmbedderOptions& o) {
  if (o.base == nullptr) return absl::InvalidArgumentError("CachingEmbedder needs a base embedder");
  if (o.capacity == 0) return absl::InvalidArgumentError("cache capacity must be >= 1");
  return std::unique_ptr<CachingEmbedder>(new CachingEmbedder(o));
}

std::string CachingEmbedder::Key(absl::string_view text) const {
  // BLAKE2b-128 of (model, NUL, text): fixed-size keys, no text kept in memory twice.
  const std::string m = options_.base->model();
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 16);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(m.data()), m.size());
  const unsigned char zero = 0;
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  std::string key(16, '\0');
  crypto_generichash_final(&st, reinterpret_cast<unsigned char*>(key.data()), 16);
  return key;
}

absl::StatusOr<std::vector<std::vector<float>>> CachingEmbedder::Embed(
    const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out(texts.size());
  std::vector<std::string> keys(texts.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) return absl::InvalidArgumentError(absl::StrCat("text ", i, " is empty"));
    keys[i] = Key(texts[i]);
  }
  {
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < texts.size(); ++i) {
      auto it = map_.find(keys[i]);
      if (it == map_.end()) {
        missing.push_back(i);
        ++misses_;
        continue;
      }
      lru_.splice(lru_.begin(), lru_, it->second);
      out[i] = it->second->second;
      ++hits_;
    }
  }
  if (missing.empty()) return out;
  std::vector<std::string> batch;
  batch.reserve(missing.size());
  for (size_t i : missing) batch.push_back(texts[i]);
  auto got = options_.base->Embed(batch);
  if (!got.ok()) return got.status();
  if (got->size() != batch.size()) {
    return absl::InternalError("embedder returned a different number of vectors");
  }
  absl::MutexLock l(&mu_);
  for (size_t j = 0; j < missing.size(); ++j) {
    const size_t i = missing[j];
    out[i] = (*got)[j];
    if (map_.contains(keys[i])) continue;
    lru_.emplace_front(keys[i], std::move((*got)[j]));
    map_[keys[i]] = lru_.begin();
    while (lru_.size() > options_.capacity) {
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return out;
}

size_t CachingEmbedder::hits() const {
  absl::MutexLock l(&mu_);
  return hits_;
}
size_t CachingEmbedder::misses() const {
  absl::MutexLock l(&mu_);
  return misses_;
}

}  // namespace kos
