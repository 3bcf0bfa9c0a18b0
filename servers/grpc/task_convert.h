// kos::TaskInfo / TaskLogLine <-> kos.v1 messages.
#ifndef KOS_SERVERS_GRPC_TASK_CONVERT_H_
#define KOS_SERVERS_GRPC_TASK_CONVERT_H_

#include "kos/orchestrator.h"
#include "kos/v1/tasks.pb.h"

namespace kos::server::grpc_impl {

void FillTask(const TaskInfo& t, ::kos::v1::Task* out);
void FillLogLine(const TaskLogLine& l, ::kos::v1::LogLine* out);
// Milliseconds since the epoch; 0 for an unset (infinite) time.
int64_t UnixMillisOrZero(absl::Time t);

}  // namespace kos::server::grpc_impl

#endif  // KOS_SERVERS_GRPC_TASK_CONVERT_H_
