// System configuration: `config/system.json` as the kOS seed defines it, with
// defaults for every key, KOS_* environment overrides, and errors that say
// which key was wrong, what was expected and where.
//
//   {
//     "environment": "development",              // development | staging | production
//     "debug": false,
//     "logging":  {"level": "INFO", "format": "json", "rotation": "daily"},
//     "security": {"requireAuth": true, "encryptionKey": "env:KOS_MASTER_KEY",
//                  "sessionTimeout": 3600},      // seconds, or "1h", "30m"
//     "agents":   {"maxConcurrent": 10, "defaultTimeout": 300, "memoryLimit": "512MB"}
//   }
//
// `security.encryptionKey` must be a reference (`env:NAME` or `file:PATH`),
// never the key itself: a literal is refused so keys do not end up in config
// repositories.
#ifndef KOS_CONFIG_H_
#define KOS_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/export.h"
#include "kos/logger.h"

namespace kos {

enum class Environment { kDevelopment, kStaging, kProduction };
KOS_EXPORT const char* EnvironmentName(Environment e);

struct LoggingConfig {
  LogLevel level = LogLevel::kInfo;
  std::string format = "json";     // json | text
  std::string rotation = "daily";  // daily | weekly
};

struct SecurityConfig {
  bool require_auth = true;
  std::string encryption_key_ref;  // "env:NAME" or "file:PATH"; "" if unset
  absl::Duration session_timeout = absl::Hours(1);
};

struct AgentsConfig {
  int max_concurrent = 10;
  absl::Duration default_timeout = absl::Minutes(5);
  uint64_t memory_limit_bytes = 512ULL << 20;
};

struct SystemConfig {
  Environment environment = Environment::kDevelopment;
  bool debug = false;
  LoggingConfig logging;
  SecurityConfig security;
  AgentsConfig agents;
};

// Environment variables consulted by the loaders; tests pass their own map.
using EnvMap = std::map<std::string, std::string>;
// A snapshot of the process environment.
KOS_EXPORT EnvMap ProcessEnv();

// Parses system.json text. `source` names the file in error messages.
// Unknown keys are errors (a typo must not silently fall back to a default).
KOS_EXPORT absl::StatusOr<SystemConfig> ParseSystemConfig(absl::string_view json_text,
                                                          absl::string_view source,
                                                          const EnvMap& env = {});

// Loads `<config_dir>/system.json`; a missing file yields the defaults (plus
// environment overrides). Overrides: KOS_ENVIRONMENT, KOS_DEBUG, KOS_LOG_LEVEL,
// KOS_LOG_FORMAT, KOS_LOG_ROTATION, KOS_REQUIRE_AUTH, KOS_ENCRYPTION_KEY (a
// reference), KOS_SESSION_TIMEOUT, KOS_AGENTS_MAX_CONCURRENT,
// KOS_AGENTS_DEFAULT_TIMEOUT, KOS_AGENTS_MEMORY_LIMIT.
KOS_EXPORT absl::StatusOr<SystemConfig> LoadSystemConfig(absl::string_view config_dir,
                                                         const EnvMap& env = ProcessEnv());

// Parses sizes like "512MB", "1GiB", "4096" (bytes). KB/MB/GB are powers of
// 1024, as the seed uses them for memory limits.
KOS_EXPORT absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

// Resolves a secret reference: `env:NAME` reads the variable from `env`,
// `file:PATH` reads the file (which must not be readable by group or others).
// Errors never contain the secret.
KOS_EXPORT absl::StatusOr<std::string> ResolveSecretReference(absl::string_view ref,
                                                              const EnvMap& env = ProcessEnv());

}  // namespace kos

#endif  // KOS_CONFIG_H_
