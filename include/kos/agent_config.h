// Agent configuration: `config/agents/manifest.json` lists the agents and the
// profile each runs with; `config/agents/<name>:<profile>.json` describes one
// agent (type, version, permissions, limits, handler, model settings).
// Schema and examples: docs/agents.md; a full tree: deploy/config/agents/.
#ifndef KOS_AGENT_CONFIG_H_
#define KOS_AGENT_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/export.h"
#include "kos/json.h"

namespace kos {

struct AgentLimits {
  // Per-attempt timeout; zero: the orchestrator's default (agents.defaultTimeout).
  absl::Duration timeout = absl::ZeroDuration();
  // Tasks of this agent running at once; 0: bounded only by agents.maxConcurrent.
  int max_concurrency = 0;
  // Advisory memory budget for the handler (bytes); 0: none.
  uint64_t memory_limit_bytes = 0;
};

struct AgentProfile {
  std::string name;     // "kPlanner"
  std::string profile;  // "dev"
  std::string type;     // free-form role, e.g. "planner"
  std::string version;  // e.g. "1.0.0"
  std::string description;
  // How tasks run: "native" (a handler registered from C++, Python or C),
  // "bridge" (OpenAI-compatible chat completions), "memory" (memory API).
  std::string handler = "native";
  // RBAC permission patterns this agent holds, e.g. "memory:ns/**:read".
  std::vector<std::string> permissions;
  AgentLimits limits;
  // Model settings passed to the handler (provider, name, baseUrl, ...).
  Json model = Json::object();
  bool enabled = true;
};

// Parses one profile file. `source` names it in errors; `expected_name` and
// `expected_profile`, when non-empty, must match the file's own name.
KOS_EXPORT absl::StatusOr<AgentProfile> ParseAgentProfile(absl::string_view json_text,
                                                          absl::string_view source,
                                                          absl::string_view expected_name = "",
                                                          absl::string_view expected_profile = "");

// Loads `<agents_dir>/manifest.json` and every profile it names. Errors name
// the file and the key: `config/agents/kPlanner:dev.json: limits.timeout: ...`.
KOS_EXPORT absl::StatusOr<std::vector<AgentProfile>> LoadAgentProfiles(
    absl::string_view agents_dir);

// Agent and profile names: a letter, then up to 63 letters, digits, '_' or '-'.
KOS_EXPORT absl::Status ValidateAgentName(absl::string_view name);

}  // namespace kos

#endif  // KOS_AGENT_CONFIG_H_
