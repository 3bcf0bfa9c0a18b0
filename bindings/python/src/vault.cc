// kos.Vault: secrets encrypted at rest (KV v2) and transit encryption.
#include "kos/vault.h"

#include <deque>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common.h"

namespace kos_py {
namespace {

// Keeps the most recent audit events in memory so Python code can inspect
// them (the vault refuses to work without a sink). Thread-safe.
class MemoryAuditSink : public kos::AuditSink {
 public:
  absl::Status Record(const kos::AuditEvent& event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
    while (events_.size() > kMaxEvents) events_.pop_front();
    return absl::OkStatus();
  }
  std::vector<kos::AuditEvent> Events() {
    absl::MutexLock lock(&mu_);
    return {events_.begin(), events_.end()};
  }

 private:
  static constexpr size_t kMaxEvents = 10000;
  absl::Mutex mu_;
  std::deque<kos::AuditEvent> events_ ABSL_GUARDED_BY(mu_);
};

struct VaultBox {
  std::shared_ptr<StoreBox> store;
  std::shared_ptr<kos::Clock> clock;
  MemoryAuditSink audit;
  kos::SecretBytes master_key;
  std::unique_ptr<kos::Vault> vault;
  std::string actor;
};
using PyVault = Handle<VaultBox>;

py::bytes SecretToBytes(const kos::SecretBytes& s) {
  return py::bytes(reinterpret_cast<const char*>(s.data()), s.size());
}

// The value goes straight from the wiped C++ buffer into Python bytes, with
// no intermediate std::string left behind unwiped.
struct PySecret {
  std::string path;
  uint64_t version = 0;
  absl::Time created;
  py::bytes value;
  size_t size = 0;
};

py::list VersionsList(const std::vector<uint64_t>& v) {
  py::list out;
  for (auto x : v) out.append(x);
  return out;
}

// Runs `call` on the vault as `actor` (default: the vault's own), without the GIL.
template <typename F>
auto OnVault(const PyVault& self, const std::optional<std::string>& actor, F&& call) {
  auto box = self.get();
  const std::string& a = actor ? *actor : box->actor;
  return NoGil([&] { return call(*box->vault, a); });
}

}  // namespace

void BindVault(py::module_& m) {
  py::class_<PySecret>(m, "Secret", "One secret version. `value` is bytes; repr() hides it.")
      .def_readonly("path", &PySecret::path)
      .def_readonly("version", &PySecret::version)
      .def_property_readonly("created", [](const PySecret& s) { return TimeToPy(s.created); })
      .def_readonly("value", &PySecret::value)
      .def("__repr__", [](const PySecret& s) {
        return "Secret(path='" + s.path + "', version=" + std::to_string(s.version) +
               ", value=[redacted " + std::to_string(s.size) + " bytes])";
      });

  py::class_<PyVault> cls(
      m, "Vault",
      "Secrets encrypted at rest with envelope encryption, versions with check-and-set, key "
      "rotation and transit encryption, audited. Thread-safe; calls release the GIL.");
  cls.def(py::init([](const PyStore& store, std::optional<std::string> master_key,
                      const std::string& master_key_env, const std::string& master_key_file,
                      bool development_mode, uint32_t default_max_versions,
                      const std::string& actor, std::optional<PyClock> clock) {
            auto box = std::make_shared<VaultBox>();
            box->store = store.get();
            box->clock = clock ? ClockOrReal(clock) : box->store->clock;
            box->actor = actor;
            kos::VaultOptions o;
            o.store = box->store->store.get();
            o.audit = &box->audit;
            o.clock = box->clock.get();
            if (master_key) {
              box->master_key = kos::SecretBytes::CopyFrom(*master_key);
              o.master_key = &box->master_key;
            }
            o.master_key_env = master_key_env;
            o.master_key_file = master_key_file;
            o.development_mode = development_mode;
            o.default_max_versions = default_max_versions;
            box->vault = Unwrap(NoGil([&] { return kos::Vault::Open(o); }));
            return PyVault{std::move(box), "Vault"};
          }),
          py::arg("store"), py::arg("master_key") = py::none(),
          py::arg("master_key_env") = "KOS_VAULT_MASTER_KEY", py::arg("master_key_file") = "",
          py::arg("development_mode") = false, py::arg("default_max_versions") = 10,
          py::arg("actor") = "python", py::arg("clock") = py::none(),
          "Opens (or creates) a vault in `store`. The master key (32 bytes) comes from "
          "`master_key`, else the environment variable `master_key_env`, else "
          "`master_key_file`. FailedPreconditionError if none is available; "
          "UnauthenticatedError if it does not open the stored keyring. `actor` is recorded "
          "in audit events unless a call names another.");

  cls.def(
         "put",
         [](const PyVault& self, const std::string& path, const std::string& value,
            std::optional<uint64_t> cas, std::optional<std::string> actor) {
           kos::VaultPutOptions o;
           o.cas = cas;
           return Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
             return v.Put(a, path, value, o);
           }));
         },
         py::arg("path"), py::arg("value"), py::arg("cas") = py::none(), py::kw_only(),
         py::arg("actor") = py::none(),
         "Writes a new version of `path` (value: bytes or str) and returns its number. With "
         "`cas`, only if the current version equals it (0: no version yet), else "
         "FailedPreconditionError.")
      .def(
          "put_json",
          [](const PyVault& self, const std::string& path, py::object value,
             std::optional<uint64_t> cas, std::optional<std::string> actor) {
            kos::VaultPutOptions o;
            o.cas = cas;
            kos::Json j = ToJson(value);
            return Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.PutJson(a, path, j, o);
            }));
          },
          py::arg("path"), py::arg("value"), py::arg("cas") = py::none(), py::kw_only(),
          py::arg("actor") = py::none())
      .def(
          "get",
          [](const PyVault& self, const std::string& path, uint64_t version,
             std::optional<std::string> actor) {
            kos::Secret s = Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.Get(a, path, version);
            }));
            return PySecret{s.path, s.version, s.created, SecretToBytes(s.value), s.value.size()};
          },
          py::arg("path"), py::arg("version") = 0, py::kw_only(), py::arg("actor") = py::none(),
          "The latest version (version=0) or version N. NotFoundError if absent, deleted or "
          "destroyed; DataLossError if the ciphertext fails authentication.")
      .def(
          "get_json",
          [](const PyVault& self, const std::string& path, uint64_t version,
             std::optional<std::string> actor) {
            return FromJson(Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.GetJson(a, path, version);
            })));
          },
          py::arg("path"), py::arg("version") = 0, py::kw_only(), py::arg("actor") = py::none())
      .def(
          "delete",
          [](const PyVault& self, const std::string& path, const std::vector<uint64_t>& versions,
             std::optional<std::string> actor) {
            Check(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.Delete(a, path, versions);
            }));
          },
          py::arg("path"), py::arg("versions") = std::vector<uint64_t>{}, py::kw_only(),
          py::arg("actor") = py::none(),
          "Soft-deletes the listed versions (default: the current one).")
      .def(
          "undelete",
          [](const PyVault& self, const std::string& path, const std::vector<uint64_t>& versions,
             std::optional<std::string> actor) {
            Check(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.Undelete(a, path, versions);
            }));
          },
          py::arg("path"), py::arg("versions"), py::kw_only(), py::arg("actor") = py::none())
      .def(
          "destroy",
          [](const PyVault& self, const std::string& path, const std::vector<uint64_t>& versions,
             std::optional<std::string> actor) {
            Check(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.Destroy(a, path, versions);
            }));
          },
          py::arg("path"), py::arg("versions"), py::kw_only(), py::arg("actor") = py::none(),
          "Erases the ciphertext of the listed versions for good.")
      .def(
          "delete_metadata",
          [](const PyVault& self, const std::string& path, std::optional<std::string> actor) {
            Check(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.DeleteMetadata(a, path);
            }));
          },
          py::arg("path"), py::kw_only(), py::arg("actor") = py::none())
      .def(
          "metadata",
          [](const PyVault& self, const std::string& path, std::optional<std::string> actor) {
            kos::SecretMetadata md =
                Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
                  return v.GetMetadata(a, path);
                }));
            py::dict d;
            d["path"] = md.path;
            d["created"] = TimeToPy(md.created);
            d["updated"] = TimeToPy(md.updated);
            d["current_version"] = md.current_version;
            d["oldest_version"] = md.oldest_version;
            d["max_versions"] = md.max_versions;
            d["custom_metadata"] = md.custom_metadata;
            py::list versions;
            for (const auto& v : md.versions) {
              py::dict e;
              e["version"] = v.version;
              e["created"] = TimeToPy(v.created);
              e["deletion_time"] = v.deletion_time ? TimeToPy(*v.deletion_time) : py::none();
              e["destroyed"] = v.destroyed;
              versions.append(e);
            }
            d["versions"] = versions;
            return d;
          },
          py::arg("path"), py::kw_only(), py::arg("actor") = py::none(),
          "Versions and metadata of `path` as a dict (never values).")
      .def(
          "versions",
          [](const PyVault& self, const std::string& path, std::optional<std::string> actor) {
            kos::SecretMetadata md =
                Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
                  return v.GetMetadata(a, path);
                }));
            std::vector<uint64_t> v;
            for (const auto& x : md.versions) v.push_back(x.version);
            return VersionsList(v);
          },
          py::arg("path"), py::kw_only(), py::arg("actor") = py::none(),
          "Version numbers still listed for `path`, ascending.")
      .def(
          "update_metadata",
          [](const PyVault& self, const std::string& path, std::optional<uint32_t> max_versions,
             std::optional<std::map<std::string, std::string>> custom_metadata,
             std::optional<std::string> actor) {
            kos::VaultMetadataUpdate u;
            u.max_versions = max_versions;
            u.custom_metadata = custom_metadata;
            Check(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.UpdateMetadata(a, path, u);
            }));
          },
          py::arg("path"), py::arg("max_versions") = py::none(),
          py::arg("custom_metadata") = py::none(), py::kw_only(), py::arg("actor") = py::none())
      .def(
          "list",
          [](const PyVault& self, const std::string& prefix, std::optional<std::string> actor) {
            return Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.List(a, prefix);
            }));
          },
          py::arg("prefix") = "", py::kw_only(), py::arg("actor") = py::none())
      .def(
          "rotate",
          [](const PyVault& self, std::optional<std::string> actor) {
            return Unwrap(OnVault(
                self, actor, [&](kos::Vault& v, const std::string& a) { return v.Rotate(a); }));
          },
          py::kw_only(), py::arg("actor") = py::none(),
          "Adds a keyring version and makes it current; returns its number.")
      .def(
          "rewrap_all",
          [](const PyVault& self, size_t batch_size, const std::string& resume_token,
             std::optional<std::string> actor) {
            kos::RewrapResult r =
                Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
                  return v.RewrapAll(a, batch_size, resume_token);
                }));
            py::dict d;
            d["scanned"] = r.scanned;
            d["rewrapped"] = r.rewrapped;
            d["resume_token"] = r.resume_token;
            return d;
          },
          py::arg("batch_size") = 1000, py::arg("resume_token") = "", py::kw_only(),
          py::arg("actor") = py::none(),
          "Re-seals data keys under the current keyring key; resume with resume_token.")
      .def(
          "set_min_decryption_version",
          [](const PyVault& self, uint32_t version, std::optional<std::string> actor) {
            Check(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.SetMinDecryptionVersion(a, version);
            }));
          },
          py::arg("version"), py::kw_only(), py::arg("actor") = py::none())
      .def(
          "keyring_info",
          [](const PyVault& self, std::optional<std::string> actor) {
            kos::KeyringInfo k =
                Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
                  return v.GetKeyringInfo(a);
                }));
            py::dict d;
            d["current_version"] = k.current_version;
            d["min_decryption_version"] = k.min_decryption_version;
            d["versions"] = k.versions;
            return d;
          },
          py::kw_only(), py::arg("actor") = py::none())
      .def(
          "create_transit_key",
          [](const PyVault& self, const std::string& name, std::optional<std::string> actor) {
            Check(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.CreateTransitKey(a, name);
            }));
          },
          py::arg("name"), py::kw_only(), py::arg("actor") = py::none())
      .def(
          "rotate_transit_key",
          [](const PyVault& self, const std::string& name, std::optional<std::string> actor) {
            return Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.RotateTransitKey(a, name);
            }));
          },
          py::arg("name"), py::kw_only(), py::arg("actor") = py::none())
      .def(
          "transit_encrypt",
          [](const PyVault& self, const std::string& name, const std::string& plaintext,
             const std::string& context, std::optional<std::string> actor) {
            return Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.TransitEncrypt(a, name, plaintext, context);
            }));
          },
          py::arg("name"), py::arg("plaintext"), py::arg("context") = "", py::kw_only(),
          py::arg("actor") = py::none(),
          "Encrypts with transit key `name`; returns 'kos:v<N>:<base64url>'. `context` is bound "
          "in and must be given again to decrypt.")
      .def(
          "transit_decrypt",
          [](const PyVault& self, const std::string& name, const std::string& ciphertext,
             const std::string& context, std::optional<std::string> actor) {
            kos::SecretBytes p =
                Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
                  return v.TransitDecrypt(a, name, ciphertext, context);
                }));
            return SecretToBytes(p);
          },
          py::arg("name"), py::arg("ciphertext"), py::arg("context") = "", py::kw_only(),
          py::arg("actor") = py::none(),
          "UnauthenticatedError if the ciphertext was tampered with or the context differs.")
      .def(
          "transit_rewrap",
          [](const PyVault& self, const std::string& name, const std::string& ciphertext,
             const std::string& context, std::optional<std::string> actor) {
            return Unwrap(OnVault(self, actor, [&](kos::Vault& v, const std::string& a) {
              return v.TransitRewrap(a, name, ciphertext, context);
            }));
          },
          py::arg("name"), py::arg("ciphertext"), py::arg("context") = "", py::kw_only(),
          py::arg("actor") = py::none())
      .def(
          "audit_events",
          [](const PyVault& self) {
            auto box = self.get();
            py::list out;
            for (const auto& e : box->audit.Events()) {
              py::dict d;
              d["time"] = TimeToPy(e.time);
              d["actor"] = e.actor;
              d["action"] = e.action;
              d["resource"] = e.resource;
              d["outcome"] = e.outcome;
              d["fields"] = e.fields;
              out.append(d);
            }
            return out;
          },
          "The most recent audit events of this handle (up to 10000), oldest first. They name "
          "actor, action, path and outcome, never values.");
  BindContextManager(cls);

  m.def(
      "generate_master_key", [] { return py::bytes(kos::RandomBytes(32)); },
      "32 random bytes for Vault(master_key=...). Keep it outside the store.");
}

}  // namespace kos_py
