// Loading Wycheproof JSON vectors (tests/data/wycheproof) for the crypto tests.
#ifndef KOS_TESTS_CRYPTO_WYCHEPROOF_UTIL_H_
#define KOS_TESTS_CRYPTO_WYCHEPROOF_UTIL_H_

#include <iostream>
#include <map>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/json.h"
#include "testing/test_util.h"

namespace kos::testing {

inline Json LoadWycheproof(const std::string& file) {
  auto j = ParseJson(ReadFileOrDie(TestDataPath("wycheproof/" + file)));
  EXPECT_TRUE(j.ok()) << file << ": " << j.status();
  return j.ok() ? *j : Json::object();
}

inline std::string Hex(const Json& test, const char* field) {
  return absl::HexStringToBytes(test.at(field).get<std::string>());
}

// Counts vectors run and skipped (with the reason) and prints one line per
// file, so a silently shrinking vector set shows up in the test log.
class VectorTally {
 public:
  explicit VectorTally(std::string file) : file_(std::move(file)) {}
  ~VectorTally() {
    std::string line =
        absl::StrCat(file_, ": ", run_, " run (", valid_, " valid, ", invalid_, " invalid, ",
                     acceptable_, " acceptable), ", skipped_total_, " skipped");
    for (const auto& [reason, n] : skipped_) absl::StrAppend(&line, "; ", n, " skipped: ", reason);
    std::cout << "[wycheproof] " << line << std::endl;
    ::testing::Test::RecordProperty(file_, line);
  }
  void Ran(const std::string& result) {
    ++run_;
    if (result == "valid")
      ++valid_;
    else if (result == "invalid")
      ++invalid_;
    else
      ++acceptable_;
  }
  void Skip(const std::string& reason) {
    ++skipped_[reason];
    ++skipped_total_;
  }
  int run() const { return run_; }

 private:
  std::string file_;
  int run_ = 0, valid_ = 0, invalid_ = 0, acceptable_ = 0, skipped_total_ = 0;
  std::map<std::string, int> skipped_;
};

}  // namespace kos::testing

#endif  // KOS_TESTS_CRYPTO_WYCHEPROOF_UTIL_H_
