// Private factories for the VectorIndex implementations, plus the small
// file-framing helpers they share for Save/Load.
#ifndef KOS_SRC_MEMORY_INDEX_IMPLS_H_
#define KOS_SRC_MEMORY_INDEX_IMPLS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/vector_index.h"

namespace kos::memory_internal {

std::unique_ptr<VectorIndex> NewHnswlibIndex(const VectorIndexOptions& options);
std::unique_ptr<VectorIndex> NewFaissIndex(const VectorIndexOptions& options);
std::unique_ptr<VectorIndex> NewFaissIvfIndex(const VectorIndexOptions& options);

// 64-bit FNV-1a; stable across processes (unlike absl::Hash), used for file
// checksums and feature hashing.
uint64_t Fnv1a64(absl::string_view data, uint64_t seed = 0xcbf29ce484222325ULL);

// Writes `payload` framed as magic | length | payload | checksum to `path`
// via a temporary file and rename, so a crash never leaves a torn file.
absl::Status WriteFramedFile(const std::string& path, absl::string_view magic,
                             absl::string_view payload);
// Reads a file written by WriteFramedFile; DATA_LOSS on any mismatch.
absl::StatusOr<std::string> ReadFramedFile(const std::string& path, absl::string_view magic);

// Appends/reads little-endian PODs for the framed payloads.
template <typename T>
void PutPod(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
template <typename T>
bool GetPod(absl::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

// The options fields that must match between Save and Load.
void PutOptions(std::string* out, const VectorIndexOptions& o);
absl::Status CheckOptions(absl::string_view* in, const VectorIndexOptions& o);

}  // namespace kos::memory_internal

#endif  // KOS_SRC_MEMORY_INDEX_IMPLS_H_
