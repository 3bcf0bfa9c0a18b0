#include "memory/filter.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kos/status.h"

namespace kos::memory_internal {
namespace {

constexpr int kMaxDepth = 32;

const Json* Resolve(const Json& meta, const std::vector<std::string>& path) {
  const Json* cur = &meta;
  for (const auto& p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

bool Comparable(const Json& a, const Json& b) {
  return (a.is_number() && b.is_number()) || (a.is_string() && b.is_string());
}

}  // namespace

absl::StatusOr<Filter> Filter::Compile(const Json& spec) {
  Filter f;
  KOS_ASSIGN_OR_RETURN(f.root_, ParseExpr(spec, "filter", 0));
  return f;
}

absl::StatusOr<Filter::Node> Filter::ParseExpr(const Json& spec, const std::string& where,
                                               int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": nested deeper than ", kMaxDepth));
  }
  if (!spec.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected an object, got ", JsonTypeName(spec)));
  }
  Node all{Op::kAnd, {}, nullptr, {}};
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    const std::string& key = it.key();
    const std::string here = absl::StrCat(where, ".", key);
    if (key == "$and" || key == "$or") {
      if (!it->is_array() || it->empty()) {
        return absl::InvalidArgumentError(absl::StrCat(here, ": expected a non-empty array"));
      }
      Node n{key == "$and" ? Op::kAnd : Op::kOr, {}, nullptr, {}};
      for (size_t i = 0; i < it->size(); ++i) {
        KOS_ASSIGN_OR_RETURN(Node c,
                             ParseExpr((*it)[i], absl::StrCat(here, "[", i, "]"), depth + 1));
        n.children.push_back(std::move(c));
      }
      all.children.push_back(std::move(n));
    } else if (key == "$not") {
      KOS_ASSIGN_OR_RETURN(Node c, ParseExpr(*it, here, depth + 1));
      Node n{Op::kNot, {}, nullptr, {}};
      n.children.push_back(std::move(c));
      all.children.push_back(std::move(n));
    } else if (!key.empty() && key[0] == '$') {
      return absl::InvalidArgumentError(absl::StrCat(here, ": unknown operator"));
    } else {
      KOS_ASSIGN_OR_RETURN(Node n, ParseField(key, *it, here));
      all.children.push_back(std::move(n));
    }
  }
  if (all.children.size() == 1) return std::move(all.children[0]);
  return all;
}

absl::StatusOr<Filter::Node> Filter::ParseField(const std::string& field, const Json& cond,
                                                const std::string& where) {
  std::vector<std::string> path = absl::StrSplit(field, '.');
  for (const auto& p : path) {
    if (p.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty path segment"));
  }
  const bool is_ops = cond.is_object() && !cond.empty() && cond.begin().key().size() > 0 &&
                      cond.begin().key()[0] == '$';
  if (!is_ops) {
    if (cond.is_object() || cond.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": equality needs a scalar; use {\"$in\": [...]} or operators"));
    }
    return Node{Op::kEq, path, cond, {}};
  }
  Node all{Op::kAnd, {}, nullptr, {}};
  for (auto it = cond.begin(); it != cond.end(); ++it) {
    const std::string& op = it.key();
    const std::string here = absl::StrCat(where, ".", op);
    Op o;
    if (op == "$eq")
      o = Op::kEq;
    else if (op == "$ne")
      o = Op::kNe;
    else if (op == "$gt")
      o = Op::kGt;
    else if (op == "$gte")
      o = Op::kGte;
    else if (op == "$lt")
      o = Op::kLt;
    else if (op == "$lte")
      o = Op::kLte;
    else if (op == "$in")
      o = Op::kIn;
    else if (op == "$nin")
      o = Op::kNin;
    else if (op == "$exists")
      o = Op::kExists;
    else
      return absl::InvalidArgumentError(absl::StrCat(here, ": unknown operator"));
    switch (o) {
      case Op::kGt:
      case Op::kGte:
      case Op::kLt:
      case Op::kLte:
        if (!it->is_number() && !it->is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(here, ": expected a number or string, got ", JsonTypeName(*it)));
        }
        break;
      case Op::kIn:
      case Op::kNin:
        if (!it->is_array()) {
          return absl::InvalidArgumentError(
              absl::StrCat(here, ": expected an array, got ", JsonTypeName(*it)));
        }
        break;
      case Op::kExists:
        if (!it->is_boolean()) {
          return absl::InvalidArgumentError(
              absl::StrCat(here, ": expected a boolean, got ", JsonTypeName(*it)));
        }
        break;
      default:
        if (it->is_object()) {
          return absl::InvalidArgumentError(absl::StrCat(here, ": expected a scalar or array"));
        }
    }
    all.children.push_back(Node{o, path, *it, {}});
  }
  if (all.children.size() == 1) return std::move(all.children[0]);
  return all;
}

bool Filter::Matches(const Json& metadata) const { return Eval(root_, metadata); }

bool Filter::Eval(const Node& n, const Json& meta) {
  switch (n.op) {
    case Op::kAnd:
      for (const auto& c : n.children) {
        if (!Eval(c, meta)) return false;
      }
      return true;
    case Op::kOr:
      for (const auto& c : n.children) {
        if (Eval(c, meta)) return true;
      }
      return false;
    case Op::kNot:
      return !Eval(n.children[0], meta);
    default:
      break;
  }
  const Json* v = Resolve(meta, n.path);
  switch (n.op) {
    case Op::kExists:
      return (v != nullptr) == n.value.get<bool>();
    case Op::kEq:
      return v != nullptr && *v == n.value;
    case Op::kNe:
      return v == nullptr || *v != n.value;
    case Op::kGt:
      return v && Comparable(*v, n.value) && *v > n.value;
    case Op::kGte:
      return v && Comparable(*v, n.value) && *v >= n.value;
    case Op::kLt:
      return v && Comparable(*v, n.value) && *v < n.value;
    case Op::kLte:
      return v && Comparable(*v, n.value) && *v <= n.value;
    case Op::kIn:
    case Op::kNin: {
      bool found = false;
      if (v != nullptr) {
        for (const auto& x : n.value) {
          if (*v == x) {
            found = true;
            break;
          }
        }
      }
      return n.op == Op::kIn ? found : !found;
    }
    default:
      return false;
  }
}

void Filter::Collect(const Node& n, std::vector<std::string>* out) {
  if (n.op == Op::kAnd || n.op == Op::kOr || n.op == Op::kNot) {
    for (const auto& c : n.children) Collect(c, out);
  } else if (n.op != Op::kExists && !n.path.empty()) {
    out->push_back(n.path[0]);
  }
}

std::vector<std::string> Filter::CheckedFields() const {
  std::vector<std::string> out;
  Collect(root_, &out);
  return out;
}

}  // namespace kos::memory_internal
