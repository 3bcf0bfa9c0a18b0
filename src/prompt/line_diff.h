// Unified line diffs for prompt versions.
#ifndef KOS_SRC_PROMPT_LINE_DIFF_H_
#define KOS_SRC_PROMPT_LINE_DIFF_H_

#include <string>

#include "absl/strings/string_view.h"

namespace kos::prompt_internal {

// `diff -u` style output from `a` to `b` with `context` lines around each
// change, headed "--- <a_label>" / "+++ <b_label>". "" when a == b. Lines are
// split on '\n'; a missing final newline is not reported. Inputs whose changed
// middle is too large for an exact LCS (over ~4M line pairs) are shown as one
// replaced block, which is still a correct (if not minimal) diff.
std::string UnifiedDiff(absl::string_view a, absl::string_view b, absl::string_view a_label,
                        absl::string_view b_label, int context = 3);

}  // namespace kos::prompt_internal

#endif  // KOS_SRC_PROMPT_LINE_DIFF_H_
