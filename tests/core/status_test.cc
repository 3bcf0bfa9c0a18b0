#include "kos/status.h"

#include "gtest/gtest.h"

namespace kos {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  KOS_ASSIGN_OR_RETURN(int h, Half(x));
  KOS_ASSIGN_OR_RETURN(h, Half(h));
  return h;
}

absl::Status Check(int x) {
  KOS_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(3).status().message(), "odd");
}

TEST(StatusTest, ReturnIfError) {
  EXPECT_TRUE(Check(2).ok());
  EXPECT_EQ(Check(1).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
