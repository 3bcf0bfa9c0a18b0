// kos crypto wrappers vs. the raw libsodium calls they wrap, in one process.
#include <sodium.h>

#include <string>

#include "benchmark/benchmark.h"
#include "kos/crypto.h"

namespace kos {
namespace {

const std::string& Message1K() {
  static const std::string* m = new std::string(RandomBytes(1024));
  return *m;
}

void BM_Ed25519Sign_Kos(benchmark::State& state) {
  Ed25519KeyPair kp = Ed25519KeyPair::Generate();
  for (auto _ : state)
    benchmark::DoNotOptimize(kp.Sign("a 64-byte-ish task envelope payload ....."));
}
BENCHMARK(BM_Ed25519Sign_Kos);

void BM_Ed25519Sign_RawSodium(benchmark::State& state) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], sig[64];
  crypto_sign_keypair(pk, sk);
  const std::string m = "a 64-byte-ish task envelope payload .....";
  for (auto _ : state) {
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(m.data()), m.size(),
                         sk);
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_Ed25519Sign_RawSodium);

void BM_Ed25519Verify_Kos(benchmark::State& state) {
  Ed25519KeyPair kp = Ed25519KeyPair::Generate();
  const std::string m = "a 64-byte-ish task envelope payload .....";
  const std::string sig = kp.Sign(m);
  for (auto _ : state) benchmark::DoNotOptimize(Ed25519Verify(kp.public_key(), m, sig));
}
BENCHMARK(BM_Ed25519Verify_Kos);

void BM_Ed25519Verify_RawSodium(benchmark::State& state) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], sig[64];
  crypto_sign_keypair(pk, sk);
  const std::string m = "a 64-byte-ish task envelope payload .....";
  const auto* mp = reinterpret_cast<const unsigned char*>(m.data());
  crypto_sign_detached(sig, nullptr, mp, m.size(), sk);
  for (auto _ : state) benchmark::DoNotOptimize(crypto_sign_verify_detached(sig, mp, m.size(), pk));
}
BENCHMARK(BM_Ed25519Verify_RawSodium);

// Seal + Open of 1 KiB (arg 0: XChaCha20-Poly1305, 1: AES-256-GCM).
AeadAlgorithm Alg(int64_t i) {
  return i == 0 ? AeadAlgorithm::kXChaCha20Poly1305 : AeadAlgorithm::kAes256Gcm;
}

void BM_SealOpen1K_Kos(benchmark::State& state) {
  const AeadAlgorithm alg = Alg(state.range(0));
  if (alg == AeadAlgorithm::kAes256Gcm && !Aes256GcmAvailable()) {
    state.SkipWithError("AES-256-GCM unavailable on this CPU");
    return;
  }
  SecretBytes key = SecretBytes::Random(32);
  for (auto _ : state) {
    auto sealed = Seal(key, 1, Message1K(), "aad", alg);
    auto opened = Open(key, 1, *sealed, "aad");
    benchmark::DoNotOptimize(opened);
  }
  state.SetBytesProcessed(state.iterations() * 1024);
  state.SetLabel(AeadAlgorithmName(alg));
}
BENCHMARK(BM_SealOpen1K_Kos)->Arg(0)->Arg(1);

void BM_SealOpen1K_RawSodium(benchmark::State& state) {
  const AeadAlgorithm alg = Alg(state.range(0));
  if (alg == AeadAlgorithm::kAes256Gcm && !crypto_aead_aes256gcm_is_available()) {
    state.SkipWithError("AES-256-GCM unavailable on this CPU");
    return;
  }
  unsigned char key[32];
  randombytes_buf(key, sizeof key);
  const std::string& m = Message1K();
  const auto* mp = reinterpret_cast<const unsigned char*>(m.data());
  unsigned char nonce[24], ct[1024 + 16], pt[1024];
  unsigned long long clen = 0, mlen = 0;
  const unsigned char ad[] = "aad";
  for (auto _ : state) {
    // Same work as Seal/Open minus the header: random nonce, encrypt, decrypt.
    if (alg == AeadAlgorithm::kXChaCha20Poly1305) {
      randombytes_buf(nonce, 24);
      crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, mp, m.size(), ad, 3, nullptr, nonce,
                                                 key);
      if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, nullptr, ct, clen, ad, 3, nonce,
                                                     key) != 0) {
        state.SkipWithError("decrypt failed");
      }
    } else {
      randombytes_buf(nonce, 12);
      crypto_aead_aes256gcm_encrypt(ct, &clen, mp, m.size(), ad, 3, nullptr, nonce, key);
      if (crypto_aead_aes256gcm_decrypt(pt, &mlen, nullptr, ct, clen, ad, 3, nonce, key) != 0) {
        state.SkipWithError("decrypt failed");
      }
    }
    benchmark::DoNotOptimize(pt);
  }
  state.SetBytesProcessed(state.iterations() * 1024);
  state.SetLabel(AeadAlgorithmName(alg));
}
BENCHMARK(BM_SealOpen1K_RawSodium)->Arg(0)->Arg(1);

void BM_Argon2idHash_Default(benchmark::State& state) {
  auto hasher = PasswordHasher::Create();  // OWASP: t=2, m=19 MiB
  for (auto _ : state) benchmark::DoNotOptimize(hasher->Hash("correct horse battery staple"));
}
BENCHMARK(BM_Argon2idHash_Default)->Unit(benchmark::kMillisecond)->Iterations(20);

void BM_Argon2idVerify_Default(benchmark::State& state) {
  auto hasher = PasswordHasher::Create();
  const std::string h = *hasher->Hash("correct horse battery staple");
  for (auto _ : state) {
    benchmark::DoNotOptimize(hasher->Verify(h, "correct horse battery staple"));
  }
}
BENCHMARK(BM_Argon2idVerify_Default)->Unit(benchmark::kMillisecond)->Iterations(20);

}  // namespace
}  // namespace kos

BENCHMARK_MAIN();
