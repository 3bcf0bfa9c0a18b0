// What the route handlers share: the kernel and the access helpers. The
// routes themselves are built by the Add*Routes functions (one file per
// area) into one table.
#ifndef KOS_SERVERS_HTTP_API_H_
#define KOS_SERVERS_HTTP_API_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "http/route.h"
#include "kos/kernel.h"

namespace kos::server {

// Thread-safe: every member is immutable or atomic after construction.
struct Api {
  Kernel* kernel = nullptr;
  // Set when the server begins to shut down; streams end early.
  std::atomic<bool> stopping{false};
  // Signed-artifact URL lifetime when the request gives none.
  absl::Duration default_url_ttl = absl::Minutes(15);

  // OK if the caller may perform `action` on `resource`: allowed by RBAC,
  // or the caller is `owner` and no rule explicitly denies it.
  absl::Status Authorize(const Call& call, absl::string_view resource, absl::string_view action,
                         absl::string_view owner = "") const;

  // Who submitted a task or plan through this API (collection
  // "http_owners", key "task/<id>" or "plan/<id>"); "" if unknown.
  std::string OwnerOf(absl::string_view kind, absl::string_view id) const;
  absl::Status RecordOwner(absl::string_view kind, absl::string_view id,
                           absl::string_view subject) const;
};

// The body of a JSON route as an object, or INVALID_ARGUMENT.
absl::StatusOr<std::string> BodyString(const Call& call, const char* key, bool required = true);

void AddSystemRoutes(Api* api, std::vector<Route>* routes);
void AddAuthRoutes(Api* api, std::vector<Route>* routes);
void AddUserRoutes(Api* api, std::vector<Route>* routes);
void AddTaskRoutes(Api* api, std::vector<Route>* routes);
void AddMemoryRoutes(Api* api, std::vector<Route>* routes);
void AddPromptRoutes(Api* api, std::vector<Route>* routes);
void AddArtifactRoutes(Api* api, std::vector<Route>* routes);
void AddVaultRoutes(Api* api, std::vector<Route>* routes);

// Time as RFC 3339 UTC ("" for an infinite time).
std::string TimeString(absl::Time t);

}  // namespace kos::server

#endif  // KOS_SERVERS_HTTP_API_H_
