// The kos.v1 service implementations, each a thin translation onto the
// Kernel through a shared Gate (authentication, rate limits, RBAC).
#ifndef KOS_SERVERS_GRPC_SERVICES_H_
#define KOS_SERVERS_GRPC_SERVICES_H_

#include <atomic>
#include <memory>

#include "grpc/call_context.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/service_type.h"

namespace kos::server::grpc_impl {

// `gate` must outlive the services. `stopping` turns true when the server
// shuts down, so long streams end promptly.
std::unique_ptr<grpc::Service> NewAuthService(const Gate* gate);
std::unique_ptr<grpc::Service> NewUsersService(const Gate* gate);
std::unique_ptr<grpc::Service> NewAgentsService(const Gate* gate);
std::unique_ptr<grpc::Service> NewTasksService(const Gate* gate, const std::atomic<bool>* stopping);
std::unique_ptr<grpc::Service> NewMemoryService(const Gate* gate);
std::unique_ptr<grpc::Service> NewPromptsService(const Gate* gate);
std::unique_ptr<grpc::Service> NewVaultService(const Gate* gate);
std::unique_ptr<grpc::Service> NewArtifactsService(const Gate* gate);

}  // namespace kos::server::grpc_impl

#endif  // KOS_SERVERS_GRPC_SERVICES_H_
