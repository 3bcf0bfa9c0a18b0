#include "kos/kernel.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kos/agent_handlers.h"
#include "kos/crypto.h"
#include "kos/security_events.h"
#include "kos/status.h"

namespace kos {
namespace {

namespace fs = std::filesystem;

absl::Status MakePrivateDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

// Where the orchestrator's refusals go: the same stream and audit log as the
// intrusion detector's events, so one query finds every refused action.
SecurityEvent OrchestratorEvent(absl::string_view event, const Json& fields, Clock* clock) {
  SecurityEvent e;
  std::string reason = fields.value("reason", std::string());
  e.type = absl::StrContains(reason, "replay") ? SecurityEventType::kReplayedTask
                                               : SecurityEventType::kSignatureFailure;
  if (event == "task.denied" || event == "agent.permission_denied") {
    e.type = SecurityEventType::kSignatureFailure;
  }
  e.severity = SecuritySeverity::kWarning;
  e.time = clock->Now();
  e.subject = fields.value("agent", std::string());
  e.account = fields.value("issuer", std::string());
  e.detail = absl::StrCat(event, ": ", DumpJson(fields));
  return e;
}

// The development handler: makes tasks observable end to end before an
// application registers real handlers.
AgentHandler EchoHandler() {
  return [](TaskContext& ctx) -> absl::StatusOr<Json> {
    ctx.Log(LogLevel::kInfo, "development handler ran", {{"attempt", ctx.attempt()}});
    return Json{{"agent", ctx.agent()}, {"input", ctx.input()}};
  };
}

}  // namespace

absl::StatusOr<std::unique_ptr<Kernel>> Kernel::Open(const KernelOptions& options) {
  std::unique_ptr<Kernel> k(new Kernel(options));
  KOS_RETURN_IF_ERROR(k->Build());
  return k;
}

Kernel::~Kernel() {
  Shutdown().IgnoreError();
  orchestrator_.reset();
  if (orchestrator_lock_fd_ >= 0) ::close(orchestrator_lock_fd_);  // releases the flock
}

absl::Status Kernel::Build() {
  const KernelOptions& o = options_;
  if (o.clock == nullptr) return absl::InvalidArgumentError("KernelOptions.clock must not be null");
  KOS_ASSIGN_OR_RETURN(config_, LoadSystemConfig(o.config_dir, o.env));
  std::string agents_dir = absl::StrCat(o.config_dir, "/agents");
  if (fs::exists(absl::StrCat(agents_dir, "/manifest.json"))) {
    KOS_ASSIGN_OR_RETURN(agents_, LoadAgentProfiles(agents_dir));
  }
  KOS_RETURN_IF_ERROR(OpenStorage());
  KOS_RETURN_IF_ERROR(OpenSecurity());
  KOS_RETURN_IF_ERROR(OpenAuthn());
  KOS_RETURN_IF_ERROR(OpenServices());
  return OpenOrchestrator();
}

absl::Status Kernel::OpenStorage() {
  const KernelOptions& o = options_;
  KOS_RETURN_IF_ERROR(MakePrivateDir(o.data_dir));
  ::chmod(o.data_dir.c_str(), 0700);
  std::string uri = o.store_uri;
  if (uri.empty()) uri = absl::StrCat("sqlite://", fs::absolute(o.data_dir).string(), "/kos.db");
  StoreOptions so;
  so.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(store_, OpenStore(uri, so));
  EphemeralOptions eo;
  eo.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(ephemeral_, OpenEphemeral(o.ephemeral_uri, eo));
  KOS_ASSIGN_OR_RETURN(
      blobs_, OpenBlobStore(absl::StrCat("file://", fs::absolute(o.data_dir).string(), "/blobs")));
  TelemetryOptions to;
  to.logs_dir = o.logs_dir;
  to.min_level = config_.logging.level;
  to.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(telemetry_, Telemetry::Open(to));
  return absl::OkStatus();
}

absl::Status Kernel::OpenSecurity() {
  const KernelOptions& o = options_;
  VaultOptions vo;
  vo.store = store_.get();
  vo.clock = o.clock;
  vo.master_key_env = "";
  // security.encryptionKey names the master key; only a development install
  // may fall back to a generated key kept in the data directory.
  if (!config_.security.encryption_key_ref.empty()) {
    auto text = ResolveSecretReference(config_.security.encryption_key_ref, o.env);
    if (text.ok()) {
      std::string trimmed = *text;
      while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r'))
        trimmed.pop_back();
      auto key = Base64UrlDecodeSecret(trimmed);
      if (!key.ok() || key->size() != 32) {
        return absl::InvalidArgumentError(absl::StrCat("security.encryptionKey (",
                                                       config_.security.encryption_key_ref,
                                                       ") must hold base64url of 32 bytes"));
      }
      master_key_ = std::make_unique<SecretBytes>(std::move(*key));
      vo.master_key = master_key_.get();
    } else if (config_.environment != Environment::kDevelopment) {
      return absl::FailedPreconditionError(
          absl::StrCat("security.encryptionKey: ", text.status().message()));
    }
  } else if (config_.environment != Environment::kDevelopment) {
    return absl::FailedPreconditionError(
        "security.encryptionKey must be set outside development (env:NAME or file:PATH)");
  }
  if (vo.master_key == nullptr) {
    vo.master_key_file = absl::StrCat(o.data_dir, "/master.key");
    vo.development_mode = true;
  }
  // The audit chain is keyed by a subkey of the master key when there is one,
  // so a party who can write the database cannot rebuild a valid chain.
  AuditLogOptions ao;
  ao.store = store_.get();
  ao.clock = o.clock;
  std::unique_ptr<SecretBytes> audit_key;
  if (master_key_) {
    KOS_ASSIGN_OR_RETURN(SecretBytes sub,
                         HkdfSha256(master_key_->view(), "kos-kernel", "audit-hmac", 32));
    audit_key = std::make_unique<SecretBytes>(std::move(sub));
    ao.hmac_key = audit_key.get();
  }
  KOS_ASSIGN_OR_RETURN(audit_, AuditLog::Open(ao));
  vo.audit = audit_.get();
  KOS_ASSIGN_OR_RETURN(vault_, Vault::Open(vo));
  security_sink_ = MakeSecurityEventSink(telemetry_.get(), audit_.get());

  AccessControllerOptions aco;
  std::string policies = absl::StrCat(o.config_dir, "/security/auth-policies.json");
  if (fs::exists(policies)) aco.policy_path = policies;
  KOS_ASSIGN_OR_RETURN(access_, AccessController::Open(aco));

  RateLimiterOptions rlo;
  rlo.ephemeral = ephemeral_.get();
  rlo.clock = o.clock;
  rlo.classes = o.rate_limits;
  KOS_ASSIGN_OR_RETURN(rate_limiter_, RateLimiter::Open(rlo));

  IntrusionOptions io;
  io.ephemeral = ephemeral_.get();
  io.clock = o.clock;
  io.sink = security_sink_;
  KOS_ASSIGN_OR_RETURN(intrusion_, IntrusionDetector::Open(io));
  return absl::OkStatus();
}

absl::Status Kernel::OpenAuthn() {
  const KernelOptions& o = options_;
  UserStoreOptions uo;
  uo.store = store_.get();
  uo.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(uo.hashing, PasswordHashing::Argon2id(o.password_hashing));
  KOS_ASSIGN_OR_RETURN(users_, UserStore::Open(uo));

  SessionOptions so;
  so.ephemeral = ephemeral_.get();
  so.clock = o.clock;
  so.session_timeout = config_.security.session_timeout;
  KOS_ASSIGN_OR_RETURN(sessions_, SessionManager::Open(so));

  SigningKeyringOptions ko;
  ko.store = store_.get();
  ko.clock = o.clock;
  ko.vault = vault_.get();
  KOS_ASSIGN_OR_RETURN(keyring_, SigningKeyring::Open(ko));

  AccessTokenOptions to;
  to.keyring = keyring_.get();
  to.clock = o.clock;
  to.issuer = o.issuer;
  to.audience = o.audience;
  KOS_ASSIGN_OR_RETURN(tokens_, AccessTokenService::Open(to));

  OAuthClientRegistryOptions co;
  co.store = store_.get();
  co.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(clients_, OAuthClientRegistry::Open(co));

  AuthenticatorOptions ao;
  ao.users = users_.get();
  ao.sessions = sessions_.get();
  ao.tokens = tokens_.get();
  ao.clients = clients_.get();
  ao.hooks = IntrusionHooks(intrusion_.get());
  KOS_ASSIGN_OR_RETURN(auth_, Authenticator::Open(ao));

  TokenEndpointOptions teo;
  teo.authenticator = auth_.get();
  teo.clients = clients_.get();
  KOS_ASSIGN_OR_RETURN(token_endpoint_, TokenEndpoint::Open(teo));

  ApiKeyManagerOptions ako;
  ako.store = store_.get();
  ako.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(api_keys_, ApiKeyManager::Open(ako));
  return absl::OkStatus();
}

absl::Status Kernel::OpenServices() {
  const KernelOptions& o = options_;
  HashingEmbedderOptions heo;
  heo.dimension = o.embedding_dimension;
  KOS_ASSIGN_OR_RETURN(embedder_, HashingEmbedder::Open(heo));
  MemoryOptions mo;
  mo.store = store_.get();
  mo.clock = o.clock;
  mo.embedder = embedder_.get();
  // Memory::As(principal) checks memory:ns/<namespace> against the same policy.
  mo.access = access_.get();
  // Saved indexes make a restart reload instead of rebuilding every graph.
  mo.index_dir = absl::StrCat(o.data_dir, "/memory-index");
  KOS_RETURN_IF_ERROR(MakePrivateDir(mo.index_dir));
  KOS_ASSIGN_OR_RETURN(memory_, Memory::Open(mo));

  PromptRegistryOptions po;
  po.store = store_.get();
  po.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(prompts_, PromptRegistry::Open(po));

  KOS_ASSIGN_OR_RETURN(artifact_keys_, VaultArtifactKeys::Load(vault_.get()));
  ArtifactStoreOptions aso;
  aso.store = store_.get();
  aso.blobs = blobs_.get();
  aso.clock = o.clock;
  artifact_keys_->Configure(&aso);
  KOS_ASSIGN_OR_RETURN(artifacts_, ArtifactStore::Open(aso));
  return absl::OkStatus();
}

absl::Status Kernel::OpenOrchestrator() {
  const KernelOptions& o = options_;
  KeyRegistryOptions kro;
  kro.store = store_.get();
  kro.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(task_keys_, KeyRegistry::Open(kro));

  // The kernel's own task-signing key: a seed in the vault, its public half
  // trusted in the registry under a kid derived from it.
  constexpr char kSeedPath[] = "kv/system/kernel/task-signing-seed";
  constexpr char kActor[] = "service:kernel";
  std::string seed;
  auto stored = vault_->Get(kActor, kSeedPath);
  if (stored.ok()) {
    seed = std::string(stored->value.view());
  } else if (absl::IsNotFound(stored.status())) {
    SecretBytes fresh = SecretBytes::Random(kEd25519SeedBytes);
    seed = std::string(fresh.view());
    KOS_RETURN_IF_ERROR(vault_->Put(kActor, kSeedPath, seed).status());
  } else {
    return stored.status();
  }
  KOS_ASSIGN_OR_RETURN(Ed25519KeyPair pair, Ed25519KeyPair::FromSeed(seed));
  std::fill(seed.begin(), seed.end(), '\0');
  std::string kid = absl::StrCat("kernel-", pair.PublicKeyBase64Url().substr(0, 16));
  auto trusted = task_keys_->Get(kid);
  if (absl::IsNotFound(trusted.status())) {
    KOS_RETURN_IF_ERROR(task_keys_->AddKey(kid, kKernelTaskIssuer, pair.public_key()));
  } else if (!trusted.ok()) {
    return trusted.status();
  }
  TaskSignerOptions tso;
  tso.issuer = kKernelTaskIssuer;
  tso.kid = kid;
  tso.key_pair = &pair;
  tso.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(task_signer_, TaskSigner::Open(tso));

  if (!o.run_orchestrator) return absl::OkStatus();
  std::string lock_path = absl::StrCat(o.data_dir, "/orchestrator.lock");
  orchestrator_lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (orchestrator_lock_fd_ < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot open ", lock_path));
  }
  if (::flock(orchestrator_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another process runs the orchestrator on ", o.data_dir, " (", lock_path,
                     " is locked); stop it, or use its API, or open without the orchestrator"));
  }

  OrchestratorOptions oo;
  oo.store = store_.get();
  oo.keys = task_keys_.get();
  oo.nonce_store = store_.get();
  oo.subtask_signer = task_signer_.get();
  oo.access = access_.get();
  oo.telemetry = telemetry_.get();
  Clock* clock = o.clock;
  SecurityEventSink sink = security_sink_;
  oo.on_security_event = [sink, clock](absl::string_view event, const Json& fields) {
    sink(OrchestratorEvent(event, fields, clock));
  };
  oo.agents = agents_;
  oo.max_concurrent = config_.agents.max_concurrent;
  oo.default_timeout = config_.agents.default_timeout;
  oo.clock = o.clock;
  KOS_ASSIGN_OR_RETURN(orchestrator_, Orchestrator::Open(oo));

  for (const AgentProfile& p : agents_) {
    if (!p.enabled) continue;
    if (p.handler == "bridge") {
      std::string api_key;
      std::string secret = p.model.value("apiKeySecret", std::string());
      if (!secret.empty()) {
        auto s = vault_->Get(kActor, secret);
        // A missing key leaves the agent without a handler (its tasks wait)
        // rather than failing the whole kernel over one optional integration.
        if (!s.ok()) continue;
        api_key = std::string(s->value.view());
      }
      auto bo = ChatBridgeOptionsFromProfile(p, std::move(api_key));
      if (!bo.ok()) continue;
      KOS_ASSIGN_OR_RETURN(AgentHandler h, MakeChatBridgeHandler(*bo));
      KOS_RETURN_IF_ERROR(orchestrator_->RegisterHandler(p.name, std::move(h)));
    } else if (p.handler == "memory") {
      MemoryHandlerOptions mho;
      mho.create_namespaces = true;
      KOS_ASSIGN_OR_RETURN(AgentHandler h, MakeMemoryHandler(memory_.get(), mho));
      KOS_RETURN_IF_ERROR(orchestrator_->RegisterHandler(p.name, std::move(h)));
    } else if (o.development_handlers && p.handler == "native") {
      KOS_RETURN_IF_ERROR(orchestrator_->RegisterHandler(p.name, EchoHandler()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Kernel::EnsureAdmin(absl::string_view username,
                                         absl::string_view password_file) {
  auto existing = users_->GetByUsername(username);
  if (existing.ok()) return false;
  if (!absl::IsNotFound(existing.status())) return existing.status();
  std::string password = Base64UrlEncode(std::string(SecretBytes::Random(18).view()));
  std::string path(password_file);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", path, " exclusively (exists already?)"));
  }
  std::string line = absl::StrCat(password, "\n");
  bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::fsync(fd);
  ::close(fd);
  if (!written) return absl::InternalError(absl::StrCat("cannot write ", path));
  NewUser nu;
  nu.username = std::string(username);
  nu.password = password;
  nu.roles = {"admin"};
  std::fill(password.begin(), password.end(), '\0');
  auto created = users_->Create(nu);
  std::fill(nu.password.begin(), nu.password.end(), '\0');
  if (!created.ok()) {
    ::unlink(path.c_str());
    return created.status();
  }
  return true;
}

absl::Status Kernel::Shutdown(absl::Duration grace) {
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  absl::Status st;
  if (orchestrator_) st = orchestrator_->Shutdown(grace);
  if (telemetry_) telemetry_->Flush();
  return st;
}

}  // namespace kos
