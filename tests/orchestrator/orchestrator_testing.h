// Shared fixture pieces for orchestrator tests: a signer trusted by a key
// registry, and agent profiles.
#ifndef KOS_TESTS_ORCHESTRATOR_ORCHESTRATOR_TESTING_H_
#define KOS_TESTS_ORCHESTRATOR_ORCHESTRATOR_TESTING_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kos/orchestrator.h"

namespace kos::testing {

inline AgentProfile Agent(const std::string& name, int max_concurrency = 0) {
  AgentProfile p;
  p.name = name;
  p.profile = "test";
  p.type = "test";
  p.limits.max_concurrency = max_concurrency;
  return p;
}

// A signer for issuer "kCore" whose key is trusted by `keys`.
struct SigningSetup {
  std::unique_ptr<KeyRegistry> keys;
  std::unique_ptr<TaskSigner> signer;

  static SigningSetup Make(Store* store, Clock* clock, const std::string& issuer = "kCore",
                           const std::string& kid = "core-1") {
    SigningSetup s;
    KeyRegistryOptions ko;
    ko.store = store;
    ko.clock = clock;
    s.keys = KeyRegistry::Open(ko).value();
    Ed25519KeyPair kp = Ed25519KeyPair::Generate();
    (void)s.keys->AddKey(kid, issuer, kp.public_key());
    TaskSignerOptions so;
    so.issuer = issuer;
    so.kid = kid;
    so.key_pair = &kp;
    so.clock = clock;
    s.signer = TaskSigner::Open(so).value();
    return s;
  }

  std::string Sign(const std::string& agent, Json payload = Json::object(),
                   std::string task_id = "") {
    TaskRequest r;
    r.audience = agent;
    r.payload = std::move(payload);
    r.task_id = std::move(task_id);
    return signer->Sign(r).value().text;
  }
};

// Calls `fn` for every record of `collection`, page by page.
inline void ScanAll(Store* store, const std::string& collection,
                    const std::function<void(const Record&)>& fn, bool keys_only = false) {
  ScanOptions so;
  so.limit = 10000;
  so.keys_only = keys_only;
  for (;;) {
    ScanPage p = store->Scan(collection, so).value();
    for (const Record& r : p.records) fn(r);
    if (p.next_page_token.empty()) return;
    so.page_token = p.next_page_token;
  }
}

// A forked child that reports one message and then keeps running until
// killed: the scaffolding of crash tests.
struct ChildProcess {
  pid_t pid = -1;
  std::string message;  // what the child reported ("" if it died first)

  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept : pid(o.pid), message(std::move(o.message)) {
    o.pid = -1;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // A failed assertion in the parent never leaves the child running.
  ~ChildProcess() { Kill(); }

  // Forks; the child runs `work`, writes what it returns to the parent and
  // then pauses forever (its threads keep working) until Kill().
  static ChildProcess Start(const std::function<std::string()>& work) {
    ChildProcess c;
    int fds[2];
    if (pipe(fds) != 0) return c;
    c.pid = fork();
    if (c.pid == 0) {
      close(fds[0]);
      std::string msg = work();
      (void)!write(fds[1], msg.data(), msg.size());
      close(fds[1]);
      for (;;) pause();
    }
    close(fds[1]);
    char buf[256];
    ssize_t n = c.pid > 0 ? read(fds[0], buf, sizeof(buf)) : -1;
    close(fds[0]);
    if (n > 0) c.message.assign(buf, static_cast<size_t>(n));
    return c;
  }

  // SIGKILLs the child and reaps it; true if it died by the signal.
  bool Kill() {
    if (pid <= 0) return false;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFSIGNALED(status);
  }
};

}  // namespace kos::testing

#endif  // KOS_TESTS_ORCHESTRATOR_ORCHESTRATOR_TESTING_H_
