// kos.v1.Tasks over kos::Orchestrator, with log streaming.
#include <algorithm>
#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpc/services.h"
#include "grpc/task_convert.h"
#include "kos/json.h"
#include "kos/orchestrator.h"
#include "kos/status.h"
#include "kos/v1/tasks.grpc.pb.h"

namespace kos::server::grpc_impl {
namespace {

namespace pb = ::kos::v1;

// Lines buffered for one slow stream before it falls back to reading the
// Store (the subscription callback must never block the orchestrator).
constexpr size_t kMaxQueuedLines = 4096;
// How often a stream re-checks the task's state and its call's liveness.
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

struct LineQueue {
  absl::Mutex mu;
  std::deque<TaskLogLine> lines ABSL_GUARDED_BY(mu);
  bool overflowed ABSL_GUARDED_BY(mu) = false;
};

bool Finished(TaskState s) { return IsTerminal(s) || s == TaskState::kAwaitingReview; }

class TasksService final : public pb::Tasks::Service {
 public:
  TasksService(const Gate* gate, const std::atomic<bool>* stopping)
      : gate_(gate), k_(gate->kernel()), stopping_(stopping) {}

  grpc::Status Submit(grpc::ServerContext* ctx, const pb::SubmitRequest* req,
                      pb::SubmitResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, gate_->Authenticate(ctx));
      // The caller must be allowed to run the envelope's agent; the
      // orchestrator then checks the signature and the issuer's rights.
      KOS_ASSIGN_OR_RETURN(Json env, ParseJson(req->envelope()));
      if (!env.is_object() || !env.contains("aud") || !env["aud"].is_string()) {
        return absl::InvalidArgumentError("envelope has no \"aud\" string");
      }
      KOS_RETURN_IF_ERROR(
          gate_->Check(c, absl::StrCat("agents:", env["aud"].get<std::string>()), "execute"));
      KOS_ASSIGN_OR_RETURN(std::string id, k_->orchestrator()->Submit(req->envelope()));
      out->set_task_id(id);
      return absl::OkStatus();
    });
  }

  grpc::Status SubmitPlan(grpc::ServerContext* ctx, const pb::SubmitPlanRequest* req,
                          pb::SubmitPlanResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, gate_->Authenticate(ctx));
      // The caller must be allowed to run every agent the plan names; the
      // orchestrator then checks the one signature and the issuer's rights.
      KOS_ASSIGN_OR_RETURN(Json env, ParseJson(req->envelope()));
      if (!env.is_object() || env.value("aud", Json()) != kPlanAudience) {
        return absl::InvalidArgumentError(
            absl::StrCat("a plan envelope needs \"aud\": \"", kPlanAudience, "\""));
      }
      const Json* tasks = nullptr;
      if (env.contains("payload") && env["payload"].is_object() &&
          env["payload"].contains("tasks") && env["payload"]["tasks"].is_array()) {
        tasks = &env["payload"]["tasks"];
      }
      if (tasks == nullptr)
        return absl::InvalidArgumentError("plan payload has no \"tasks\" array");
      absl::flat_hash_set<std::string> agents;
      for (const Json& t : *tasks) {
        if (!t.is_object() || !t.contains("agent") || !t["agent"].is_string()) {
          return absl::InvalidArgumentError("every plan task needs an \"agent\" string");
        }
        agents.insert(t["agent"].get<std::string>());
      }
      for (const std::string& agent : agents) {
        KOS_RETURN_IF_ERROR(gate_->Check(c, absl::StrCat("agents:", agent), "execute"));
      }
      KOS_ASSIGN_OR_RETURN(std::string plan, k_->orchestrator()->SubmitSignedPlan(req->envelope()));
      out->set_plan_id(plan);
      // The plan is stored: from here on, answer what is known rather than
      // fail (the envelope cannot be submitted again).
      for (const Json& t : *tasks) {
        if (t.contains("id") && t["id"].is_string()) out->add_task_ids(t["id"].get<std::string>());
      }
      if (out->task_ids_size() != static_cast<int>(tasks->size())) {
        // Some ids were generated: list the plan's members instead.
        out->clear_task_ids();
        auto members = k_->orchestrator()->PlanTasks(plan);
        if (members.ok()) {
          for (const TaskInfo& t : *members) out->add_task_ids(t.id);
        }
      }
      return absl::OkStatus();
    });
  }

  grpc::Status Get(grpc::ServerContext* ctx, const pb::GetTaskRequest* req,
                   pb::Task* out) override {
    return Serve([&]() -> absl::Status {
      KOS_RETURN_IF_ERROR(Authorize(ctx, req->task_id(), "read"));
      KOS_ASSIGN_OR_RETURN(TaskInfo t, k_->orchestrator()->Get(req->task_id()));
      FillTask(t, out);
      return absl::OkStatus();
    });
  }

  grpc::Status List(grpc::ServerContext* ctx, const pb::ListTasksRequest* req,
                    pb::ListTasksResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, gate_->Authorize(ctx, "tasks:all", "read"));
      TaskFilter f;
      f.agent = req->agent();
      f.plan_id = req->plan_id();
      if (!req->state().empty()) {
        KOS_ASSIGN_OR_RETURN(f.state, ParseTaskState(req->state()));
      }
      f.limit = req->limit() == 0 ? 100 : std::min<size_t>(req->limit(), 1000);
      KOS_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, k_->orchestrator()->List(f));
      for (const TaskInfo& t : tasks) FillTask(t, out->add_tasks());
      return absl::OkStatus();
    });
  }

  grpc::Status Cancel(grpc::ServerContext* ctx, const pb::CancelTaskRequest* req,
                      pb::CancelTaskResponse*) override {
    return Serve([&]() -> absl::Status {
      KOS_RETURN_IF_ERROR(Authorize(ctx, req->task_id(), "write"));
      return k_->orchestrator()->Cancel(req->task_id());
    });
  }

  grpc::Status StreamLogs(grpc::ServerContext* ctx, const pb::StreamLogsRequest* req,
                          grpc::ServerWriter<pb::LogLine>* writer) override {
    return Serve([&]() -> absl::Status {
      const std::string& id = req->task_id();
      KOS_RETURN_IF_ERROR(Authorize(ctx, id, "read"));
      Orchestrator* orch = k_->orchestrator();
      KOS_RETURN_IF_ERROR(orch->Get(id).status());
      // Subscribe before reading the backlog so no line falls in between;
      // lines seen twice are skipped by sequence number.
      auto queue = std::make_shared<LineQueue>();
      uint64_t sub = orch->Subscribe(id, [queue](const TaskLogLine& line) {
        absl::MutexLock lock(&queue->mu);
        if (queue->lines.size() >= kMaxQueuedLines) {
          queue->overflowed = true;
          return;
        }
        queue->lines.push_back(line);
      });
      struct Unsubscriber {
        Orchestrator* o;
        uint64_t s;
        ~Unsubscriber() { o->Unsubscribe(s); }
      } unsubscribe{orch, sub};

      uint64_t last = req->after_seq();
      auto send = [&](const TaskLogLine& l) -> absl::Status {
        if (l.seq <= last) return absl::OkStatus();
        pb::LogLine msg;
        FillLogLine(l, &msg);
        if (!writer->Write(msg)) return absl::CancelledError("client went away");
        last = l.seq;
        return absl::OkStatus();
      };
      // Everything stored after `last`.
      auto drain_store = [&]() -> absl::Status {
        while (true) {
          KOS_ASSIGN_OR_RETURN(std::vector<TaskLogLine> lines, orch->Logs(id, last, 1000));
          for (const TaskLogLine& l : lines) KOS_RETURN_IF_ERROR(send(l));
          if (lines.size() < 1000) return absl::OkStatus();
        }
      };
      KOS_RETURN_IF_ERROR(drain_store());
      while (true) {
        if (ctx->IsCancelled()) return absl::CancelledError("call cancelled");
        if (stopping_->load()) return absl::UnavailableError("server shutting down");
        std::deque<TaskLogLine> lines;
        bool overflowed = false;
        {
          absl::MutexLock lock(&queue->mu);
          queue->mu.AwaitWithTimeout(
              absl::Condition(
                  +[](std::deque<TaskLogLine>* q) { return !q->empty(); }, &queue->lines),
              kPollInterval);
          lines.swap(queue->lines);
          overflowed = queue->overflowed;
          queue->overflowed = false;
        }
        bool gap = overflowed || (!lines.empty() && lines.front().seq > last + 1);
        if (gap) {
          KOS_RETURN_IF_ERROR(drain_store());
        }
        for (const TaskLogLine& l : lines) KOS_RETURN_IF_ERROR(send(l));
        KOS_ASSIGN_OR_RETURN(TaskInfo t, orch->Get(id));
        if (Finished(t.state)) {
          // Lines written just before the final state are stored by now.
          KOS_ASSIGN_OR_RETURN(t, orch->Wait(id, absl::Seconds(5)));
          return drain_store();
        }
      }
    });
  }

 private:
  absl::Status Authorize(grpc::ServerContext* ctx, absl::string_view task_id,
                         absl::string_view action) {
    if (task_id.empty()) return absl::InvalidArgumentError("task_id is required");
    return gate_->Authorize(ctx, absl::StrCat("tasks:", task_id), action).status();
  }

  const Gate* gate_;
  Kernel* k_;
  const std::atomic<bool>* stopping_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewTasksService(const Gate* gate,
                                               const std::atomic<bool>* stopping) {
  return std::make_unique<TasksService>(gate, stopping);
}

}  // namespace kos::server::grpc_impl
