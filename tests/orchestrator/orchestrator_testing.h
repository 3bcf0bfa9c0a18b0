// Shared fixture pieces for orchestrator tests: a signer trusted by a key
// registry, and agent profiles.
#ifndef KOS_TESTS_ORCHESTRATOR_ORCHESTRATOR_TESTING_H_
#define KOS_TESTS_ORCHESTRATOR_ORCHESTRATOR_TESTING_H_

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

}  // namespace kos::testing

#endif  // KOS_TESTS_ORCHESTRATOR_ORCHESTRATOR_TESTING_H_
