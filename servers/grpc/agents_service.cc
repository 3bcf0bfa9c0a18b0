// kos.v1.Agents: the configured agents, and running one with a task the
// kernel signs on the caller's behalf.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpc/services.h"
#include "grpc/task_convert.h"
#include "kos/json.h"
#include "kos/status.h"
#include "kos/v1/agents.grpc.pb.h"

namespace kos::server::grpc_impl {
namespace {

namespace pb = ::kos::v1;

// Longest Execute wait_ms honoured; longer waits belong in StreamLogs.
constexpr int64_t kMaxWaitMs = 60'000;

class AgentsService final : public pb::Agents::Service {
 public:
  explicit AgentsService(const Gate* gate) : gate_(gate), k_(gate->kernel()) {}

  grpc::Status ListAgents(grpc::ServerContext* ctx, const pb::ListAgentsRequest*,
                          pb::ListAgentsResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, gate_->Authenticate(ctx));
      for (const AgentProfile& a : k_->agents()) {
        auto* p = out->add_agents();
        p->set_name(a.name);
        p->set_profile(a.profile);
        p->set_type(a.type);
        p->set_version(a.version);
        p->set_description(a.description);
        p->set_handler(a.handler);
        p->set_enabled(a.enabled);
        for (const auto& perm : a.permissions) p->add_permissions(perm);
      }
      return absl::OkStatus();
    });
  }

  grpc::Status Execute(grpc::ServerContext* ctx, const pb::ExecuteRequest* req,
                       pb::ExecuteResponse* out) override {
    return Serve([&]() -> absl::Status {
      if (req->agent().empty()) return absl::InvalidArgumentError("agent is required");
      KOS_ASSIGN_OR_RETURN(Caller c,
                           gate_->Authorize(ctx, absl::StrCat("agents:", req->agent()), "execute"));
      Json input = Json::object();
      if (!req->input_json().empty()) {
        KOS_ASSIGN_OR_RETURN(input, ParseJson(req->input_json()));
        if (!input.is_object())
          return absl::InvalidArgumentError("input_json must be a JSON object");
      }
      TaskRequest tr;
      tr.audience = req->agent();
      tr.payload = {{"input", std::move(input)}, {"priority", req->priority()}};
      if (req->timeout_ms() > 0) tr.payload["timeout_ms"] = req->timeout_ms();
      if (!req->idempotency_key().empty()) tr.payload["idempotency_key"] = req->idempotency_key();
      KOS_ASSIGN_OR_RETURN(SignedEnvelope env, k_->task_signer()->Sign(tr));
      KOS_ASSIGN_OR_RETURN(std::string id, k_->orchestrator()->Submit(env.text));
      out->set_task_id(id);
      if (req->wait_ms() <= 0) return absl::OkStatus();
      absl::StatusOr<TaskInfo> t = k_->orchestrator()->Wait(
          id, absl::Milliseconds(std::min<int64_t>(req->wait_ms(), kMaxWaitMs)));
      if (t.status().code() == absl::StatusCode::kDeadlineExceeded) t = k_->orchestrator()->Get(id);
      KOS_RETURN_IF_ERROR(t.status());
      out->set_state(TaskStateName(t->state));
      if (!t->output.is_null()) out->set_output_json(DumpJson(t->output));
      out->set_error(t->error);
      return absl::OkStatus();
    });
  }

 private:
  const Gate* gate_;
  Kernel* k_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewAgentsService(const Gate* gate) {
  return std::make_unique<AgentsService>(gate);
}

}  // namespace kos::server::grpc_impl
