// kos.Orchestrator with Python callables as agent handlers.
//
// Handlers run on the orchestrator's C++ worker threads. A handler takes the
// GIL only while Python code runs; every orchestrator call releases it, so a
// thread blocked in wait() never stops a handler from running.
#include "kos/orchestrator.h"

#include <atomic>
#include <map>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common.h"
#include "handles.h"

namespace kos_py {
namespace {

// A Python object that may be dropped on a thread without the GIL: the
// reference is released under the GIL, or leaked once the interpreter is
// shutting down (touching it then would crash).
class PyRef {
 public:
  explicit PyRef(py::object o) : obj_(o.release().ptr()) {}
  ~PyRef() {
    if (obj_ == nullptr || !Py_IsInitialized() || _Py_IsFinalizing()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(obj_);
  }
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  py::handle get() const { return obj_; }

 private:
  PyObject* obj_;
};

// What a Python handler sees. Valid only during the handler call: afterwards
// every method raises FailedPreconditionError (the C++ context is gone).
struct PyTaskContext {
  kos::TaskContext* ctx = nullptr;
  kos::TaskContext& get() const {
    if (ctx == nullptr) {
      ThrowStatus(absl::FailedPreconditionError("TaskContext used after its handler returned"));
    }
    return *ctx;
  }
};

kos::LogLevel ParseLevel(const std::string& s) {
  absl::StatusOr<kos::LogLevel> l = kos::ParseLogLevel(s);
  if (!l.ok()) ThrowStatus(l.status());
  return *l;
}

struct OrchestratorBox {
  std::shared_ptr<StoreBox> store;
  std::shared_ptr<StoreBox> nonce_store;
  std::shared_ptr<KeyRegistryBox> keys;
  std::shared_ptr<TaskSignerBox> subtask_signer;
  std::shared_ptr<AccessControllerBox> access;
  std::shared_ptr<kos::Clock> clock;
  std::unique_ptr<kos::Orchestrator> orchestrator;

  // Shutting down waits for running handlers, which need the GIL: whoever
  // drops the last reference (a Python dealloc, or a call returning) must not
  // hold it meanwhile.
  ~OrchestratorBox() {
    if (orchestrator && Py_IsInitialized() && !_Py_IsFinalizing() && PyGILState_Check()) {
      py::gil_scoped_release release;
      orchestrator.reset();
    }
  }
};

using PyOrchestrator = Handle<OrchestratorBox>;

py::dict TaskInfoToDict(const kos::TaskInfo& t) {
  py::dict d;
  d["id"] = t.id;
  d["plan_id"] = t.plan_id;
  d["agent"] = t.agent;
  d["issuer"] = t.issuer;
  d["parent_id"] = t.parent_id;
  d["state"] = kos::TaskStateName(t.state);
  d["terminal"] = kos::IsTerminal(t.state);
  d["attempt"] = t.attempt;
  d["priority"] = t.priority;
  d["input"] = FromJson(t.input);
  d["output"] = FromJson(t.output);
  d["error"] = t.error;
  d["error_code"] = t.error_code;
  d["depends_on"] = t.depends_on;
  d["idempotency_key"] = t.idempotency_key;
  d["review"] = t.review;
  d["reviewer"] = t.reviewer;
  d["created"] = TimeToPy(t.created);
  d["updated"] = TimeToPy(t.updated);
  d["started"] = TimeToPy(t.started);
  d["finished"] = TimeToPy(t.finished);
  d["trace_id"] = t.trace_id;
  d["span_id"] = t.span_id;
  d["traceparent"] = t.traceparent();
  return d;
}

py::dict LogLineToDict(const kos::TaskLogLine& l) {
  py::dict d;
  d["task_id"] = l.task_id;
  d["seq"] = l.seq;
  d["time"] = TimeToPy(l.time);
  d["level"] = kos::LogLevelName(l.level);
  d["message"] = l.message;
  d["fields"] = FromJson(l.fields);
  return d;
}

kos::AgentProfile ProfileFrom(py::handle item) {
  kos::AgentProfile p;
  p.profile = "python";
  p.type = "python";
  if (py::isinstance<py::str>(item)) {
    p.name = item.cast<std::string>();
    return p;
  }
  py::dict d = py::reinterpret_borrow<py::dict>(item);
  p.name = d["name"].cast<std::string>();
  if (d.contains("profile")) p.profile = d["profile"].cast<std::string>();
  if (d.contains("type")) p.type = d["type"].cast<std::string>();
  if (d.contains("permissions")) p.permissions = d["permissions"].cast<std::vector<std::string>>();
  if (d.contains("max_concurrency")) p.limits.max_concurrency = d["max_concurrency"].cast<int>();
  if (d.contains("timeout")) p.limits.timeout = Seconds(d["timeout"].cast<double>());
  if (d.contains("enabled")) p.enabled = d["enabled"].cast<bool>();
  return p;
}

// Runs a Python callable as an agent handler (on a C++ worker thread).
kos::AgentHandler MakeHandler(py::object fn) {
  auto ref = std::make_shared<PyRef>(std::move(fn));
  return [ref](kos::TaskContext& ctx) -> absl::StatusOr<kos::Json> {
    if (!Py_IsInitialized() || _Py_IsFinalizing()) {
      return absl::UnavailableError("the Python interpreter is shutting down");
    }
    py::gil_scoped_acquire gil;
    py::object pyctx = py::cast(PyTaskContext{&ctx});
    absl::StatusOr<kos::Json> result;
    try {
      py::object out = ref->get()(pyctx);
      result = ToJson(out);
    } catch (py::error_already_set& e) {
      result = StatusFromPython(e);
    } catch (const py::type_error& e) {  // from ToJson: an output JSON cannot hold
      result = absl::InvalidArgumentError(std::string("handler output: TypeError: ") + e.what());
    } catch (const py::value_error& e) {
      result = absl::InvalidArgumentError(std::string("handler output: ValueError: ") + e.what());
    } catch (const std::exception& e) {
      result = absl::InternalError(std::string("handler: ") + e.what());
    }
    // The context dies with this call; a handler that kept it gets an error.
    pyctx.cast<PyTaskContext&>().ctx = nullptr;
    return result;
  };
}

}  // namespace

void BindOrchestrator(py::module_& m) {
  py::class_<PyTaskContext>(
      m, "TaskContext",
      "What a handler sees of its task; valid only during the handler call. cancelled and "
      "wait_for_cancel() may be used from the handler's own threads.")
      .def_property_readonly("task_id", [](const PyTaskContext& c) { return c.get().task_id(); })
      .def_property_readonly("agent", [](const PyTaskContext& c) { return c.get().agent(); })
      .def_property_readonly("input",
                             [](const PyTaskContext& c) { return FromJson(c.get().input()); })
      .def_property_readonly("attempt", [](const PyTaskContext& c) { return c.get().attempt(); })
      .def_property_readonly("info",
                             [](const PyTaskContext& c) { return TaskInfoToDict(c.get().info()); })
      .def_property_readonly("dependency_outputs",
                             [](const PyTaskContext& c) {
                               py::dict d;
                               for (const auto& [id, out] : c.get().dependency_outputs()) {
                                 d[py::str(id)] = FromJson(out);
                               }
                               return d;
                             })
      .def_property_readonly(
          "cancelled", [](const PyTaskContext& c) { return c.get().cancelled(); },
          "True once the task was cancelled, timed out or the orchestrator is "
          "shutting down; return promptly then.")
      .def_property_readonly("deadline",
                             [](const PyTaskContext& c) { return TimeToPy(c.get().deadline()); })
      .def(
          "wait_for_cancel",
          [](const PyTaskContext& c, double timeout) {
            kos::TaskContext& ctx = c.get();
            absl::Duration t = Seconds(timeout);
            return NoGil([&] { return ctx.WaitForCancel(t); });
          },
          py::arg("timeout"),
          "Blocks up to `timeout` seconds (GIL released) or until cancelled; True if cancelled.")
      .def(
          "log",
          [](const PyTaskContext& c, const std::string& message, const std::string& level,
             py::object fields) {
            kos::TaskContext& ctx = c.get();
            kos::Json f = fields.is_none() ? kos::Json::object() : ToJson(fields);
            kos::LogLevel l = ParseLevel(level);
            NoGil([&] {
              ctx.Log(l, message, std::move(f));
              return 0;
            });
          },
          py::arg("message"), py::arg("level") = "INFO", py::arg("fields") = py::none(),
          "Appends a line to the task's durable log.")
      .def(
          "authorize",
          [](const PyTaskContext& c, const std::string& resource, const std::string& action) {
            Check(c.get().Authorize(resource, action));
          },
          py::arg("resource"), py::arg("action"),
          "None if this agent may do `action` on `resource`; PermissionDeniedError otherwise.")
      .def(
          "add_subtask",
          [](const PyTaskContext& c, const std::string& agent, py::object payload) {
            kos::TaskContext& ctx = c.get();
            kos::Json p = payload.is_none() ? kos::Json::object() : ToJson(payload);
            return Unwrap(NoGil([&] { return ctx.AddSubtask(agent, std::move(p)); }));
          },
          py::arg("agent"), py::arg("payload") = py::none(),
          "Creates a child task signed with the orchestrator's subtask signer; returns its id.");

  py::class_<PyOrchestrator> orch(
      m, "Orchestrator",
      "Runs signed tasks and DAG plans on a worker pool with retries, timeouts, cancellation "
      "and durable state. Handlers are Python callables `fn(ctx) -> JSON` run on worker "
      "threads. Thread-safe; blocking calls release the GIL.");
  orch.def(py::init([](const PyStore& store, const PyKeyRegistry& keys, py::list agents,
                       int max_concurrent, double default_timeout,
                       std::optional<PyStore> nonce_store,
                       std::optional<PyTaskSigner> subtask_signer,
                       std::optional<PyAccessController> access, bool requeue_interrupted,
                       std::optional<PyClock> clock) {
             auto box = std::make_shared<OrchestratorBox>();
             box->store = store.get();
             box->keys = keys.get();
             box->nonce_store = nonce_store ? nonce_store->get() : box->store;
             if (subtask_signer) box->subtask_signer = subtask_signer->get();
             if (access) box->access = access->get();
             box->clock = clock ? ClockOrReal(clock) : box->store->clock;
             kos::OrchestratorOptions o;
             o.store = box->store->store.get();
             o.keys = box->keys->keys.get();
             o.nonce_store = box->nonce_store->store.get();
             o.subtask_signer = box->subtask_signer ? box->subtask_signer->signer.get() : nullptr;
             o.access = box->access ? box->access->access.get() : nullptr;
             o.clock = box->clock.get();
             for (auto a : agents) o.agents.push_back(ProfileFrom(a));
             o.max_concurrent = max_concurrent;
             o.default_timeout = Seconds(default_timeout);
             o.requeue_interrupted = requeue_interrupted;
             box->orchestrator = Unwrap(NoGil([&] { return kos::Orchestrator::Open(o); }));
             return PyOrchestrator{std::move(box), "Orchestrator"};
           }),
           py::arg("store"), py::arg("keys"), py::arg("agents"), py::arg("max_concurrent") = 4,
           py::arg("default_timeout") = 300.0, py::arg("nonce_store") = py::none(),
           py::arg("subtask_signer") = py::none(), py::arg("access") = py::none(),
           py::arg("requeue_interrupted") = true, py::arg("clock") = py::none(),
           "`agents`: names or dicts {'name', 'permissions', 'max_concurrency', 'timeout'}. "
           "Recovers interrupted tasks from `store` and starts `max_concurrent` workers.")
      .def(
          "register_handler",
          [](const PyOrchestrator& self, const std::string& agent, py::function fn) {
            auto box = self.get();
            kos::AgentHandler h = MakeHandler(std::move(fn));
            Check(NoGil([&] { return box->orchestrator->RegisterHandler(agent, std::move(h)); }));
          },
          py::arg("agent"), py::arg("handler"),
          "Registers `handler(ctx: TaskContext)` for `agent`; its return value (JSON-able) is "
          "the task output. Raising kos.Error subclasses fails the attempt with that code "
          "(ValueError/TypeError: INVALID_ARGUMENT, not retried; others: UNKNOWN).")
      .def(
          "submit",
          [](const PyOrchestrator& self, const std::string& envelope) {
            auto box = self.get();
            return Unwrap(NoGil([&] { return box->orchestrator->Submit(envelope); }));
          },
          py::arg("envelope"),
          "Verifies and accepts one signed envelope (text); returns the task id.")
      .def(
          "submit_plan",
          [](const PyOrchestrator& self, const std::vector<std::string>& envelopes) {
            auto box = self.get();
            return Unwrap(NoGil([&] { return box->orchestrator->SubmitPlan(envelopes); }));
          },
          py::arg("envelopes"), "Accepts a DAG of signed tasks atomically; returns the plan id.")
      .def(
          "submit_signed_plan",
          [](const PyOrchestrator& self, const std::string& envelope) {
            auto box = self.get();
            return Unwrap(NoGil([&] { return box->orchestrator->SubmitSignedPlan(envelope); }));
          },
          py::arg("envelope"),
          "Accepts a DAG carried by ONE signed envelope (audience kos.PLAN_AUDIENCE, payload "
          "{'tasks': [{'agent': ..., 'id': ..., ...task spec...}]}) with one signature check; "
          "returns the plan id (the envelope's task id).")
      .def(
          "get",
          [](const PyOrchestrator& self, const std::string& id) {
            auto box = self.get();
            return TaskInfoToDict(Unwrap(NoGil([&] { return box->orchestrator->Get(id); })));
          },
          py::arg("task_id"))
      .def(
          "wait",
          [](const PyOrchestrator& self, const std::string& id, double timeout) {
            auto box = self.get();
            absl::Duration t = Seconds(timeout);
            return TaskInfoToDict(Unwrap(NoGil([&] { return box->orchestrator->Wait(id, t); })));
          },
          py::arg("task_id"), py::arg("timeout") = 30.0,
          "Blocks (GIL released) until the task is terminal or awaiting review; "
          "DeadlineExceededError after `timeout` seconds.")
      .def(
          "list",
          [](const PyOrchestrator& self, const std::string& agent, const std::string& plan_id,
             std::optional<std::string> state, size_t limit) {
            auto box = self.get();
            kos::TaskFilter f;
            f.agent = agent;
            f.plan_id = plan_id;
            if (state) f.state = Unwrap(kos::ParseTaskState(*state));
            f.limit = limit;
            auto tasks = Unwrap(NoGil([&] { return box->orchestrator->List(f); }));
            py::list out;
            for (const auto& t : tasks) out.append(TaskInfoToDict(t));
            return out;
          },
          py::arg("agent") = "", py::arg("plan_id") = "", py::arg("state") = py::none(),
          py::arg("limit") = 100)
      .def(
          "plan_tasks",
          [](const PyOrchestrator& self, const std::string& plan_id) {
            auto box = self.get();
            auto tasks = Unwrap(NoGil([&] { return box->orchestrator->PlanTasks(plan_id); }));
            py::list out;
            for (const auto& t : tasks) out.append(TaskInfoToDict(t));
            return out;
          },
          py::arg("plan_id"))
      .def(
          "cancel",
          [](const PyOrchestrator& self, const std::string& id) {
            auto box = self.get();
            Check(NoGil([&] { return box->orchestrator->Cancel(id); }));
          },
          py::arg("task_id"),
          "Cancels a task and its dependants; FailedPreconditionError if already terminal.")
      .def(
          "cancel_plan",
          [](const PyOrchestrator& self, const std::string& id) {
            auto box = self.get();
            Check(NoGil([&] { return box->orchestrator->CancelPlan(id); }));
          },
          py::arg("plan_id"))
      .def(
          "approve",
          [](const PyOrchestrator& self, const std::string& id, const std::string& reviewer) {
            auto box = self.get();
            Check(NoGil([&] { return box->orchestrator->Approve(id, reviewer); }));
          },
          py::arg("task_id"), py::arg("reviewer"))
      .def(
          "reject",
          [](const PyOrchestrator& self, const std::string& id, const std::string& reviewer,
             const std::string& reason) {
            auto box = self.get();
            Check(NoGil([&] { return box->orchestrator->Reject(id, reviewer, reason); }));
          },
          py::arg("task_id"), py::arg("reviewer"), py::arg("reason") = "")
      .def(
          "logs",
          [](const PyOrchestrator& self, const std::string& id, uint64_t after_seq, size_t limit) {
            auto box = self.get();
            auto lines =
                Unwrap(NoGil([&] { return box->orchestrator->Logs(id, after_seq, limit); }));
            py::list out;
            for (const auto& l : lines) out.append(LogLineToDict(l));
            return out;
          },
          py::arg("task_id"), py::arg("after_seq") = 0, py::arg("limit") = 1000,
          "Log lines of a task with seq > after_seq, oldest first.")
      .def("stats",
           [](const PyOrchestrator& self) {
             auto box = self.get();
             kos::Orchestrator::Stats s = box->orchestrator->stats();
             py::dict d;
             d["running"] = s.running;
             d["queued"] = s.queued;
             d["max_running_seen"] = s.max_running_seen;
             d["started"] = s.started;
             d["recovered"] = s.recovered;
             return d;
           })
      .def(
          "shutdown",
          [](const PyOrchestrator& self, double grace) {
            auto box = self.get();
            absl::Duration g = Seconds(grace);
            Check(NoGil([&] { return box->orchestrator->Shutdown(g); }));
          },
          py::arg("grace") = 10.0,
          "Stops taking work, cancels running handlers and waits up to `grace` seconds.");
  BindContextManager(orch);
}

}  // namespace kos_py
