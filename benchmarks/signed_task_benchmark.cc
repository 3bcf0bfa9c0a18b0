// Signed-task verification (JCS + Ed25519 + key lookup + replay check on a
// memory Store) against raw libsodium crypto_sign_verify_detached over the
// same signed bytes, in the same run. The parts are timed separately to show
// where the time goes. Results: docs/benchmarks/signed_task.md.
#include <sodium.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "kos/crypto.h"
#include "kos/jcs.h"
#include "kos/signed_task.h"
#include "signed_task/envelope.h"

namespace kos {
namespace {

constexpr int kPool = 4096;

Json Payload() {
  return {{"op", "summarize"},
          {"args", {{"doc", "kv/reports/2026-q3"}, {"max_words", 200}, {"lang", "en"}}},
          {"priority", 2},
          {"tags", {"finance", "weekly"}}};
}

// A registry and verifier over a fresh memory store, plus a pool of signed
// envelopes (each nonce can be accepted only once).
struct Fixture {
  Ed25519KeyPair key = *Ed25519KeyPair::FromSeed(std::string(32, 's'));
  std::unique_ptr<Store> store;
  std::unique_ptr<KeyRegistry> keys;
  std::unique_ptr<TaskVerifier> verifier;
  std::unique_ptr<TaskSigner> signer;
  std::vector<std::string> envelopes;

  Fixture() {
    TaskSignerOptions so;
    so.issuer = "kCore";
    so.kid = "core-1";
    so.key_pair = &key;
    signer = *TaskSigner::Open(so);
    Reset();
  }
  void Reset() {
    store = *OpenStore("memory:");
    KeyRegistryOptions ko;
    ko.store = store.get();
    keys = *KeyRegistry::Open(ko);
    (void)keys->AddKey("core-1", "kCore", key.public_key());
    TaskVerifierOptions vo;
    vo.keys = keys.get();
    vo.nonce_store = store.get();
    vo.audience = "kExecutor";
    verifier = *TaskVerifier::Open(vo);
    envelopes.clear();
    TaskRequest r;
    r.audience = "kExecutor";
    r.payload = Payload();
    for (int i = 0; i < kPool; ++i) envelopes.push_back(signer->Sign(r)->text);
  }
};

// The exact bytes the envelope's signature covers, and the signature.
void SigningInput(const std::string& envelope, std::string* input, std::string* sig) {
  Json doc = *ParseJson(envelope);
  *sig = *Base64UrlDecode(doc["sig"].get<std::string>());
  doc.erase("sig");
  *input = *Canonicalize(doc);
}

void BM_RawSodiumVerify(benchmark::State& state) {
  Fixture f;
  std::string input, sig;
  SigningInput(f.envelopes[0], &input, &sig);
  const auto* pk = reinterpret_cast<const unsigned char*>(f.key.public_key().data());
  for (auto _ : state) {
    int rc = crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                         reinterpret_cast<const unsigned char*>(input.data()),
                                         input.size(), pk);
    benchmark::DoNotOptimize(rc);
  }
  state.SetLabel(absl::StrCat(input.size(), "-byte signing input"));
}
BENCHMARK(BM_RawSodiumVerify);

void BM_SignedTaskVerify(benchmark::State& state) {
  Fixture f;
  size_t i = 0;
  for (auto _ : state) {
    if (i == f.envelopes.size()) {
      state.PauseTiming();
      f.Reset();
      i = 0;
      state.ResumeTiming();
    }
    auto task = f.verifier->Verify(f.envelopes[i++]);
    if (!task.ok()) state.SkipWithError(std::string(task.status().message()).c_str());
    benchmark::DoNotOptimize(task);
  }
  state.SetLabel(absl::StrCat(f.envelopes[0].size(), "-byte envelope"));
}
BENCHMARK(BM_SignedTaskVerify);

// The parts of Verify other than the signature check.
void BM_PartParseAndCanonicalize(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) {
    Json doc = *ParseJsonForJcs(f.envelopes[0]);
    doc.erase("sig");
    std::string canonical;
    (void)AppendCanonical(doc, &canonical);
    benchmark::DoNotOptimize(canonical);
  }
}
BENCHMARK(BM_PartParseAndCanonicalize);

// ParseJsonForJcs + field checks + signing input, as Verify does them.
void BM_PartParseEnvelope(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) {
    auto parsed = signed_task_internal::ParseEnvelope(*ParseJsonForJcs(f.envelopes[0]));
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_PartParseEnvelope);

void BM_PartKeyRegistryGet(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) benchmark::DoNotOptimize(f.keys->Get("core-1"));
}
BENCHMARK(BM_PartKeyRegistryGet);

void BM_PartNonceCasPut(benchmark::State& state) {
  Fixture f;
  uint64_t n = 0;
  for (auto _ : state) {
    auto put = f.store->Put("signed_task_nonces", absl::StrCat("core-1/", n++), "tid", 0,
                            absl::Minutes(5));
    benchmark::DoNotOptimize(put);
  }
}
BENCHMARK(BM_PartNonceCasPut);

void BM_KosEd25519Verify(benchmark::State& state) {
  Fixture f;
  std::string input, sig;
  SigningInput(f.envelopes[0], &input, &sig);
  for (auto _ : state) benchmark::DoNotOptimize(Ed25519Verify(f.key.public_key(), input, sig));
}
BENCHMARK(BM_KosEd25519Verify);

}  // namespace
}  // namespace kos

BENCHMARK_MAIN();
