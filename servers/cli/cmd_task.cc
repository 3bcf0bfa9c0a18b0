// kos task keygen|sign|verify|submit|status: signed task envelopes and the
// orchestrator of a local kernel.
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cli.h"
#include "kos/crypto.h"
#include "kos/status.h"

namespace kos::cli {
namespace {

struct TaskArgs {
  std::string agent;
  std::string input;
  std::string payload;
  std::string key_file;
  std::string issuer;
  std::string out;
  std::string envelope;
  std::string id;
  std::string parent;
  int64_t ttl_seconds = 0;
  double timeout_seconds = 300;
  bool no_wait = false;
};

// kid of a CLI-generated key: derived from its public key, so a key file
// (the bare seed) is all `task sign` needs.
std::string KidFor(const Ed25519KeyPair& pair) {
  return absl::StrCat("cli-", pair.PublicKeyBase64Url().substr(0, 16));
}

absl::StatusOr<Ed25519KeyPair> LoadKey(const std::string& path) {
  KOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::string_view t = absl::StripAsciiWhitespace(text);
  auto pair = Ed25519KeyPair::FromSeedBase64Url(t);
  std::fill(text.begin(), text.end(), '\0');
  if (!pair.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file '", path, "' must hold a base64url Ed25519 seed (kos task keygen)"));
  }
  return pair;
}

// ENVELOPE argument: "-" = stdin, text starting with '{' = the envelope
// itself, anything else = a file holding it.
absl::StatusOr<std::string> EnvelopeText(const std::string& arg) {
  absl::string_view a = absl::StripLeadingAsciiWhitespace(arg);
  if (!a.empty() && a.front() == '{') return arg;
  return ReadFile(arg);
}

Json TaskJson(const TaskInfo& t) {
  Json j{{"id", t.id},
         {"agent", t.agent},
         {"issuer", t.issuer},
         {"state", TaskStateName(t.state)},
         {"attempt", t.attempt},
         {"input", t.input},
         {"created", TimeText(t.created)},
         {"updated", TimeText(t.updated)},
         {"trace_id", t.trace_id}};
  if (!t.plan_id.empty()) j["plan_id"] = t.plan_id;
  if (!t.parent_id.empty()) j["parent_id"] = t.parent_id;
  if (IsTerminal(t.state) || t.state == TaskState::kAwaitingReview) {
    j["output"] = t.output;
    j["finished"] = TimeText(t.finished);
  }
  if (!t.error.empty()) {
    j["error"] = t.error;
    j["error_code"] = t.error_code;
  }
  return j;
}

int RunKeygen(Globals& g, const TaskArgs& a) {
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  Ed25519KeyPair pair = Ed25519KeyPair::Generate();
  std::string kid = KidFor(pair);
  SecretBytes seed = pair.ExportSeedBase64Url();
  std::string text = absl::StrCat(seed.view(), "\n");
  absl::Status s = WriteFileMode(a.out, text, 0600);
  std::fill(text.begin(), text.end(), '\0');
  if (!s.ok()) return Fail(s, "task keygen");
  s = (*k)->task_keys()->AddKey(kid, a.issuer, pair.public_key());
  if (!s.ok()) {
    std::filesystem::remove(a.out);
    return Fail(s, "task keygen: registering the public key");
  }
  std::printf("wrote %s (mode 0600); registered kid %s for issuer %s\n", a.out.c_str(), kid.c_str(),
              a.issuer.c_str());
  return kExitOk;
}

int RunSign(Globals& g, const TaskArgs& a) {
  if (!a.input.empty() && !a.payload.empty()) {
    return FailWith(kExitUsage, "give either --input or --payload, not both");
  }
  Json payload = Json::object();
  if (!a.payload.empty()) {
    auto p = ParseJsonArg(a.payload, "--payload");
    if (!p.ok()) return Fail(p.status());
    payload = std::move(*p);
  } else {
    auto in = ParseJsonArg(a.input.empty() ? "{}" : a.input, "--input");
    if (!in.ok()) return Fail(in.status());
    payload["input"] = std::move(*in);
  }
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  TaskRequest req;
  req.audience = a.agent;
  req.payload = std::move(payload);
  if (!a.parent.empty()) req.parent_task_id = a.parent;
  if (a.ttl_seconds > 0) req.ttl = absl::Seconds(a.ttl_seconds);
  absl::StatusOr<SignedEnvelope> env;
  if (a.key_file.empty()) {
    env = (*k)->task_signer()->Sign(req);
  } else {
    auto pair = LoadKey(a.key_file);
    if (!pair.ok()) return Fail(pair.status());
    std::string kid = KidFor(*pair);
    auto trusted = (*k)->task_keys()->Get(kid);
    if (!trusted.ok()) {
      return Fail(trusted.status(),
                  absl::StrCat("key ", kid, " is not registered (kos task keygen)"));
    }
    TaskSignerOptions so;
    so.issuer = trusted->issuer;
    so.kid = kid;
    so.key_pair = &*pair;
    auto signer = TaskSigner::Open(so);
    if (!signer.ok()) return Fail(signer.status());
    env = (*signer)->Sign(req);
  }
  if (!env.ok()) return Fail(env.status(), "task sign");
  std::printf("%s\n", env->text.c_str());
  return kExitOk;
}

int RunVerify(Globals& g, const TaskArgs& a) {
  auto text = EnvelopeText(a.envelope);
  if (!text.ok()) return Fail(text.status());
  auto parsed = ParseJsonArg(*text, "the envelope");
  if (!parsed.ok()) return Fail(parsed.status());
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  // Nonces go to a throwaway store: checking an envelope must not consume it
  // (the orchestrator refuses a nonce it has seen before).
  auto scratch = OpenStore("memory:");
  if (!scratch.ok()) return Fail(scratch.status());
  TaskVerifierOptions vo;
  vo.keys = (*k)->task_keys();
  vo.nonce_store = scratch->get();
  vo.audience = parsed->is_object() ? parsed->value("aud", std::string()) : std::string();
  auto verifier = TaskVerifier::Open(vo);
  if (!verifier.ok()) return FailWith(kExitFailed, "envelope invalid: no audience (\"aud\")");
  auto t = (*verifier)->Verify(*text);
  if (!t.ok()) {
    return FailWith(kExitFailed, absl::StrCat("envelope invalid: ", t.status().message()));
  }
  Json j{{"valid", true},
         {"kid", t->kid},
         {"iss", t->issuer},
         {"aud", t->audience},
         {"tid", t->task_id},
         {"iat", TimeText(t->issued_at)},
         {"exp", TimeText(t->expires_at)},
         {"payload", t->payload}};
  std::printf("%s\n", j.dump(2).c_str());
  return kExitOk;
}

int RunSubmit(Globals& g, const TaskArgs& a) {
  auto text = EnvelopeText(a.envelope);
  if (!text.ok()) return Fail(text.status());
  g.orchestrator = true;
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto id = (*k)->orchestrator()->Submit(absl::StripTrailingAsciiWhitespace(*text));
  if (!id.ok()) return Fail(id.status(), "task submit");
  if (a.no_wait) {
    std::printf("%s\n", id->c_str());
    return kExitOk;
  }
  // This process's orchestrator runs the task: it only makes progress while
  // the CLI is alive, hence waiting is the default.
  auto t = (*k)->orchestrator()->Wait(*id, absl::Seconds(a.timeout_seconds));
  if (!t.ok()) {
    std::printf("%s\n", id->c_str());
    return Fail(t.status(), absl::StrCat("task ", *id));
  }
  std::printf("%s\n", TaskJson(*t).dump(2).c_str());
  if (t->state == TaskState::kSucceeded || t->state == TaskState::kAwaitingReview) return kExitOk;
  return FailWith(kExitFailed, absl::StrCat("task ", *id, " ", TaskStateName(t->state),
                                            t->error.empty() ? "" : ": ", t->error));
}

int RunStatus(Globals& g, const TaskArgs& a) {
  g.orchestrator = true;
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto t = (*k)->orchestrator()->Get(a.id);
  if (!t.ok()) return Fail(t.status(), absl::StrCat("task ", a.id));
  std::printf("%s\n", TaskJson(*t).dump(2).c_str());
  return kExitOk;
}

}  // namespace

void AddTaskCommands(CLI::App& app, Globals& g) {
  CLI::App* task = app.add_subcommand("task", "Sign, verify, submit and inspect agent tasks");
  task->require_subcommand(1);
  {
    auto a = std::make_shared<TaskArgs>();
    CLI::App* c = task->add_subcommand(
        "keygen",
        "Create an Ed25519 task-signing key (seed file, mode 0600) and trust its "
        "public key for ISSUER");
    c->add_option("--out", a->out, "Key file to create")->required();
    c->add_option("--issuer", a->issuer, "Issuer the key signs for, e.g. user:admin")->required();
    c->callback([&g, a] { g.exit_code = RunKeygen(g, *a); });
  }
  {
    auto a = std::make_shared<TaskArgs>();
    CLI::App* c =
        task->add_subcommand("sign", "Print a signed task envelope (JCS JSON) for an agent");
    c->add_option("--agent", a->agent, "Agent that must run the task (audience), e.g. kCore")
        ->required();
    c->add_option("--input", a->input, "JSON input for the handler (payload {\"input\": ...})");
    c->add_option("--payload", a->payload,
                  "Whole task spec JSON (input, priority, timeout_ms, retry, ...)");
    c->add_option("--key", a->key_file,
                  "Key file from `task keygen` (default: the kernel's key, issuer service:kernel)");
    c->add_option("--ttl", a->ttl_seconds, "Envelope lifetime in seconds (default 300)");
    c->add_option("--parent", a->parent, "Parent task id");
    c->callback([&g, a] { g.exit_code = RunSign(g, *a); });
  }
  {
    auto a = std::make_shared<TaskArgs>();
    CLI::App* c = task->add_subcommand(
        "verify",
        "Check an envelope's signature, key, issuer and lifetime without consuming "
        "its nonce (exit 1 if invalid)");
    c->add_option("ENVELOPE", a->envelope, "Envelope JSON, a file holding it, or - for stdin")
        ->required();
    c->callback([&g, a] { g.exit_code = RunVerify(g, *a); });
  }
  {
    auto a = std::make_shared<TaskArgs>();
    CLI::App* c = task->add_subcommand(
        "submit",
        "Submit an envelope to this process's orchestrator and wait for the result "
        "(tasks run only while the CLI runs)");
    c->add_option("ENVELOPE", a->envelope, "Envelope JSON, a file holding it, or - for stdin")
        ->required();
    c->add_flag("--no-wait", a->no_wait,
                "Print the id and exit; the stored task runs in the next process that runs the "
                "orchestrator (e.g. kos serve)");
    c->add_option("--timeout", a->timeout_seconds, "Seconds to wait (default 300)");
    c->callback([&g, a] { g.exit_code = RunSubmit(g, *a); });
  }
  {
    auto a = std::make_shared<TaskArgs>();
    CLI::App* c = task->add_subcommand("status", "Print a task's state and result as JSON");
    c->add_option("ID", a->id, "Task id")->required();
    c->callback([&g, a] { g.exit_code = RunStatus(g, *a); });
  }
}

}  // namespace kos::cli
