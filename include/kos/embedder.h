// Embedders turn text into vectors. HashingEmbedder is built in and
// deterministic (feature hashing), so memory works offline and in tests;
// CachingEmbedder memoizes any embedder keyed by a hash of (model, text).
#ifndef KOS_EMBEDDER_H_
#define KOS_EMBEDDER_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kos/export.h"

namespace kos {

// Abstract embedder. Implementations must be thread-safe.
class KOS_EXPORT Embedder {
 public:
  virtual ~Embedder();
  // One vector of dimension() floats per text, in order. INVALID_ARGUMENT for
  // an empty text (nothing is embedded then).
  virtual absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) = 0;
  virtual int dimension() const = 0;
  // Identifies the model; part of cache keys, so two models never share entries.
  virtual std::string model() const = 0;
};

struct HashingEmbedderOptions {
  // Output dimension (8..65536). Default 384.
  int dimension = 384;
  // Also hash adjacent-word bigrams (adds some word-order sensitivity). Default true.
  bool bigrams = true;
  // Mixed into every hash; different seeds give unrelated embeddings. Default 0.
  uint64_t seed = 0;
};

// Feature-hashing embedder: lowercased ASCII-alphanumeric (and any non-ASCII
// UTF-8) word tokens and, optionally, bigrams are hashed into dimension()
// buckets with a hash-derived sign, then L2-normalized. Same text, same vector,
// on every machine. Thread-safe (stateless).
class KOS_EXPORT HashingEmbedder : public Embedder {
 public:
  static absl::StatusOr<std::unique_ptr<HashingEmbedder>> Open(
      const HashingEmbedderOptions& options);
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;
  int dimension() const override { return options_.dimension; }
  std::string model() const override;

 private:
  explicit HashingEmbedder(const HashingEmbedderOptions& o) : options_(o) {}
  HashingEmbedderOptions options_;
};

struct CachingEmbedderOptions {
  // The embedder to memoize. Not owned; must outlive the cache. Required.
  Embedder* base = nullptr;
  // Most entries kept (least recently used evicted). Default 10000.
  size_t capacity = 10000;
};

// Memoizes `base`: only texts missing from the cache are sent to it, in one
// batch. Thread-safe.
class KOS_EXPORT CachingEmbedder : public Embedder {
 public:
  static absl::StatusOr<std::unique_ptr<CachingEmbedder>> Open(
      const CachingEmbedderOptions& options);
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;
  int dimension() const override { return options_.base->dimension(); }
  std::string model() const override { return options_.base->model(); }

  size_t hits() const;
  size_t misses() const;

 private:
  explicit CachingEmbedder(const CachingEmbedderOptions& o) : options_(o) {}
  std::string Key(absl::string_view text) const;

  CachingEmbedderOptions options_;
  mutable absl::Mutex mu_;
  // Most recently used at the front.
  std::list<std::pair<std::string, std::vector<float>>> lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::list<std::pair<std::string, std::vector<float>>>::iterator>
      map_ ABSL_GUARDED_BY(mu_);
  size_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  size_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

struct OpenAIEmbedderOptions {
  // Server root, e.g. "https://api.openai.com" or "http://127.0.0.1:8080";
  // requests go to <base_url>/v1/embeddings (or <base_url>/embeddings when
  // base_url already ends in "/v1"). Required.
  std::string base_url;
  // Model name sent in every request, e.g. "text-embedding-3-small". Required.
  std::string model;
  // Bearer token (fetch it from the Vault). Optional; never appears in errors.
  std::string api_key;
  // Expected vector length; responses of another length are refused. Required.
  int dimension = 0;
  // Most texts per HTTP request; larger calls are split. Default 64.
  size_t max_batch = 64;
  // Connect + read timeout per request. Default 30 s.
  absl::Duration timeout = absl::Seconds(30);
};

// Client for OpenAI-compatible POST /v1/embeddings servers. Errors map HTTP
// status to codes (401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 429
// RESOURCE_EXHAUSTED, other 4xx INVALID_ARGUMENT, 5xx and transport
// UNAVAILABLE, malformed replies INTERNAL). Thread-safe (one connection per call).
class KOS_EXPORT OpenAIEmbedder : public Embedder {
 public:
  static absl::StatusOr<std::unique_ptr<OpenAIEmbedder>> Open(const OpenAIEmbedderOptions& options);
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;
  int dimension() const override { return options_.dimension; }
  std::string model() const override { return options_.model; }

 private:
  explicit OpenAIEmbedder(const OpenAIEmbedderOptions& o) : options_(o) {}
  absl::StatusOr<std::vector<std::vector<float>>> EmbedOne(
      const std::vector<std::string>& texts) const;
  OpenAIEmbedderOptions options_;
};

}  // namespace kos

#endif  // KOS_EMBEDDER_H_
