// kos_signed_task_tool: signs and verifies task envelopes from the command
// line, for the Python interop test (tests/python/test_signed_task_interop.py).
//
//   kos_signed_task_tool sign <seed-hex> <kid> <iss> <aud> <payload-json> [ttl-seconds]
//       prints the envelope (JCS) on stdout
//   kos_signed_task_tool verify <pubkey-hex> <envelope-file> [audience]
//       trusts <pubkey-hex> for the envelope's kid and iss, verifies (audience
//       defaults to the envelope's "aud"); exit 0 if valid, 1 if refused
//       (reason on stderr), 2 on usage errors
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "kos/crypto.h"
#include "kos/json.h"
#include "kos/signed_task.h"

namespace {

bool HexDecode(const std::string& hex, std::string* out) {
  if (hex.size() % 2) return false;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

int Usage() {
  std::cerr << "usage: kos_signed_task_tool sign <seed-hex> <kid> <iss> <aud> <payload-json> "
               "[ttl-seconds]\n       kos_signed_task_tool verify <pubkey-hex> <envelope-file> "
               "[audience]\n";
  return 2;
}

int Sign(int argc, char** argv) {
  if (argc < 7 || argc > 8) return Usage();
  std::string seed;
  if (!HexDecode(argv[2], &seed)) return Usage();
  auto key = kos::Ed25519KeyPair::FromSeed(seed);
  if (!key.ok()) {
    std::cerr << key.status() << "\n";
    return 2;
  }
  kos::TaskSignerOptions o;
  o.kid = argv[3];
  o.issuer = argv[4];
  o.key_pair = &*key;
  if (argc == 8) o.ttl = absl::Seconds(std::stoll(argv[7]));
  auto signer = kos::TaskSigner::Open(o);
  if (!signer.ok()) {
    std::cerr << signer.status() << "\n";
    return 2;
  }
  auto payload = kos::ParseJson(argv[6]);
  if (!payload.ok()) {
    std::cerr << payload.status() << "\n";
    return 2;
  }
  kos::TaskRequest r;
  r.audience = argv[5];
  r.payload = *payload;
  auto env = (*signer)->Sign(r);
  if (!env.ok()) {
    std::cerr << env.status() << "\n";
    return 1;
  }
  std::cout << env->text;
  return 0;
}

int Verify(int argc, char** argv) {
  if (argc < 4 || argc > 5) return Usage();
  std::string pub;
  if (!HexDecode(argv[2], &pub)) return Usage();
  std::ifstream in(argv[3], std::ios::binary);
  if (!in) return Usage();
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  // The kid and issuer to trust come from the envelope itself: this tool
  // checks format and signature, as a one-key registry would.
  std::string kid = "unknown", iss = "unknown", aud = "unknown";
  if (auto doc = kos::ParseJson(text); doc.ok() && doc->is_object()) {
    if (auto v = kos::GetString(*doc, "kid"); v.ok()) kid = *v;
    if (auto v = kos::GetString(*doc, "iss"); v.ok()) iss = *v;
    if (auto v = kos::GetString(*doc, "aud"); v.ok()) aud = *v;
  }
  if (argc == 5) aud = argv[4];
  auto store = kos::OpenStore("memory:");
  kos::KeyRegistryOptions ko;
  ko.store = store->get();
  auto keys = kos::KeyRegistry::Open(ko);
  if (auto s = (*keys)->AddKey(kid, iss, pub); !s.ok()) {
    std::cerr << "refused: " << s << "\n";
    return 1;
  }
  kos::TaskVerifierOptions vo;
  vo.keys = keys->get();
  vo.nonce_store = store->get();
  vo.audience = aud;
  auto verifier = kos::TaskVerifier::Open(vo);
  if (!verifier.ok()) {
    std::cerr << "refused: " << verifier.status() << "\n";
    return 1;
  }
  auto task = (*verifier)->Verify(text);
  if (!task.ok()) {
    std::cerr << "refused: " << task.status() << "\n";
    return 1;
  }
  std::cout << kos::DumpJson(task->payload) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string cmd = argv[1];
  if (cmd == "sign") return Sign(argc, argv);
  if (cmd == "verify") return Verify(argc, argv);
  return Usage();
}
