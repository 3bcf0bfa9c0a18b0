// kos.v1.Prompts over kos::PromptRegistry ("prompts:<name>" read/write).
#include "absl/strings/str_cat.h"
#include "grpc/services.h"
#include "grpc/task_convert.h"
#include "kos/json.h"
#include "kos/status.h"
#include "kos/v1/prompts.grpc.pb.h"

namespace kos::server::grpc_impl {
namespace {

namespace pb = ::kos::v1;

absl::StatusOr<PromptVariableType> ParseVariableType(absl::string_view name) {
  for (PromptVariableType t :
       {PromptVariableType::kString, PromptVariableType::kNumber, PromptVariableType::kBoolean,
        PromptVariableType::kList, PromptVariableType::kObject}) {
    if (name == PromptVariableTypeName(t)) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown variable type '", name.substr(0, 32),
                                                 "' (string, number, boolean, list, object)"));
}

absl::StatusOr<std::vector<PromptVariable>> ParseVariables(absl::string_view text) {
  std::vector<PromptVariable> vars;
  if (text.empty()) return vars;
  KOS_ASSIGN_OR_RETURN(Json j, ParseJson(text));
  if (!j.is_array()) return absl::InvalidArgumentError("variables_json must be a JSON array");
  for (size_t i = 0; i < j.size(); ++i) {
    const Json& v = j[i];
    std::string where = absl::StrCat("variables_json[", i, "]");
    if (!v.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, " is not an object"));
    PromptVariable pv;
    KOS_ASSIGN_OR_RETURN(pv.name, GetString(v, "name", where));
    if (v.contains("type")) {
      KOS_ASSIGN_OR_RETURN(std::string type, GetString(v, "type", where));
      KOS_ASSIGN_OR_RETURN(pv.type, ParseVariableType(type));
    }
    if (v.contains("required")) {
      KOS_ASSIGN_OR_RETURN(pv.required, GetBool(v, "required", where));
    }
    if (v.contains("default")) pv.default_value = v["default"];
    if (v.contains("description")) {
      KOS_ASSIGN_OR_RETURN(pv.description, GetString(v, "description", where));
    }
    vars.push_back(std::move(pv));
  }
  return vars;
}

std::string VariablesJson(const std::vector<PromptVariable>& vars) {
  Json a = Json::array();
  for (const PromptVariable& v : vars) {
    Json o = {{"name", v.name},
              {"type", PromptVariableTypeName(v.type)},
              {"required", v.required},
              {"description", v.description}};
    if (v.default_value.has_value()) o["default"] = *v.default_value;
    a.push_back(std::move(o));
  }
  return DumpJson(a);
}

void FillVersion(const kos::PromptVersion& v, pb::PromptVersion* out) {
  out->set_name(v.name);
  out->set_version(v.version);
  out->set_text(v.content.text);
  for (const auto& m : v.content.messages) {
    auto* pm = out->add_messages();
    pm->set_role(m.role);
    pm->set_content(m.content);
  }
  out->set_variables_json(VariablesJson(v.content.variables));
  out->set_author(v.author);
  out->set_commit_message(v.commit_message);
  out->set_created_ms(UnixMillisOrZero(v.created));
  out->set_hash(v.hash);
}

PromptRef Ref(int64_t version, const std::string& label) {
  if (version > 0) return PromptRef::Version(version);
  return PromptRef::Label(label.empty() ? "production" : label);
}

class PromptsService final : public pb::Prompts::Service {
 public:
  explicit PromptsService(const Gate* gate) : gate_(gate), k_(gate->kernel()) {}

  grpc::Status Save(grpc::ServerContext* ctx, const pb::SavePromptRequest* req,
                    pb::PromptVersion* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Authorize(ctx, req->name(), "write"));
      PromptContent content;
      content.text = req->text();
      for (const auto& m : req->messages()) content.messages.push_back({m.role(), m.content()});
      KOS_ASSIGN_OR_RETURN(content.variables, ParseVariables(req->variables_json()));
      SavePromptOptions o;
      o.author = c.subject;
      o.commit_message = req->commit_message();
      o.labels.assign(req->labels().begin(), req->labels().end());
      if (req->has_expected_latest_version()) {
        o.expected_latest_version = req->expected_latest_version();
      }
      KOS_ASSIGN_OR_RETURN(kos::PromptVersion v, k_->prompts()->Save(req->name(), content, o));
      FillVersion(v, out);
      return absl::OkStatus();
    });
  }

  grpc::Status Get(grpc::ServerContext* ctx, const pb::GetPromptRequest* req,
                   pb::PromptVersion* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Authorize(ctx, req->name(), "read"));
      KOS_ASSIGN_OR_RETURN(kos::PromptVersion v,
                           k_->prompts()->Get(req->name(), Ref(req->version(), req->label())));
      FillVersion(v, out);
      return absl::OkStatus();
    });
  }

  grpc::Status Render(grpc::ServerContext* ctx, const pb::RenderPromptRequest* req,
                      pb::RenderedPrompt* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Authorize(ctx, req->name(), "read"));
      Json vars = Json::object();
      if (!req->variables_json().empty()) {
        KOS_ASSIGN_OR_RETURN(vars, ParseJson(req->variables_json()));
      }
      KOS_ASSIGN_OR_RETURN(
          kos::RenderedPrompt r,
          k_->prompts()->Render(req->name(), Ref(req->version(), req->label()), vars, c.subject));
      out->set_name(r.name);
      out->set_version(r.version);
      out->set_text(r.text);
      for (const auto& m : r.messages) {
        auto* pm = out->add_messages();
        pm->set_role(m.role);
        pm->set_content(m.content);
      }
      out->set_template_hash(r.template_hash);
      out->set_input_hash(r.input_hash);
      out->set_output_hash(r.output_hash);
      out->set_history_id(r.history_id);
      return absl::OkStatus();
    });
  }

  grpc::Status History(grpc::ServerContext* ctx, const pb::PromptHistoryRequest* req,
                       pb::PromptHistoryResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Authorize(ctx, req->name(), "read"));
      PromptHistoryQuery q;
      q.name = req->name();
      q.limit = req->limit() == 0 ? 100 : req->limit();
      q.page_token = req->page_token();
      KOS_ASSIGN_OR_RETURN(PromptHistoryPage page, k_->prompts()->History(q));
      for (const RenderRecord& r : page.records) {
        auto* p = out->add_records();
        p->set_id(r.id);
        p->set_version(r.version);
        p->set_template_hash(r.template_hash);
        p->set_input_hash(r.input_hash);
        p->set_output_hash(r.output_hash);
        p->set_caller(r.caller);
        p->set_time_ms(UnixMillisOrZero(r.time));
      }
      out->set_next_page_token(page.next_page_token);
      return absl::OkStatus();
    });
  }

 private:
  absl::StatusOr<Caller> Authorize(grpc::ServerContext* ctx, const std::string& name,
                                   absl::string_view action) {
    if (name.empty()) return absl::InvalidArgumentError("name is required");
    return gate_->Authorize(ctx, absl::StrCat("prompts:", name), action);
  }

  const Gate* gate_;
  Kernel* k_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewPromptsService(const Gate* gate) {
  return std::make_unique<PromptsService>(gate);
}

}  // namespace kos::server::grpc_impl
