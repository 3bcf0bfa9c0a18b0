#include "prompt/line_diff.h"

#include <string>

#include "gtest/gtest.h"

namespace kos::prompt_internal {
namespace {

TEST(LineDiffTest, IdenticalIsEmpty) { EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "x", "y"), ""); }

TEST(LineDiffTest, OneChangedLineWithContext) {
  std::string a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  std::string b = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n";
  EXPECT_EQ(UnifiedDiff(a, b, "t@1", "t@2"),
            "--- t@1\n+++ t@2\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n");
}

TEST(LineDiffTest, InsertDeleteAndSeparateHunks) {
  std::string a = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n";
  std::string b = "a\nX\nb\nc\nd\ne\nf\ng\nh\ni\nj\nl\n";
  EXPECT_EQ(UnifiedDiff(a, b, "a", "b", 1),
            "--- a\n+++ b\n@@ -1,2 +1,3 @@\n a\n+X\n b\n@@ -10,3 +11,2 @@\n j\n-k\n l\n");
}

TEST(LineDiffTest, FromAndToEmpty) {
  EXPECT_EQ(UnifiedDiff("", "x\ny\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  EXPECT_EQ(UnifiedDiff("x\n", "", "a", "b"), "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n");
}

TEST(LineDiffTest, MatchesPythonDifflibOnAMixedEdit) {
  // Expected output produced by Python's difflib.unified_diff(n=3).
  std::string a = "You are a helper.\nBe brief.\nUser: {{q}}\nAnswer:\n";
  std::string b = "You are a careful helper.\nBe brief.\nContext: {{ctx}}\nUser: {{q}}\nAnswer:\n";
  EXPECT_EQ(UnifiedDiff(a, b, "p@1", "p@2"),
            "--- p@1\n+++ p@2\n@@ -1,4 +1,5 @@\n-You are a helper.\n+You are a careful helper.\n"
            " Be brief.\n+Context: {{ctx}}\n User: {{q}}\n Answer:\n");
}

}  // namespace
}  // namespace kos::prompt_internal
