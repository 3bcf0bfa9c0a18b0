#include "prompt/prompt_codec.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kos/crypto.h"
#include "kos/status.h"

namespace kos::prompt_internal {
namespace {

constexpr size_t kMaxNameBytes = 128;
constexpr size_t kMaxLabelBytes = 64;
constexpr size_t kMaxVariableNameBytes = 64;
constexpr size_t kMaxVariables = 256;
constexpr size_t kMaxMessages = 1000;
constexpr size_t kMaxDescriptionBytes = 4096;

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

absl::Status CheckToken(absl::string_view what, absl::string_view s, size_t max_len,
                        bool allow_dot_dash) {
  if (s.empty() || s.size() > max_len) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be 1..", max_len, " characters, got ", s.size()));
  }
  for (char c : s) {
    bool ok = allow_dot_dash ? IsNameChar(c)
                             : (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok) {
      // Never echo arbitrary bytes back: show only a printable summary.
      return absl::InvalidArgumentError(absl::StrCat(
          what, " '", absl::CHexEscape(s.substr(0, 64)), "' may only contain ",
          allow_dot_dash ? "letters, digits, '_', '.' and '-'" : "letters, digits and '_'"));
    }
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(s[0])) && !(!allow_dot_dash && s[0] == '_')) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", s, "' must start with a letter or digit"));
  }
  return absl::OkStatus();
}

bool HasType(const Json& v, PromptVariableType t) {
  switch (t) {
    case PromptVariableType::kString:
      return v.is_string();
    case PromptVariableType::kNumber:
      return v.is_number();
    case PromptVariableType::kBoolean:
      return v.is_boolean();
    case PromptVariableType::kList:
      return v.is_array();
    case PromptVariableType::kObject:
      return v.is_object();
  }
  return false;
}

const char* ValueTypeName(const Json& v) {
  if (v.is_array()) return "list";
  if (v.is_number()) return "number";
  return JsonTypeName(v);
}

absl::StatusOr<PromptVariableType> ParseType(absl::string_view s) {
  for (auto t :
       {PromptVariableType::kString, PromptVariableType::kNumber, PromptVariableType::kBoolean,
        PromptVariableType::kList, PromptVariableType::kObject}) {
    if (s == PromptVariableTypeName(t)) return t;
  }
  return absl::DataLossError(absl::StrCat("stored prompt has unknown variable type '", s, "'"));
}

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("stored prompt is malformed: ", what));
}

}  // namespace

absl::Status ValidateTemplateName(absl::string_view name) {
  return CheckToken("template name", name, kMaxNameBytes, true);
}

absl::Status ValidateLabel(absl::string_view label) {
  return CheckToken("label", label, kMaxLabelBytes, true);
}

absl::Status ValidateVariables(const std::vector<PromptVariable>& variables) {
  if (variables.size() > kMaxVariables) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxVariables, " variables may be declared"));
  }
  std::set<std::string> seen;
  for (const PromptVariable& v : variables) {
    KOS_RETURN_IF_ERROR(CheckToken("variable name", v.name, kMaxVariableNameBytes, false));
    if (absl::ascii_isdigit(static_cast<unsigned char>(v.name[0]))) {
      return absl::InvalidArgumentError(
          absl::StrCat("variable name '", v.name, "' must not start with a digit"));
    }
    if (!seen.insert(v.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("variable '", v.name, "' declared twice"));
    }
    if (v.default_value.has_value()) {
      if (v.required) {
        return absl::InvalidArgumentError(absl::StrCat(
            "variable '", v.name, "' is required and has a default; make it optional"));
      }
      if (!HasType(*v.default_value, v.type)) {
        return absl::InvalidArgumentError(
            absl::StrCat("variable '", v.name, "': default is ", ValueTypeName(*v.default_value),
                         ", declared ", PromptVariableTypeName(v.type)));
      }
    }
    if (v.description.size() > kMaxDescriptionBytes || !IsValidUtf8(v.description)) {
      return absl::InvalidArgumentError(absl::StrCat("variable '", v.name,
                                                     "': description must be UTF-8 of at most ",
                                                     kMaxDescriptionBytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateContent(const PromptContent& content, size_t max_template_bytes) {
  const bool has_text = !content.text.empty();
  const bool has_messages = !content.messages.empty();
  if (has_text == has_messages) {
    return absl::InvalidArgumentError(
        "a prompt needs exactly one of a non-empty text or a non-empty list of messages");
  }
  if (content.messages.size() > kMaxMessages) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxMessages, " messages"));
  }
  size_t total = content.text.size();
  if (!IsValidUtf8(content.text)) {
    return absl::InvalidArgumentError("template text is not valid UTF-8");
  }
  for (size_t i = 0; i < content.messages.size(); ++i) {
    const ChatMessage& m = content.messages[i];
    absl::Status s = CheckToken("role", m.role, 64, true);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("message ", i + 1, ": ", s.message()));
    }
    if (!IsValidUtf8(m.content)) {
      return absl::InvalidArgumentError(
          absl::StrCat("message ", i + 1, " content is not valid UTF-8"));
    }
    total += m.content.size();
  }
  if (total > max_template_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("template is ", total, " bytes; the limit is ", max_template_bytes));
  }
  return ValidateVariables(content.variables);
}

absl::Status ApplyDeclarations(const std::vector<PromptVariable>& decls, const Json& vars,
                               std::optional<Json>* filled) {
  filled->reset();
  if (decls.empty()) return absl::OkStatus();
  size_t present = 0;
  bool needs_fill = false;
  for (const PromptVariable& d : decls) {
    auto it = vars.find(d.name);
    if (it == vars.end()) {
      if (d.required) {
        return absl::InvalidArgumentError(absl::StrCat("missing required variable '", d.name, "'"));
      }
      needs_fill = true;
      continue;
    }
    ++present;
    if (!HasType(*it, d.type)) {
      return absl::InvalidArgumentError(absl::StrCat("variable '", d.name, "': expected ",
                                                     PromptVariableTypeName(d.type), ", got ",
                                                     ValueTypeName(*it)));
    }
  }
  // Every declared name found once, so any extra key is undeclared.
  if (present != vars.size()) {
    for (auto it = vars.begin(); it != vars.end(); ++it) {
      bool declared = false;
      for (const PromptVariable& d : decls) declared = declared || d.name == it.key();
      if (declared) continue;
      std::vector<std::string> names;
      for (const PromptVariable& d : decls) names.push_back(d.name);
      return absl::InvalidArgumentError(
          absl::StrCat("undeclared variable '", absl::CHexEscape(it.key().substr(0, 64)),
                       "' (declared: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  if (!needs_fill) return absl::OkStatus();
  Json out = vars;
  for (const PromptVariable& d : decls) {
    if (!out.contains(d.name)) {
      out[d.name] = d.default_value.has_value() ? *d.default_value : Json(nullptr);
    }
  }
  *filled = std::move(out);
  return absl::OkStatus();
}

Json EncodeMessages(const std::vector<ChatMessage>& messages) {
  Json arr = Json::array();
  for (const ChatMessage& m : messages) arr.push_back({{"role", m.role}, {"content", m.content}});
  return arr;
}

Json EncodeContent(const PromptContent& content) {
  Json j = Json::object();
  if (!content.messages.empty()) {
    j["messages"] = EncodeMessages(content.messages);
  } else {
    j["text"] = content.text;
  }
  Json vars = Json::array();
  for (const PromptVariable& v : content.variables) {
    Json jv = {
        {"name", v.name}, {"type", PromptVariableTypeName(v.type)}, {"required", v.required}};
    if (v.default_value.has_value()) jv["default"] = *v.default_value;
    if (!v.description.empty()) jv["description"] = v.description;
    vars.push_back(std::move(jv));
  }
  j["variables"] = std::move(vars);
  return j;
}

absl::StatusOr<PromptContent> DecodeContent(const Json& j) {
  if (!j.is_object()) return Corrupt("content is not an object");
  PromptContent c;
  if (auto t = j.find("text"); t != j.end()) {
    if (!t->is_string()) return Corrupt("text is not a string");
    c.text = t->get<std::string>();
  }
  if (auto m = j.find("messages"); m != j.end()) {
    if (!m->is_array()) return Corrupt("messages is not a list");
    for (const Json& jm : *m) {
      if (!jm.is_object() || !jm.contains("role") || !jm["role"].is_string() ||
          !jm.contains("content") || !jm["content"].is_string()) {
        return Corrupt("message without string role/content");
      }
      c.messages.push_back({jm["role"].get<std::string>(), jm["content"].get<std::string>()});
    }
  }
  auto vars = j.find("variables");
  if (vars == j.end() || !vars->is_array()) return Corrupt("variables is not a list");
  for (const Json& jv : *vars) {
    if (!jv.is_object() || !jv.contains("name") || !jv["name"].is_string() ||
        !jv.contains("type") || !jv["type"].is_string() || !jv.contains("required") ||
        !jv["required"].is_boolean()) {
      return Corrupt("variable without name/type/required");
    }
    PromptVariable v;
    v.name = jv["name"].get<std::string>();
    KOS_ASSIGN_OR_RETURN(v.type, ParseType(jv["type"].get<std::string>()));
    v.required = jv["required"].get<bool>();
    if (jv.contains("default")) v.default_value = jv["default"];
    if (jv.contains("description") && jv["description"].is_string()) {
      v.description = jv["description"].get<std::string>();
    }
    c.variables.push_back(std::move(v));
  }
  return c;
}

std::string DiffDocument(const PromptContent& content) {
  std::string doc;
  if (content.messages.empty()) {
    doc = content.text;
    if (!doc.empty() && doc.back() != '\n') doc.push_back('\n');
  } else {
    for (const ChatMessage& m : content.messages) {
      absl::StrAppend(&doc, "### ", m.role, "\n", m.content);
      if (m.content.empty() || m.content.back() != '\n') doc.push_back('\n');
    }
  }
  if (!content.variables.empty()) {
    doc += "#### variables\n";
    for (const PromptVariable& v : content.variables) {
      absl::StrAppend(&doc, v.name, ": ", PromptVariableTypeName(v.type),
                      v.required ? " (required)" : " (optional)");
      if (v.default_value.has_value()) absl::StrAppend(&doc, " = ", DumpJson(*v.default_value));
      doc.push_back('\n');
    }
  }
  return doc;
}

std::string HashHex(absl::string_view data) {
  // 32 bytes is always a valid BLAKE2b output size.
  absl::StatusOr<std::string> h = Blake2b(data, 32);
  return h.ok() ? absl::BytesToHexString(*h) : std::string();
}

}  // namespace kos::prompt_internal

namespace kos {

const char* PromptVariableTypeName(PromptVariableType type) {
  switch (type) {
    case PromptVariableType::kString:
      return "string";
    case PromptVariableType::kNumber:
      return "number";
    case PromptVariableType::kBoolean:
      return "boolean";
    case PromptVariableType::kList:
      return "list";
    case PromptVariableType::kObject:
      return "object";
  }
  return "unknown";
}

}  // namespace kos
