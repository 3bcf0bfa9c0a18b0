// Kernel: the whole libkos stack built from one config directory, as the
// reference servers and the `kos` CLI run it.
//
//   config/system.json                 system settings (kos/config.h)
//   config/agents/manifest.json        agent profiles (kos/agent_config.h)
//   config/security/auth-policies.json RBAC roles and grants (kos/rbac.h)
//   data/kos.db                        the Store (SQLite) unless store_uri is set
//   data/blobs/                        artifact contents
//   data/memory-index/                 saved vector indexes (reloaded on open)
//   data/master.key                    development-only vault master key
//   logs/{system,agents,security}/     JSONL streams (kos/telemetry.h)
//
// Wiring: the vault's master key comes from `security.encryptionKey` (an
// env:/file: reference); the vault protects the JWT signing keys and the
// artifact keys; every security event (login failures, lockouts, refused
// tasks) goes to the security log stream and the hash-chained audit log;
// the orchestrator runs the configured agents under `agents.maxConcurrent`.
// Applications that want only some services build those components directly;
// the Kernel is the reference composition, not a requirement.
#ifndef KOS_KERNEL_H_
#define KOS_KERNEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/agent_config.h"
#include "kos/api_keys.h"
#include "kos/artifact.h"
#include "kos/audit.h"
#include "kos/authenticator.h"
#include "kos/blob_store.h"
#include "kos/clock.h"
#include "kos/config.h"
#include "kos/embedder.h"
#include "kos/ephemeral.h"
#include "kos/export.h"
#include "kos/intrusion.h"
#include "kos/memory.h"
#include "kos/oauth2.h"
#include "kos/orchestrator.h"
#include "kos/prompt.h"
#include "kos/rate_limiter.h"
#include "kos/rbac.h"
#include "kos/sessions.h"
#include "kos/signed_task.h"
#include "kos/store.h"
#include "kos/telemetry.h"
#include "kos/tokens.h"
#include "kos/users.h"
#include "kos/vault.h"

namespace kos {

struct KernelOptions {
  // config/ directory. Missing files mean defaults (no agents, no RBAC
  // grants beyond the built-in admin role). Default "config".
  std::string config_dir = "config";
  // Data directory: the SQLite store, blobs and the development master key.
  // Created (mode 0700) if absent. Default "data".
  std::string data_dir = "data";
  // JSONL log root. Default "logs".
  std::string logs_dir = "logs";
  // Store URI (kos/store.h); "" = sqlite:<data_dir>/kos.db.
  std::string store_uri;
  // Sessions, rate limits and lockouts (kos/ephemeral.h): "memory:" or
  // redis://host:port/db. Default "memory:".
  std::string ephemeral_uri = "memory:";
  // JWT "iss" and "aud". Defaults "kos" / "kos-api".
  std::string issuer = "kos";
  std::string audience = "kos-api";
  // Environment for the config overrides and secret references. Default: the
  // process environment.
  EnvMap env = ProcessEnv();
  // Source of time for every component. Not owned. Default: the real clock.
  Clock* clock = Clock::Real();
  // Password hashing cost; tests lower it to PasswordHasherOptions::Minimum().
  // Default: Argon2id at OWASP's minimum (kos/crypto.h).
  PasswordHasherOptions password_hashing;
  // Dimension of the built-in hashing embedder used for text memory. Default 384.
  int embedding_dimension = 384;
  // Registers a development handler for every enabled "native" agent that has
  // none: it logs the input and returns {"agent","input"}. Lets the reference
  // server run tasks end to end before an application registers real
  // handlers. Default false.
  bool development_handlers = false;
  // Runs the orchestrator (workers, and recovery of tasks left running).
  // Recovery assumes no other process is running those tasks, so Open takes
  // an exclusive lock on <data_dir>/orchestrator.lock and fails with
  // FAILED_PRECONDITION while another process holds it. Tools that only read
  // or write records (the CLI's user, vault, memory commands) set this to
  // false and may run next to a server; orchestrator() is then null.
  // Default true.
  bool run_orchestrator = true;
  // Rate-limit classes (global, api, auth by default: the seed's gateway).
  std::vector<RateLimitClass> rate_limits = DefaultRateLimitClasses();
};

// Issuer the Kernel signs tasks with on behalf of authenticated callers
// (POST /agents/{name}/execute), after checking the caller's own
// `agents:<name>:execute` permission. Its key lives in the vault; the RBAC
// policy must grant this subject `agents:*:execute` (deploy/config does).
inline constexpr char kKernelTaskIssuer[] = "service:kernel";

// Owns every component. Thread-safe: the accessors return components that
// are themselves thread-safe; Shutdown() must not race with Open().
class KOS_EXPORT Kernel {
 public:
  static absl::StatusOr<std::unique_ptr<Kernel>> Open(const KernelOptions& options);
  // Shuts down with a 10 s grace if Shutdown() was not called.
  ~Kernel();

  const KernelOptions& options() const { return options_; }
  const SystemConfig& config() const { return config_; }
  const std::vector<AgentProfile>& agents() const { return agents_; }

  Store* store() const { return store_.get(); }
  Ephemeral* ephemeral() const { return ephemeral_.get(); }
  BlobStore* blobs() const { return blobs_.get(); }
  AuditLog* audit() const { return audit_.get(); }
  Telemetry* telemetry() const { return telemetry_.get(); }
  Vault* vault() const { return vault_.get(); }
  UserStore* users() const { return users_.get(); }
  SessionManager* sessions() const { return sessions_.get(); }
  SigningKeyring* keyring() const { return keyring_.get(); }
  AccessTokenService* tokens() const { return tokens_.get(); }
  OAuthClientRegistry* clients() const { return clients_.get(); }
  Authenticator* auth() const { return auth_.get(); }
  TokenEndpoint* token_endpoint() const { return token_endpoint_.get(); }
  ApiKeyManager* api_keys() const { return api_keys_.get(); }
  AccessController* access() const { return access_.get(); }
  RateLimiter* rate_limiter() const { return rate_limiter_.get(); }
  IntrusionDetector* intrusion() const { return intrusion_.get(); }
  KeyRegistry* task_keys() const { return task_keys_.get(); }
  TaskSigner* task_signer() const { return task_signer_.get(); }
  // Null when KernelOptions::run_orchestrator is false.
  Orchestrator* orchestrator() const { return orchestrator_.get(); }
  Embedder* embedder() const { return embedder_.get(); }
  Memory* memory() const { return memory_.get(); }
  PromptRegistry* prompts() const { return prompts_.get(); }
  ArtifactStore* artifacts() const { return artifacts_.get(); }
  // Where every security event goes (security log stream + audit log).
  const SecurityEventSink& security_events() const { return security_sink_; }

  // Creates user `username` with role "admin" and a random password unless a
  // user with that name exists; writes the password to `password_file` (mode
  // 0600, created exclusively) and returns true when it created the user.
  absl::StatusOr<bool> EnsureAdmin(absl::string_view username, absl::string_view password_file);

  // Stops taking tasks, lets running handlers finish up to `grace`, then
  // flushes the logs. Idempotent.
  absl::Status Shutdown(absl::Duration grace = absl::Seconds(10));

 private:
  explicit Kernel(const KernelOptions& options) : options_(options) {}
  absl::Status Build();
  absl::Status OpenStorage();
  absl::Status OpenSecurity();
  absl::Status OpenAuthn();
  absl::Status OpenServices();
  absl::Status OpenOrchestrator();

  KernelOptions options_;
  SystemConfig config_;
  std::vector<AgentProfile> agents_;
  bool shut_down_ = false;
  int orchestrator_lock_fd_ = -1;  // flock'ed while this kernel runs the orchestrator

  // Declaration order is destruction order in reverse: users of a component
  // are declared after it.
  std::unique_ptr<Store> store_;
  std::unique_ptr<Ephemeral> ephemeral_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Telemetry> telemetry_;
  SecurityEventSink security_sink_;
  std::unique_ptr<SecretBytes> master_key_;
  std::unique_ptr<Vault> vault_;
  std::unique_ptr<UserStore> users_;
  std::unique_ptr<SessionManager> sessions_;
  std::unique_ptr<SigningKeyring> keyring_;
  std::unique_ptr<AccessTokenService> tokens_;
  std::unique_ptr<OAuthClientRegistry> clients_;
  std::unique_ptr<IntrusionDetector> intrusion_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<TokenEndpoint> token_endpoint_;
  std::unique_ptr<ApiKeyManager> api_keys_;
  std::unique_ptr<AccessController> access_;
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<KeyRegistry> task_keys_;
  std::unique_ptr<TaskSigner> task_signer_;
  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<Memory> memory_;
  std::unique_ptr<PromptRegistry> prompts_;
  std::unique_ptr<VaultArtifactKeys> artifact_keys_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<Orchestrator> orchestrator_;
};

}  // namespace kos

#endif  // KOS_KERNEL_H_
