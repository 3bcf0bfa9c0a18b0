#include "prompt/line_diff.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kos::prompt_internal {
namespace {

// Bounds the O(n*m) table so a hostile pair of large templates cannot
// exhaust memory (4M cells of uint32 = 16 MiB).
constexpr size_t kMaxLcsCells = size_t{4} << 20;

struct Op {
  char kind;  // ' ', '-', '+'
  absl::string_view line;
};

std::vector<absl::string_view> Lines(absl::string_view s) {
  if (s.empty()) return {};
  if (s.back() == '\n') s.remove_suffix(1);
  return absl::StrSplit(s, '\n');
}

// Edit script for a[lo_a, hi_a) -> b[lo_b, hi_b) (the differing middle).
void Middle(const std::vector<absl::string_view>& a, size_t lo_a, size_t hi_a,
            const std::vector<absl::string_view>& b, size_t lo_b, size_t hi_b,
            std::vector<Op>* ops) {
  const size_t n = hi_a - lo_a, m = hi_b - lo_b;
  if (n == 0 || m == 0 || n * m > kMaxLcsCells) {
    for (size_t i = lo_a; i < hi_a; ++i) ops->push_back({'-', a[i]});
    for (size_t j = lo_b; j < hi_b; ++j) ops->push_back({'+', b[j]});
    return;
  }
  // lcs[i][j]: LCS length of a[lo_a+i..] and b[lo_b+j..].
  std::vector<uint32_t> lcs((n + 1) * (m + 1), 0);
  auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (m + 1) + j]; };
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      at(i, j) =
          a[lo_a + i] == b[lo_b + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    }
  }
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[lo_a + i] == b[lo_b + j]) {
      ops->push_back({' ', a[lo_a + i]});
      ++i;
      ++j;
    } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
      ops->push_back({'-', a[lo_a + i]});
      ++i;
    } else {
      ops->push_back({'+', b[lo_b + j]});
      ++j;
    }
  }
}

std::string Range(size_t start, size_t count) {
  // diff -u: an empty range names the line before it.
  if (count == 0) return absl::StrCat(start == 0 ? 0 : start - 1, ",0");
  if (count == 1) return absl::StrCat(start);
  return absl::StrCat(start, ",", count);
}

}  // namespace

std::string UnifiedDiff(absl::string_view a_text, absl::string_view b_text,
                        absl::string_view a_label, absl::string_view b_label, int context) {
  if (a_text == b_text) return "";
  const std::vector<absl::string_view> a = Lines(a_text), b = Lines(b_text);
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
    ++suffix;
  }
  std::vector<Op> ops;
  ops.reserve(a.size() + b.size());
  for (size_t i = 0; i < prefix; ++i) ops.push_back({' ', a[i]});
  Middle(a, prefix, a.size() - suffix, b, prefix, b.size() - suffix, &ops);
  for (size_t i = a.size() - suffix; i < a.size(); ++i) ops.push_back({' ', a[i]});

  std::string out = absl::StrCat("--- ", a_label, "\n+++ ", b_label, "\n");
  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  size_t k = 0;
  // Line numbers (1-based) of ops[k] in a and b.
  size_t line_a = 1, line_b = 1;
  std::vector<size_t> pos_a(ops.size()), pos_b(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    pos_a[i] = line_a;
    pos_b[i] = line_b;
    if (ops[i].kind != '+') ++line_a;
    if (ops[i].kind != '-') ++line_b;
  }
  while (k < ops.size()) {
    while (k < ops.size() && ops[k].kind == ' ') ++k;
    if (k == ops.size()) break;
    size_t begin = k > ctx ? k - ctx : 0;
    // Extend the hunk while the next change is within 2*context lines.
    size_t end = k;
    while (true) {
      while (end < ops.size() && ops[end].kind != ' ') ++end;
      size_t next = end;
      while (next < ops.size() && ops[next].kind == ' ') ++next;
      if (next < ops.size() && next - end <= 2 * ctx) {
        end = next;
        continue;
      }
      end = std::min(ops.size(), end + ctx);
      break;
    }
    size_t count_a = 0, count_b = 0;
    for (size_t i = begin; i < end; ++i) {
      if (ops[i].kind != '+') ++count_a;
      if (ops[i].kind != '-') ++count_b;
    }
    absl::StrAppend(&out, "@@ -", Range(pos_a[begin], count_a), " +", Range(pos_b[begin], count_b),
                    " @@\n");
    for (size_t i = begin; i < end; ++i) {
      out.push_back(ops[i].kind);
      out.append(ops[i].line.data(), ops[i].line.size());
      out.push_back('\n');
    }
    k = end;
  }
  return out;
}

}  // namespace kos::prompt_internal
