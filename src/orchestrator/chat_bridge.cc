#include "absl/strings/str_cat.h"
#include "kos/agent_handlers.h"
#include "kos/status.h"
#include "openai/openai_client.h"

namespace kos {

absl::StatusOr<ChatBridgeOptions> ChatBridgeOptionsFromProfile(const AgentProfile& profile,
                                                               std::string api_key) {
  const Json& m = profile.model;
  ChatBridgeOptions o;
  o.api_key = std::move(api_key);
  auto str = [&](const char* key, std::string* out, bool required) -> absl::Status {
    if (!m.contains(key)) {
      return required ? absl::InvalidArgumentError(
                            absl::StrCat("agent '", profile.name, "': model.", key, " is required"))
                      : absl::OkStatus();
    }
    if (!m[key].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent '", profile.name, "': model.", key, " must be a string"));
    }
    *out = m[key].get<std::string>();
    return absl::OkStatus();
  };
  KOS_RETURN_IF_ERROR(str("baseUrl", &o.base_url, true));
  KOS_RETURN_IF_ERROR(str("name", &o.model, true));
  KOS_RETURN_IF_ERROR(str("systemPrompt", &o.system_prompt, false));
  if (m.contains("temperature")) {
    if (!m["temperature"].is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent '", profile.name, "': model.temperature must be a number"));
    }
    o.temperature = m["temperature"].get<double>();
  }
  if (m.contains("maxTokens")) {
    if (!m["maxTokens"].is_number_integer()) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent '", profile.name, "': model.maxTokens must be an integer"));
    }
    o.max_tokens = m["maxTokens"].get<int>();
  }
  if (profile.limits.timeout > absl::ZeroDuration()) o.timeout = profile.limits.timeout;
  return o;
}

namespace {

absl::StatusOr<Json> BuildMessages(const ChatBridgeOptions& o, const Json& input) {
  Json messages = Json::array();
  if (!o.system_prompt.empty())
    messages.push_back({{"role", "system"}, {"content", o.system_prompt}});
  size_t chars = 0;
  if (input.contains("messages")) {
    const Json& in = input["messages"];
    if (!in.is_array() || in.empty() || in.size() > o.max_messages) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.messages must be an array of 1..", o.max_messages, " messages"));
    }
    for (size_t i = 0; i < in.size(); ++i) {
      const Json& m = in[i];
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
          !m.contains("content") || !m["content"].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input.messages[", i, "] must be {\"role\": string, \"content\": string}"));
      }
      const std::string role = m["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant") {
        return absl::InvalidArgumentError(
            absl::StrCat("input.messages[", i, "].role must be system, user or assistant"));
      }
      chars += m["content"].get_ref<const std::string&>().size();
      messages.push_back({{"role", role}, {"content", m["content"]}});
    }
  } else if (input.contains("prompt") && input["prompt"].is_string()) {
    chars = input["prompt"].get_ref<const std::string&>().size();
    messages.push_back({{"role", "user"}, {"content", input["prompt"]}});
  } else {
    return absl::InvalidArgumentError("input needs \"messages\" (array) or \"prompt\" (string)");
  }
  if (chars > o.max_input_chars) {
    return absl::InvalidArgumentError(
        absl::StrCat("input is ", chars, " characters; the limit is ", o.max_input_chars));
  }
  return messages;
}

}  // namespace

absl::StatusOr<AgentHandler> MakeChatBridgeHandler(const ChatBridgeOptions& options) {
  if (options.model.empty()) return absl::InvalidArgumentError("chat bridge needs a model");
  KOS_ASSIGN_OR_RETURN(openai::Client client,
                       openai::Client::Create(options.base_url, "chat/completions", options.api_key,
                                              options.timeout));
  return AgentHandler([options, client](TaskContext& ctx) -> absl::StatusOr<Json> {
    KOS_ASSIGN_OR_RETURN(Json messages, BuildMessages(options, ctx.input()));
    Json body = {{"model", options.model}, {"messages", messages}};
    body["temperature"] = ctx.input().value("temperature", options.temperature);
    int max_tokens = ctx.input().value("max_tokens", options.max_tokens);
    if (max_tokens > 0) body["max_tokens"] = max_tokens;
    if (ctx.cancelled()) return absl::CancelledError("cancelled before the request");
    // Content may be sensitive: the task log records sizes, not text.
    ctx.Log(LogLevel::kInfo, "bridge.request",
            {{"model", options.model}, {"messages", messages.size()}});
    KOS_ASSIGN_OR_RETURN(Json reply, client.Post(body));
    const Json* choice = nullptr;
    if (reply.is_object() && reply.contains("choices") && reply["choices"].is_array() &&
        !reply["choices"].empty()) {
      choice = &reply["choices"][0];
    }
    if (choice == nullptr || !choice->is_object() || !choice->contains("message") ||
        !(*choice)["message"].is_object() || !(*choice)["message"].contains("content") ||
        !(*choice)["message"]["content"].is_string()) {
      return absl::InternalError("malformed chat completion: no choices[0].message.content");
    }
    Json out = {{"content", (*choice)["message"]["content"]},
                {"finish_reason", choice->value("finish_reason", Json(nullptr))},
                {"model", reply.value("model", Json(options.model))},
                {"usage", reply.value("usage", Json::object())}};
    ctx.Log(LogLevel::kInfo, "bridge.response",
            {{"finish_reason", out["finish_reason"]}, {"usage", out["usage"]}});
    return out;
  });
}

}  // namespace kos
