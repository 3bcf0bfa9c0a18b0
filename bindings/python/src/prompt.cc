// kos.PromptRegistry: versioned, labelled Mustache templates with strict
// rendering and render history.
#include "kos/prompt.h"

#include "common.h"

namespace kos_py {
namespace {

struct PromptBox {
  std::shared_ptr<StoreBox> store;
  std::shared_ptr<kos::Clock> clock;
  std::unique_ptr<kos::PromptRegistry> registry;
};
using PyPromptRegistry = Handle<PromptBox>;

kos::PromptVariableType ParseType(const std::string& s) {
  if (s == "string") return kos::PromptVariableType::kString;
  if (s == "number") return kos::PromptVariableType::kNumber;
  if (s == "boolean") return kos::PromptVariableType::kBoolean;
  if (s == "list") return kos::PromptVariableType::kList;
  if (s == "object") return kos::PromptVariableType::kObject;
  ThrowStatus(absl::InvalidArgumentError(
      "variable type must be string, number, boolean, list or object, not '" + s + "'"));
}

py::list MessagesToPy(const std::vector<kos::ChatMessage>& ms) {
  py::list out;
  for (const auto& msg : ms) {
    py::dict d;
    d["role"] = msg.role;
    d["content"] = msg.content;
    out.append(d);
  }
  return out;
}

py::dict VersionToDict(const kos::PromptVersion& v) {
  py::dict d;
  d["name"] = v.name;
  d["version"] = v.version;
  d["text"] = v.content.text;
  d["messages"] = MessagesToPy(v.content.messages);
  py::list vars;
  for (const auto& var : v.content.variables) {
    py::dict e;
    e["name"] = var.name;
    e["type"] = kos::PromptVariableTypeName(var.type);
    e["required"] = var.required;
    e["default"] = var.default_value ? FromJson(*var.default_value) : py::none();
    e["description"] = var.description;
    vars.append(e);
  }
  d["variables"] = vars;
  d["author"] = v.author;
  d["commit_message"] = v.commit_message;
  d["created"] = TimeToPy(v.created);
  d["hash"] = v.hash;
  d["is_chat"] = v.is_chat();
  return d;
}

py::dict RenderedToDict(const kos::RenderedPrompt& r) {
  py::dict d;
  d["name"] = r.name;
  d["version"] = r.version;
  d["text"] = r.text;
  d["messages"] = MessagesToPy(r.messages);
  d["template_hash"] = r.template_hash;
  d["input_hash"] = r.input_hash;
  d["output_hash"] = r.output_hash;
  d["history_id"] = r.history_id;
  return d;
}

py::dict RecordToDict(const kos::RenderRecord& r) {
  py::dict d;
  d["id"] = r.id;
  d["name"] = r.name;
  d["version"] = r.version;
  d["template_hash"] = r.template_hash;
  d["input_hash"] = r.input_hash;
  d["output_hash"] = r.output_hash;
  d["caller"] = r.caller;
  d["time"] = TimeToPy(r.time);
  d["output"] = r.output ? py::object(py::str(*r.output)) : py::none();
  d["output_truncated"] = r.output_truncated;
  return d;
}

kos::PromptRef MakeRef(const std::string& label, int64_t version) {
  kos::PromptRef ref;
  ref.label = label;
  ref.version = version;
  return ref;
}

}  // namespace

void BindPrompt(py::module_& m) {
  py::class_<PyPromptRegistry> cls(
      m, "PromptRegistry",
      "Versioned, labelled Mustache prompt templates in a Store, strict rendering (a missing "
      "variable is an error) and a render history with hashes. Thread-safe.");
  cls.def(py::init([](const PyStore& store, const std::string& collection_prefix, bool strict,
                      bool record_history, bool store_outputs, bool html_escape,
                      std::optional<PyClock> clock) {
            auto box = std::make_shared<PromptBox>();
            box->store = store.get();
            box->clock = clock ? ClockOrReal(clock) : box->store->clock;
            kos::PromptRegistryOptions o;
            o.store = box->store->store.get();
            o.clock = box->clock.get();
            o.collection_prefix = collection_prefix;
            o.strict = strict;
            o.record_history = record_history;
            o.store_outputs = store_outputs;
            o.html_escape = html_escape;
            box->registry = Unwrap(kos::PromptRegistry::Open(o));
            return PyPromptRegistry{std::move(box), "PromptRegistry"};
          }),
          py::arg("store"), py::arg("collection_prefix") = "prompt", py::arg("strict") = true,
          py::arg("record_history") = true, py::arg("store_outputs") = false,
          py::arg("html_escape") = false, py::arg("clock") = py::none())
      .def(
          "save",
          [](const PyPromptRegistry& self, const std::string& name, const std::string& text,
             std::optional<py::list> messages, std::optional<py::list> variables,
             const std::vector<std::string>& labels, const std::string& author,
             const std::string& commit_message, std::optional<int64_t> expected_latest_version) {
            auto box = self.get();
            kos::PromptContent c;
            c.text = text;
            if (messages) {
              for (auto item : *messages) {
                py::dict d = py::reinterpret_borrow<py::dict>(item);
                c.messages.push_back(
                    {d["role"].cast<std::string>(), d["content"].cast<std::string>()});
              }
            }
            if (variables) {
              for (auto item : *variables) {
                py::dict d = py::reinterpret_borrow<py::dict>(item);
                kos::PromptVariable v;
                v.name = d["name"].cast<std::string>();
                if (d.contains("type")) v.type = ParseType(d["type"].cast<std::string>());
                if (d.contains("required")) v.required = d["required"].cast<bool>();
                if (d.contains("default")) v.default_value = ToJson(d["default"]);
                if (d.contains("description")) v.description = d["description"].cast<std::string>();
                c.variables.push_back(std::move(v));
              }
            }
            kos::SavePromptOptions o;
            o.labels = labels;
            o.author = author;
            o.commit_message = commit_message;
            o.expected_latest_version = expected_latest_version;
            return VersionToDict(Unwrap(NoGil([&] { return box->registry->Save(name, c, o); })));
          },
          py::arg("name"), py::arg("text") = "", py::arg("messages") = py::none(),
          py::arg("variables") = py::none(), py::arg("labels") = std::vector<std::string>{},
          py::arg("author") = "", py::arg("commit_message") = "",
          py::arg("expected_latest_version") = py::none(),
          "Stores the next version of `name`: a text template or chat `messages` (list of "
          "{'role','content'}), with declared `variables` (list of {'name','type','required',"
          "'default','description'}). Returns the version as a dict.")
      .def(
          "get",
          [](const PyPromptRegistry& self, const std::string& name, const std::string& label,
             int64_t version) {
            auto box = self.get();
            kos::PromptRef ref = MakeRef(label, version);
            return VersionToDict(Unwrap(NoGil([&] { return box->registry->Get(name, ref); })));
          },
          py::arg("name"), py::arg("label") = "latest", py::arg("version") = 0,
          "Version `version` if > 0, else the version `label` points at.")
      .def(
          "render",
          [](const PyPromptRegistry& self, const std::string& name, py::object variables,
             const std::string& label, int64_t version, const std::string& caller) {
            auto box = self.get();
            kos::PromptRef ref = MakeRef(label, version);
            kos::Json vars = variables.is_none() ? kos::Json::object() : ToJson(variables);
            return RenderedToDict(
                Unwrap(NoGil([&] { return box->registry->Render(name, ref, vars, caller); })));
          },
          py::arg("name"), py::arg("variables") = py::none(), py::arg("label") = "latest",
          py::arg("version") = 0, py::arg("caller") = "python",
          "Renders strictly; InvalidArgumentError names a missing, undeclared or mistyped "
          "variable. Returns text (or messages) and the template/input/output hashes.")
      .def(
          "set_label",
          [](const PyPromptRegistry& self, const std::string& name, const std::string& label,
             int64_t version, std::optional<int64_t> expected_version) {
            auto box = self.get();
            Check(NoGil(
                [&] { return box->registry->SetLabel(name, label, version, expected_version); }));
          },
          py::arg("name"), py::arg("label"), py::arg("version"),
          py::arg("expected_version") = py::none())
      .def(
          "delete_label",
          [](const PyPromptRegistry& self, const std::string& name, const std::string& label) {
            auto box = self.get();
            Check(NoGil([&] { return box->registry->DeleteLabel(name, label); }));
          },
          py::arg("name"), py::arg("label"))
      .def(
          "labels",
          [](const PyPromptRegistry& self, const std::string& name) {
            auto box = self.get();
            return Unwrap(NoGil([&] { return box->registry->Labels(name); }));
          },
          py::arg("name"))
      .def("list_names",
           [](const PyPromptRegistry& self) {
             auto box = self.get();
             std::vector<std::string> all;
             std::string token;
             do {
               kos::PromptNamePage p =
                   Unwrap(NoGil([&] { return box->registry->ListNames(token, 1000); }));
               all.insert(all.end(), p.names.begin(), p.names.end());
               token = p.next_page_token;
             } while (!token.empty());
             return all;
           })
      .def(
          "diff",
          [](const PyPromptRegistry& self, const std::string& name, int64_t from, int64_t to) {
            auto box = self.get();
            return Unwrap(NoGil([&] { return box->registry->Diff(name, from, to); }));
          },
          py::arg("name"), py::arg("from_version"), py::arg("to_version"))
      .def(
          "history",
          [](const PyPromptRegistry& self, const std::string& name, size_t limit,
             const std::string& page_token) {
            auto box = self.get();
            kos::PromptHistoryQuery q;
            q.name = name;
            q.limit = limit;
            q.page_token = page_token;
            kos::PromptHistoryPage p = Unwrap(NoGil([&] { return box->registry->History(q); }));
            py::list records;
            for (const auto& r : p.records) records.append(RecordToDict(r));
            return py::make_tuple(records, p.next_page_token);
          },
          py::arg("name"), py::arg("limit") = 100, py::arg("page_token") = "",
          "(records, next_page_token): renders of `name`, oldest first.");
  BindContextManager(cls);
}

}  // namespace kos_py
