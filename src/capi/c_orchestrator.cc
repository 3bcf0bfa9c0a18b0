// C API: kos_orchestrator_options_*, kos_orchestrator_* and kos_task_context_*
// (kos/orchestrator.h).
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "capi/c_internal.h"
#include "kos/agent_config.h"
#include "kos/logger.h"

using kos::capi::CopyOut;
using kos::capi::Guard;
using kos::capi::Report;
using kos::capi::Require;
using kos::capi::SetError;
using kos::capi::Str;
using kos::capi::TimeJson;

struct kos_orchestrator_options_t {
  std::vector<kos::AgentProfile> agents;
  int max_concurrent = 4;
  absl::Duration default_timeout = absl::Seconds(300);
  const kos_access_controller_t* access = nullptr;
};

struct kos_orchestrator_t {
  std::unique_ptr<kos::Orchestrator> rep;
};

struct kos_task_context_t {
  kos::TaskContext* rep;
};

namespace {

using kos::Json;

// Owns the C handler's state; calls its destructor when the last copy of the
// registered std::function goes away.
struct CHandler {
  kos_handler_fn fn = nullptr;
  void* state = nullptr;
  void (*destroy)(void*) = nullptr;
  ~CHandler() {
    if (destroy != nullptr) destroy(state);
  }
};

// The handler's error text ("CODE: message" or just "message") as a Status.
absl::Status HandlerError(const char* err) {
  if (err == nullptr) return absl::InternalError("handler returned NULL without an error");
  kos_code_t code = kos_error_code(err);
  absl::string_view message = err;
  if (code != KOS_UNKNOWN || absl::string_view(err).rfind("UNKNOWN:", 0) == 0) {
    message.remove_prefix(std::strlen(kos_code_name(code)) + 1);
    if (!message.empty() && message.front() == ' ') message.remove_prefix(1);
  }
  if (code == KOS_OK) code = KOS_UNKNOWN;
  return absl::Status(static_cast<absl::StatusCode>(code), message);
}

absl::StatusOr<Json> CallHandler(const CHandler& h, kos::TaskContext& ctx) {
  kos_task_context_t c{&ctx};
  std::string input = kos::DumpJson(ctx.input());
  char* err = nullptr;
  char* out = h.fn(h.state, &c, input.c_str(), &err);
  if (out == nullptr) {
    absl::Status s = HandlerError(err);
    std::free(err);
    return s;
  }
  std::free(err);
  auto parsed = kos::ParseJson(out);
  std::free(out);
  if (!parsed.ok()) {
    return absl::InternalError(
        absl::StrCat("handler output is not JSON: ", parsed.status().message()));
  }
  return std::move(*parsed);
}

Json TaskJson(const kos::TaskInfo& t) {
  return {{"id", t.id},
          {"plan_id", t.plan_id},
          {"agent", t.agent},
          {"issuer", t.issuer},
          {"parent_id", t.parent_id},
          {"state", kos::TaskStateName(t.state)},
          {"attempt", t.attempt},
          {"priority", t.priority},
          {"input", t.input},
          {"output", t.output},
          {"error", t.error},
          {"error_code", t.error_code},
          {"depends_on", t.depends_on},
          {"idempotency_key", t.idempotency_key},
          {"review", t.review},
          {"reviewer", t.reviewer},
          {"created", TimeJson(t.created)},
          {"updated", TimeJson(t.updated)},
          {"started", TimeJson(t.started)},
          {"finished", TimeJson(t.finished)},
          {"trace_id", t.trace_id},
          {"span_id", t.span_id}};
}

}  // namespace

extern "C" {

const char* kos_task_context_task_id(const kos_task_context_t* context) {
  return context == nullptr ? "" : context->rep->task_id().c_str();
}

const char* kos_task_context_agent(const kos_task_context_t* context) {
  return context == nullptr ? "" : context->rep->agent().c_str();
}

int kos_task_context_attempt(const kos_task_context_t* context) {
  return context == nullptr ? 0 : context->rep->attempt();
}

int kos_task_context_cancelled(const kos_task_context_t* context) {
  return context == nullptr ? 1 : (context->rep->cancelled() ? 1 : 0);
}

void kos_task_context_log(kos_task_context_t* context, int level, const char* message) {
  Guard(__func__, nullptr, 0, [&] {
    if (context == nullptr) return 0;
    int l = level < 0 ? 0 : (level > 3 ? 3 : level);
    context->rep->Log(static_cast<kos::LogLevel>(l), Str(message));
    return 0;
  });
}

kos_orchestrator_options_t* kos_orchestrator_options_create(void) {
  return Guard(__func__, nullptr, static_cast<kos_orchestrator_options_t*>(nullptr),
               [] { return new kos_orchestrator_options_t(); });
}

void kos_orchestrator_options_destroy(kos_orchestrator_options_t* options) { delete options; }

kos_code_t kos_orchestrator_options_add_agent(kos_orchestrator_options_t* options, const char* name,
                                              char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(options, "options", errptr)) return KOS_INVALID_ARGUMENT;
    if (kos_code_t c = Report(errptr, kos::ValidateAgentName(Str(name))); c != KOS_OK) return c;
    kos::AgentProfile p;
    p.name = name;
    p.profile = "c";
    p.type = "native";
    options->agents.push_back(std::move(p));
    return KOS_OK;
  });
}

kos_code_t kos_orchestrator_options_add_agent_json(kos_orchestrator_options_t* options,
                                                   const char* profile_json, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(options, "options", errptr)) return KOS_INVALID_ARGUMENT;
    auto p = kos::ParseAgentProfile(Str(profile_json), "profile_json");
    if (!p.ok()) return Report(errptr, p.status());
    options->agents.push_back(std::move(*p));
    return KOS_OK;
  });
}

kos_code_t kos_orchestrator_options_load_agents(kos_orchestrator_options_t* options,
                                                const char* agents_dir, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(options, "options", errptr)) return KOS_INVALID_ARGUMENT;
    auto agents = kos::LoadAgentProfiles(Str(agents_dir));
    if (!agents.ok()) return Report(errptr, agents.status());
    for (auto& a : *agents) options->agents.push_back(std::move(a));
    return KOS_OK;
  });
}

void kos_orchestrator_options_set_max_concurrent(kos_orchestrator_options_t* options,
                                                 int max_concurrent) {
  if (options != nullptr) options->max_concurrent = max_concurrent;
}

void kos_orchestrator_options_set_default_timeout(kos_orchestrator_options_t* options,
                                                  int64_t milliseconds) {
  if (options != nullptr) options->default_timeout = absl::Milliseconds(milliseconds);
}

void kos_orchestrator_options_set_access_controller(kos_orchestrator_options_t* options,
                                                    const kos_access_controller_t* ac) {
  if (options != nullptr) options->access = ac;
}

kos_orchestrator_t* kos_orchestrator_open(kos_store_t* store, kos_key_registry_t* registry,
                                          const kos_orchestrator_options_t* options,
                                          char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_orchestrator_t*>(nullptr),
               [&]() -> kos_orchestrator_t* {
                 if (!Require(store, "store", errptr) || !Require(registry, "registry", errptr)) {
                   return nullptr;
                 }
                 kos_orchestrator_options_t defaults;
                 const kos_orchestrator_options_t& o = options != nullptr ? *options : defaults;
                 if (o.max_concurrent < 1 || o.default_timeout <= absl::ZeroDuration()) {
                   SetError(errptr, absl::InvalidArgumentError(
                                        "max_concurrent and default_timeout must be positive"));
                   return nullptr;
                 }
                 kos::OrchestratorOptions oo;
                 oo.store = store->rep.get();
                 oo.keys = registry->rep.get();
                 oo.agents = o.agents;
                 oo.max_concurrent = o.max_concurrent;
                 oo.default_timeout = o.default_timeout;
                 if (o.access != nullptr) oo.access = o.access->rep.get();
                 auto orch = kos::Orchestrator::Open(oo);
                 if (!orch.ok()) return SetError(errptr, orch.status()), nullptr;
                 return new kos_orchestrator_t{std::move(*orch)};
               });
}

void kos_orchestrator_close(kos_orchestrator_t* orchestrator) {
  Guard(__func__, nullptr, 0, [&] {
    delete orchestrator;
    return 0;
  });
}

kos_code_t kos_orchestrator_register_handler(kos_orchestrator_t* orchestrator, const char* agent,
                                             kos_handler_fn handler, void* state,
                                             void (*destroy_state)(void* state), char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(orchestrator, "orchestrator", errptr)) return KOS_INVALID_ARGUMENT;
    if (!Require(reinterpret_cast<const void*>(handler), "handler", errptr)) {
      return KOS_INVALID_ARGUMENT;
    }
    auto h = std::make_shared<CHandler>();
    h->fn = handler;
    h->state = state;
    kos::AgentHandler fn = [h](kos::TaskContext& ctx) { return CallHandler(*h, ctx); };
    h->destroy = destroy_state;
    absl::Status s = orchestrator->rep->RegisterHandler(Str(agent), std::move(fn));
    // On failure the caller keeps `state`: no destructor call when `h` dies.
    if (!s.ok()) h->destroy = nullptr;
    return Report(errptr, s);
  });
}

char* kos_orchestrator_submit(kos_orchestrator_t* orchestrator, const char* envelope,
                              char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(orchestrator, "orchestrator", errptr)) return nullptr;
    auto id = orchestrator->rep->Submit(Str(envelope));
    if (!id.ok()) return SetError(errptr, id.status()), nullptr;
    return CopyOut(*id, nullptr, errptr);
  });
}

char* kos_orchestrator_submit_signed_plan(kos_orchestrator_t* orchestrator, const char* envelope,
                                          char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(orchestrator, "orchestrator", errptr)) return nullptr;
    auto id = orchestrator->rep->SubmitSignedPlan(Str(envelope));
    if (!id.ok()) return SetError(errptr, id.status()), nullptr;
    return CopyOut(*id, nullptr, errptr);
  });
}

char* kos_orchestrator_get(kos_orchestrator_t* orchestrator, const char* task_id, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(orchestrator, "orchestrator", errptr)) return nullptr;
    auto t = orchestrator->rep->Get(Str(task_id));
    if (!t.ok()) return SetError(errptr, t.status()), nullptr;
    return CopyOut(kos::DumpJson(TaskJson(*t)), nullptr, errptr);
  });
}

char* kos_orchestrator_wait(kos_orchestrator_t* orchestrator, const char* task_id,
                            int64_t timeout_ms, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(orchestrator, "orchestrator", errptr)) return nullptr;
    auto t = orchestrator->rep->Wait(Str(task_id), absl::Milliseconds(timeout_ms));
    if (!t.ok()) return SetError(errptr, t.status()), nullptr;
    return CopyOut(kos::DumpJson(TaskJson(*t)), nullptr, errptr);
  });
}

kos_code_t kos_orchestrator_cancel(kos_orchestrator_t* orchestrator, const char* task_id,
                                   char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(orchestrator, "orchestrator", errptr)) return KOS_INVALID_ARGUMENT;
    return Report(errptr, orchestrator->rep->Cancel(Str(task_id)));
  });
}

char* kos_orchestrator_logs(kos_orchestrator_t* orchestrator, const char* task_id,
                            uint64_t after_seq, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(orchestrator, "orchestrator", errptr)) return nullptr;
    auto lines = orchestrator->rep->Logs(Str(task_id), after_seq);
    if (!lines.ok()) return SetError(errptr, lines.status()), nullptr;
    Json out = Json::array();
    for (const auto& l : *lines) {
      out.push_back({{"seq", l.seq},
                     {"time", TimeJson(l.time)},
                     {"level", kos::LogLevelName(l.level)},
                     {"message", l.message},
                     {"fields", l.fields}});
    }
    return CopyOut(kos::DumpJson(out), nullptr, errptr);
  });
}

}  // extern "C"
