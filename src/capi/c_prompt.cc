// C API: kos_prompt_registry_* and kos_prompt_* (kos/prompt.h).
#include "absl/strings/str_cat.h"
#include "capi/c_internal.h"

using kos::capi::CopyOut;
using kos::capi::Guard;
using kos::capi::JsonArg;
using kos::capi::Require;
using kos::capi::SetError;
using kos::capi::Str;

namespace {

using kos::Json;

absl::Status Bad(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

absl::StatusOr<kos::PromptVariable> ParseVariable(const Json& v, const std::string& where) {
  if (!v.is_object()) return Bad(where, "expected an object");
  kos::PromptVariable var;
  for (const auto& item : v.items()) {
    const std::string& key = item.key();
    const Json& val = item.value();
    if (key == "name" || key == "type" || key == "description") {
      if (!val.is_string()) return Bad(absl::StrCat(where, ".", key), "expected a string");
    }
    if (key == "name") {
      var.name = val.get<std::string>();
    } else if (key == "type") {
      std::string t = val.get<std::string>();
      bool found = false;
      for (auto type : {kos::PromptVariableType::kString, kos::PromptVariableType::kNumber,
                        kos::PromptVariableType::kBoolean, kos::PromptVariableType::kList,
                        kos::PromptVariableType::kObject}) {
        if (t == kos::PromptVariableTypeName(type)) var.type = type, found = true;
      }
      if (!found) {
        return Bad(absl::StrCat(where, ".type"),
                   "expected string, number, boolean, list or object");
      }
    } else if (key == "required") {
      if (!val.is_boolean()) return Bad(absl::StrCat(where, ".required"), "expected a boolean");
      var.required = val.get<bool>();
    } else if (key == "default") {
      var.default_value = val;
    } else if (key == "description") {
      var.description = val.get<std::string>();
    } else {
      return Bad(where, absl::StrCat("unknown key '", key.substr(0, 64), "'"));
    }
  }
  return var;
}

absl::StatusOr<kos::PromptContent> ParseContent(const char* content_json) {
  KOS_ASSIGN_OR_RETURN(Json j, JsonArg(content_json, "content_json", nullptr));
  if (!j.is_object()) return Bad("content_json", "expected an object");
  kos::PromptContent c;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& val = item.value();
    if (key == "text") {
      if (!val.is_string()) return Bad("content_json.text", "expected a string");
      c.text = val.get<std::string>();
    } else if (key == "messages") {
      if (!val.is_array()) return Bad("content_json.messages", "expected an array");
      for (size_t i = 0; i < val.size(); ++i) {
        const Json& m = val[i];
        std::string where = absl::StrCat("content_json.messages[", i, "]");
        if (!m.is_object() || m.size() != 2 || !m.contains("role") || !m.contains("content") ||
            !m["role"].is_string() || !m["content"].is_string()) {
          return Bad(where, "expected {\"role\": string, \"content\": string}");
        }
        c.messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
      }
    } else if (key == "variables") {
      if (!val.is_array()) return Bad("content_json.variables", "expected an array");
      for (size_t i = 0; i < val.size(); ++i) {
        KOS_ASSIGN_OR_RETURN(
            auto var, ParseVariable(val[i], absl::StrCat("content_json.variables[", i, "]")));
        c.variables.push_back(std::move(var));
      }
    } else {
      return Bad("content_json", absl::StrCat("unknown key '", key.substr(0, 64), "'"));
    }
  }
  return c;
}

absl::StatusOr<kos::SavePromptOptions> ParseSaveOptions(const char* options_json) {
  KOS_ASSIGN_OR_RETURN(Json j, JsonArg(options_json, "options_json", Json::object()));
  if (!j.is_object()) return Bad("options_json", "expected an object");
  kos::SavePromptOptions o;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& val = item.value();
    if (key == "author" || key == "commit_message") {
      if (!val.is_string()) return Bad(absl::StrCat("options_json.", key), "expected a string");
      (key == "author" ? o.author : o.commit_message) = val.get<std::string>();
    } else if (key == "labels") {
      if (!val.is_array()) return Bad("options_json.labels", "expected an array of strings");
      for (const auto& l : val) {
        if (!l.is_string()) return Bad("options_json.labels", "expected an array of strings");
        o.labels.push_back(l.get<std::string>());
      }
    } else if (key == "expected_latest_version") {
      if (!val.is_number_integer()) {
        return Bad("options_json.expected_latest_version", "expected an integer");
      }
      o.expected_latest_version = val.get<int64_t>();
    } else {
      return Bad("options_json", absl::StrCat("unknown key '", key.substr(0, 64), "'"));
    }
  }
  return o;
}

int64_t Save(kos_prompt_registry_t* registry, const char* name, const kos::PromptContent& content,
             const kos::SavePromptOptions& options, char** errptr) {
  auto v = registry->rep->Save(Str(name), content, options);
  if (!v.ok()) return SetError(errptr, v.status()), 0;
  return v->version;
}

absl::StatusOr<kos::RenderedPrompt> Render(kos_prompt_registry_t* registry, const char* name,
                                           const char* label, int64_t version,
                                           const char* variables_json, const char* caller) {
  if (version < 0) return absl::InvalidArgumentError("version must be >= 0");
  kos::PromptRef ref;
  if (version > 0) {
    ref = kos::PromptRef::Version(version);
  } else if (label != nullptr) {
    ref = kos::PromptRef::Label(label);
  }
  KOS_ASSIGN_OR_RETURN(Json vars, JsonArg(variables_json, "variables_json", Json::object()));
  return registry->rep->Render(Str(name), ref, vars, Str(caller));
}

Json MessagesJson(const std::vector<kos::ChatMessage>& messages) {
  Json out = Json::array();
  for (const auto& m : messages) out.push_back({{"role", m.role}, {"content", m.content}});
  return out;
}

}  // namespace

extern "C" {

kos_prompt_registry_t* kos_prompt_registry_open(kos_store_t* store, char** errptr) {
  return Guard(__func__, errptr, static_cast<kos_prompt_registry_t*>(nullptr),
               [&]() -> kos_prompt_registry_t* {
                 if (!Require(store, "store", errptr)) return nullptr;
                 kos::PromptRegistryOptions o;
                 o.store = store->rep.get();
                 auto r = kos::PromptRegistry::Open(o);
                 if (!r.ok()) return SetError(errptr, r.status()), nullptr;
                 return new kos_prompt_registry_t{std::move(*r)};
               });
}

void kos_prompt_registry_close(kos_prompt_registry_t* registry) {
  Guard(__func__, nullptr, 0, [&] {
    delete registry;
    return 0;
  });
}

int64_t kos_prompt_save_text(kos_prompt_registry_t* registry, const char* name, const char* text,
                             const char* label, char** errptr) {
  return Guard(__func__, errptr, int64_t{0}, [&]() -> int64_t {
    if (!Require(registry, "registry", errptr)) return 0;
    kos::PromptContent content;
    content.text = std::string(Str(text));
    kos::SavePromptOptions options;
    if (label != nullptr && *label != '\0') options.labels.emplace_back(label);
    return Save(registry, name, content, options, errptr);
  });
}

int64_t kos_prompt_save(kos_prompt_registry_t* registry, const char* name, const char* content_json,
                        const char* options_json, char** errptr) {
  return Guard(__func__, errptr, int64_t{0}, [&]() -> int64_t {
    if (!Require(registry, "registry", errptr)) return 0;
    auto content = ParseContent(content_json);
    if (!content.ok()) return SetError(errptr, content.status()), 0;
    auto options = ParseSaveOptions(options_json);
    if (!options.ok()) return SetError(errptr, options.status()), 0;
    return Save(registry, name, *content, *options, errptr);
  });
}

char* kos_prompt_render(kos_prompt_registry_t* registry, const char* name, const char* label,
                        int64_t version, const char* variables_json, const char* caller,
                        char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(registry, "registry", errptr)) return nullptr;
    auto r = Render(registry, name, label, version, variables_json, caller);
    if (!r.ok()) return SetError(errptr, r.status()), nullptr;
    if (!r->messages.empty()) {
      return CopyOut(kos::DumpJson(MessagesJson(r->messages)), nullptr, errptr);
    }
    return CopyOut(r->text, nullptr, errptr);
  });
}

char* kos_prompt_render_json(kos_prompt_registry_t* registry, const char* name, const char* label,
                             int64_t version, const char* variables_json, const char* caller,
                             char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(registry, "registry", errptr)) return nullptr;
    auto r = Render(registry, name, label, version, variables_json, caller);
    if (!r.ok()) return SetError(errptr, r.status()), nullptr;
    Json j = {{"name", r->name},
              {"version", r->version},
              {"template_hash", r->template_hash},
              {"input_hash", r->input_hash},
              {"output_hash", r->output_hash},
              {"history_id", r->history_id}};
    if (!r->messages.empty()) {
      j["messages"] = MessagesJson(r->messages);
    } else {
      j["text"] = r->text;
    }
    return CopyOut(kos::DumpJson(j), nullptr, errptr);
  });
}

}  // extern "C"
