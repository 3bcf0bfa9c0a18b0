// Compiled metadata filters (the language is documented in kos/memory.h).
#ifndef KOS_SRC_MEMORY_FILTER_H_
#define KOS_SRC_MEMORY_FILTER_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "kos/json.h"

namespace kos::memory_internal {

class Filter {
 public:
  // Parses and checks `spec`. INVALID_ARGUMENT names the offending location.
  static absl::StatusOr<Filter> Compile(const Json& spec);

  bool Matches(const Json& metadata) const;

  // Top-level field names compared (not under $exists), for unknown-field checks.
  std::vector<std::string> CheckedFields() const;

  // The parsed tree, for the payload index (which evaluates it over sets of
  // labels instead of one record's metadata at a time).
  enum class Op { kAnd, kOr, kNot, kEq, kNe, kGt, kGte, kLt, kLte, kIn, kNin, kExists };
  struct Node {
    Op op;
    std::vector<std::string> path;
    Json value;
    std::vector<Node> children;
  };
  const Node& root() const { return root_; }

 private:
  static absl::StatusOr<Node> ParseExpr(const Json& spec, const std::string& where, int depth);
  static absl::StatusOr<Node> ParseField(const std::string& field, const Json& cond,
                                         const std::string& where);
  static bool Eval(const Node& n, const Json& meta);
  static void Collect(const Node& n, std::vector<std::string>* out);

  Node root_;
};

}  // namespace kos::memory_internal

#endif  // KOS_SRC_MEMORY_FILTER_H_
