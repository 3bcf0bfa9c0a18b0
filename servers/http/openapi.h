// /openapi.json (OpenAPI 3.0.3) generated from the route table.
#ifndef KOS_SERVERS_HTTP_OPENAPI_H_
#define KOS_SERVERS_HTTP_OPENAPI_H_

#include <vector>

#include "http/route.h"
#include "kos/json.h"

namespace kos::server {

Json BuildOpenApi(const std::vector<Route>& routes);

}  // namespace kos::server

#endif  // KOS_SERVERS_HTTP_OPENAPI_H_
