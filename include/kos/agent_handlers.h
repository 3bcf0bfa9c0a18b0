// Built-in agent handlers.
//
// kBridge: forwards a task to an OpenAI-compatible `/v1/chat/completions`
// endpoint. Task input: {"messages":[{"role":"user","content":"..."}, ...]}
// or {"prompt":"..."}; optional "temperature" and "max_tokens" override the
// profile. Output: {"content", "finish_reason", "model", "usage"}.
//
// kMemory: add, search and recall over kos::Memory. Task input:
//   {"op": "add", "namespace": "user/alice", "text": "...",
//    "metadata": {...}, "importance": 0.5, "id": "..."}   -> {"id", "namespace"}
//   {"op": "search" | "recall", "namespace": "...", "text": "...",
//    "k": 10, "filter": {...}}   -> {"hits": [{"id", "text", "metadata",
//                                   "importance", "score", "similarity"}], "namespace"}
// Before touching memory the handler checks the running agent's permission
// with TaskContext::Authorize on resource "memory:ns/<namespace>" (action
// "write" for add, "read" for search and recall), the names Memory::As()
// uses, so one policy (e.g. "memory:ns/**:*") covers both.
#ifndef KOS_AGENT_HANDLERS_H_
#define KOS_AGENT_HANDLERS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kos/agent_config.h"
#include "kos/export.h"
#include "kos/memory.h"
#include "kos/orchestrator.h"

namespace kos {

struct ChatBridgeOptions {
  // e.g. "http://127.0.0.1:8000/v1" or "https://api.example.com".
  std::string base_url;
  std::string model;
  // Bearer token; read it from the vault (profile "apiKeySecret"). Never logged.
  std::string api_key;
  double temperature = 0.7;
  int max_tokens = 0;  // 0: the server's default
  // Prepended as a "system" message when set.
  std::string system_prompt;
  // Per HTTP request; keep it below the agent's task timeout.
  absl::Duration timeout = absl::Seconds(60);
  // Largest number of messages and total characters accepted from a task.
  size_t max_messages = 256;
  size_t max_input_chars = 1 << 20;
};

// Reads baseUrl, name, temperature, maxTokens and systemPrompt from a
// profile's "model" settings. INVALID_ARGUMENT if baseUrl or name is missing.
KOS_EXPORT absl::StatusOr<ChatBridgeOptions> ChatBridgeOptionsFromProfile(
    const AgentProfile& profile, std::string api_key);

// INVALID_ARGUMENT for a bad base URL or model. The handler returns
// INVALID_ARGUMENT for bad task input (not retried) and the server's failure
// mapped to a status otherwise (UNAVAILABLE and RESOURCE_EXHAUSTED are
// retried under the task's retry policy).
KOS_EXPORT absl::StatusOr<AgentHandler> MakeChatBridgeHandler(const ChatBridgeOptions& options);

struct MemoryHandlerOptions {
  // Results returned when a task gives no "k". Default 10.
  size_t default_k = 10;
  // Largest "k" a task may ask for (1..10000). Default 100.
  size_t max_k = 100;
  // Create a missing namespace (embedder dimension, default index) on "add"
  // instead of failing with NOT_FOUND. Default false.
  bool create_namespaces = false;
  // Scoring for "recall".
  RecallOptions recall;
};

// INVALID_ARGUMENT for a null memory or bad options. The handler returns
// INVALID_ARGUMENT for bad task input and PERMISSION_DENIED when the agent
// may not use the namespace (neither is retried), and Memory's own errors
// otherwise. `memory` is not owned and must outlive the handler.
KOS_EXPORT absl::StatusOr<AgentHandler> MakeMemoryHandler(Memory* memory,
                                                          MemoryHandlerOptions options = {});

}  // namespace kos

#endif  // KOS_AGENT_HANDLERS_H_
