// Helpers for libkos tests: temporary directories and test data paths.
#ifndef KOS_TESTS_TESTING_TEST_UTIL_H_
#define KOS_TESTS_TESTING_TEST_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace kos::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Absolute path of tests/data/<relative>.
std::string TestDataPath(const std::string& relative);

// Absolute path of <source tree>/<relative>.
std::string SourcePath(const std::string& relative);

// Reads a whole file; fails the current test if it cannot.
std::string ReadFileOrDie(const std::string& path);

}  // namespace kos::testing

#define KOS_ASSERT_OK(expr)                                       \
  do {                                                            \
    const ::absl::Status kos_s_ = ::kos::testing::ToStatus(expr); \
    ASSERT_TRUE(kos_s_.ok()) << kos_s_;                           \
  } while (0)
#define KOS_EXPECT_OK(expr)                                       \
  do {                                                            \
    const ::absl::Status kos_s_ = ::kos::testing::ToStatus(expr); \
    EXPECT_TRUE(kos_s_.ok()) << kos_s_;                           \
  } while (0)

namespace kos::testing {
inline absl::Status ToStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace kos::testing

#endif  // KOS_TESTS_TESTING_TEST_UTIL_H_
