// The one table that maps absl::StatusCode to HTTP, and the JSON error body
// every error response carries: {"error":{"code":"NOT_FOUND","message":"..."}}.
#ifndef KOS_SERVERS_HTTP_HTTP_STATUS_H_
#define KOS_SERVERS_HTTP_HTTP_STATUS_H_

#include <string>

#include "absl/status/status.h"

namespace kos::server {

int HttpStatusFor(absl::StatusCode code);
// "NOT_FOUND", "INVALID_ARGUMENT", ... (gRPC canonical names).
std::string StatusCodeName(absl::StatusCode code);
std::string ErrorBody(const absl::Status& status);

}  // namespace kos::server

#endif  // KOS_SERVERS_HTTP_HTTP_STATUS_H_
