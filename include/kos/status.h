// Status helpers shared by every libkos component.
//
// libkos reports every failure as absl::Status. Codes follow gRPC meanings:
// NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION (compare-and-set conflicts),
// PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED (rate limits, quotas),
// INVALID_ARGUMENT (bad input), DEADLINE_EXCEEDED, UNAVAILABLE, DATA_LOSS
// (corruption detected).
#ifndef KOS_STATUS_H_
#define KOS_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KOS_STATUS_CONCAT_INNER_(a, b) a##b
#define KOS_STATUS_CONCAT_(a, b) KOS_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (an absl::Status) is not OK.
#define KOS_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status kos_status_ = (expr);       \
    if (!kos_status_.ok()) return kos_status_; \
  } while (0)

// KOS_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>);
// on error returns its status, otherwise moves the value into `lhs`, which may
// be a declaration (`auto x`) or an existing variable.
#define KOS_ASSIGN_OR_RETURN(lhs, expr) \
  KOS_ASSIGN_OR_RETURN_IMPL_(KOS_STATUS_CONCAT_(kos_statusor_, __LINE__), lhs, expr)

#define KOS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)    \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // KOS_STATUS_H_
