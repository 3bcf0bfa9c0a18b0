// Crypto helpers (Ed25519, hashes, base64url) and signed tasks
// (KeyRegistry, TaskSigner, TaskVerifier).
#include "kos/crypto.h"

#include "common.h"
#include "handles.h"
#include "kos/signed_task.h"

namespace kos_py {

void BindCrypto(py::module_& m) {
  py::class_<kos::Ed25519KeyPair, std::shared_ptr<kos::Ed25519KeyPair>>(
      m, "Ed25519KeyPair", "An Ed25519 signing key and its public key. Immutable; thread-safe.")
      .def_static(
          "generate",
          [] { return std::make_shared<kos::Ed25519KeyPair>(kos::Ed25519KeyPair::Generate()); },
          "A fresh key pair from the operating system CSPRNG.")
      .def_static(
          "from_seed",
          [](const std::string& seed) {
            return std::make_shared<kos::Ed25519KeyPair>(
                Unwrap(kos::Ed25519KeyPair::FromSeed(seed)));
          },
          py::arg("seed"), "The key pair of a 32-byte RFC 8032 private key.")
      .def_property_readonly(
          "public_key", [](const kos::Ed25519KeyPair& k) { return py::bytes(k.public_key()); },
          "32 raw bytes.")
      .def_property_readonly("public_key_b64", &kos::Ed25519KeyPair::PublicKeyBase64Url,
                             "The public key as base64url without padding (a JWK 'x').")
      .def(
          "export_seed",
          [](const kos::Ed25519KeyPair& k) {
            kos::SecretBytes s = k.ExportSeed();
            return py::bytes(reinterpret_cast<const char*>(s.data()), s.size());
          },
          "The 32-byte seed: everything needed to rebuild the pair. Handle with care.")
      .def(
          "sign",
          [](const kos::Ed25519KeyPair& k, const std::string& message) {
            return py::bytes(k.Sign(message));
          },
          py::arg("message"), "64-byte detached signature of `message` (bytes or str).")
      .def("__repr__", [](const kos::Ed25519KeyPair& k) {
        return "Ed25519KeyPair(public_key_b64='" + k.PublicKeyBase64Url() + "')";
      });

  m.def(
      "ed25519_verify",
      [](const std::string& public_key, const std::string& message, const std::string& signature) {
        Check(kos::Ed25519Verify(public_key, message, signature));
      },
      py::arg("public_key"), py::arg("message"), py::arg("signature"),
      "Returns None if `signature` is valid; UnauthenticatedError if not, InvalidArgumentError "
      "for a key or signature of the wrong size.");
  m.def(
      "sha256", [](const std::string& data) { return py::bytes(kos::Sha256(data)); },
      py::arg("data"));
  m.def(
      "blake2b",
      [](const std::string& data, size_t size, const std::string& key) {
        return py::bytes(Unwrap(kos::Blake2b(data, size, key)));
      },
      py::arg("data"), py::arg("size") = 32, py::arg("key") = "");
  m.def(
      "hmac_sha256",
      [](const std::string& key, const std::string& message) {
        return py::bytes(kos::HmacSha256(key, message));
      },
      py::arg("key"), py::arg("message"));
  m.def(
      "random_bytes", [](size_t n) { return py::bytes(kos::RandomBytes(n)); }, py::arg("size"),
      "Bytes from the operating system CSPRNG.");
  m.def(
      "base64url_encode", [](const std::string& b) { return kos::Base64UrlEncode(b); },
      py::arg("data"), "RFC 4648 base64url without padding.");
  m.def(
      "base64url_decode",
      [](const std::string& text) { return py::bytes(Unwrap(kos::Base64UrlDecode(text))); },
      py::arg("text"), "Strict decoder: InvalidArgumentError for padding or bad characters.");
}

namespace {

py::dict SignedTaskToDict(const kos::SignedTask& t) {
  py::dict d;
  d["version"] = t.version;
  d["kid"] = t.kid;
  d["issuer"] = t.issuer;
  d["audience"] = t.audience;
  d["task_id"] = t.task_id;
  d["nonce"] = t.nonce;
  d["issued_at"] = TimeToPy(t.issued_at);
  d["expires_at"] = TimeToPy(t.expires_at);
  d["parent_task_id"] = t.parent_task_id ? py::object(py::str(*t.parent_task_id)) : py::none();
  d["payload"] = FromJson(t.payload);
  return d;
}

py::dict TrustedKeyToDict(const kos::TrustedKey& k) {
  py::dict d;
  d["kid"] = k.kid;
  d["issuer"] = k.issuer;
  d["public_key"] = py::bytes(k.public_key);
  d["revoked"] = k.status == kos::TrustedKeyStatus::kRevoked;
  d["added"] = TimeToPy(k.added);
  d["revoked_at"] = TimeToPy(k.revoked);
  return d;
}

}  // namespace

void BindSignedTask(py::module_& m) {
  py::class_<PyKeyRegistry> keys(
      m, "KeyRegistry",
      "Trusted Ed25519 public keys for signed tasks, one per key id, each bound to one issuer, "
      "kept in a Store. Thread-safe.");
  keys.def(py::init([](const PyStore& store, const std::string& collection,
                       std::optional<PyClock> clock) {
             auto box = std::make_shared<KeyRegistryBox>();
             box->store = store.get();
             box->clock = clock ? ClockOrReal(clock) : box->store->clock;
             kos::KeyRegistryOptions o;
             o.store = box->store->store.get();
             o.collection = collection;
             o.clock = box->clock.get();
             box->keys = Unwrap(kos::KeyRegistry::Open(o));
             return PyKeyRegistry{std::move(box), "KeyRegistry"};
           }),
           py::arg("store"), py::arg("collection") = "signed_task_keys",
           py::arg("clock") = py::none())
      .def(
          "add_key",
          [](const PyKeyRegistry& self, const std::string& kid, const std::string& issuer,
             const std::string& public_key) {
            auto box = self.get();
            Check(NoGil([&] { return box->keys->AddKey(kid, issuer, public_key); }));
          },
          py::arg("kid"), py::arg("issuer"), py::arg("public_key"),
          "Trusts `public_key` (32 raw bytes) for `issuer` under `kid`. AlreadyExistsError if "
          "the kid was ever registered.")
      .def(
          "revoke",
          [](const PyKeyRegistry& self, const std::string& kid) {
            auto box = self.get();
            Check(NoGil([&] { return box->keys->Revoke(kid); }));
          },
          py::arg("kid"))
      .def(
          "get",
          [](const PyKeyRegistry& self, const std::string& kid) {
            auto box = self.get();
            return TrustedKeyToDict(Unwrap(NoGil([&] { return box->keys->Get(kid); })));
          },
          py::arg("kid"))
      .def(
          "list",
          [](const PyKeyRegistry& self, const std::string& issuer) {
            auto box = self.get();
            auto all = Unwrap(NoGil([&] { return box->keys->List(issuer); }));
            py::list out;
            for (const auto& k : all) out.append(TrustedKeyToDict(k));
            return out;
          },
          py::arg("issuer") = "");
  BindContextManager(keys);

  py::class_<kos::SignedEnvelope>(m, "SignedEnvelope",
                                  "A signed task: `text` is the canonical envelope JSON to send.")
      .def_readonly("text", &kos::SignedEnvelope::text)
      .def_property_readonly("task",
                             [](const kos::SignedEnvelope& e) { return SignedTaskToDict(e.task); })
      .def_property_readonly("task_id", [](const kos::SignedEnvelope& e) { return e.task.task_id; })
      .def("__str__", [](const kos::SignedEnvelope& e) { return e.text; })
      .def("__repr__", [](const kos::SignedEnvelope& e) {
        return "SignedEnvelope(task_id='" + e.task.task_id + "', audience='" + e.task.audience +
               "')";
      });

  py::class_<PyTaskSigner> signer(m, "TaskSigner",
                                  "Signs task envelopes with one Ed25519 key. Thread-safe.");
  signer
      .def(py::init([](const std::string& issuer, const std::string& kid,
                       const kos::Ed25519KeyPair& key_pair, double ttl,
                       std::optional<PyClock> clock) {
             auto box = std::make_shared<TaskSignerBox>();
             box->clock = ClockOrReal(clock);
             kos::TaskSignerOptions o;
             o.issuer = issuer;
             o.kid = kid;
             o.key_pair = &key_pair;
             o.clock = box->clock.get();
             o.ttl = Seconds(ttl);
             box->signer = Unwrap(kos::TaskSigner::Open(o));
             return PyTaskSigner{std::move(box), "TaskSigner"};
           }),
           py::arg("issuer"), py::arg("kid"), py::arg("key_pair"), py::arg("ttl") = 300.0,
           py::arg("clock") = py::none())
      .def(
          "sign",
          [](const PyTaskSigner& self, const std::string& audience, py::object payload,
             const std::string& task_id, std::optional<std::string> parent_task_id,
             std::optional<double> ttl) {
            auto box = self.get();
            kos::TaskRequest r;
            r.audience = audience;
            r.payload = payload.is_none() ? kos::Json::object() : ToJson(payload);
            r.task_id = task_id;
            r.parent_task_id = parent_task_id;
            if (ttl) r.ttl = Seconds(*ttl);
            return Unwrap(NoGil([&] { return box->signer->Sign(r); }));
          },
          py::arg("audience"), py::arg("payload") = py::none(), py::arg("task_id") = "",
          py::arg("parent_task_id") = py::none(), py::arg("ttl") = py::none(),
          "Signs a task for agent `audience`. `payload` is a JSON object (the orchestrator "
          "reads 'input', 'priority', 'timeout_ms', 'retry', 'depends_on', ...).");
  BindContextManager(signer);

  py::class_<PyTaskVerifier> verifier(
      m, "TaskVerifier",
      "Verifies envelopes for one audience and consumes their nonces (a replay is refused). "
      "Thread-safe.");
  verifier
      .def(py::init([](const PyKeyRegistry& keys, const PyStore& nonce_store,
                       const std::string& audience, double allowed_skew, double max_lifetime,
                       std::optional<PyClock> clock) {
             auto box = std::make_shared<TaskVerifierBox>();
             box->keys = keys.get();
             box->nonce_store = nonce_store.get();
             box->clock = clock ? ClockOrReal(clock) : box->nonce_store->clock;
             kos::TaskVerifierOptions o;
             o.keys = box->keys->keys.get();
             o.nonce_store = box->nonce_store->store.get();
             o.audience = audience;
             o.clock = box->clock.get();
             o.allowed_skew = Seconds(allowed_skew);
             o.max_lifetime = Seconds(max_lifetime);
             box->verifier = Unwrap(kos::TaskVerifier::Open(o));
             return PyTaskVerifier{std::move(box), "TaskVerifier"};
           }),
           py::arg("keys"), py::arg("nonce_store"), py::arg("audience"),
           py::arg("allowed_skew") = 30.0, py::arg("max_lifetime") = 3600.0,
           py::arg("clock") = py::none())
      .def(
          "verify",
          [](const PyTaskVerifier& self, const std::string& envelope) {
            auto box = self.get();
            return SignedTaskToDict(Unwrap(NoGil([&] { return box->verifier->Verify(envelope); })));
          },
          py::arg("envelope"),
          "Checks signature, key, issuer, audience, time window and nonce; returns the task as "
          "a dict. UnauthenticatedError for a bad or replayed envelope, InvalidArgumentError "
          "for a malformed one.");
  BindContextManager(verifier);
}

}  // namespace kos_py
