// kos init [DIR] [--force]: lays out config/, data/ and logs/ with the
// built-in defaults and a fresh master key.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cli.h"
#include "default_config.h"
#include "kos/crypto.h"

namespace kos::cli {
namespace {

namespace fs = std::filesystem;

struct InitArgs {
  std::string dir;
  bool force = false;
};

absl::Status MakeDir(const fs::path& p, fs::perms perms) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", p.string(), ": ", ec.message()));
  fs::permissions(p, perms, fs::perm_options::replace, ec);
  return absl::OkStatus();
}

int RunInit(Globals& g, const InitArgs& a) {
  if (!a.dir.empty()) {
    g.config_dir = (fs::path(a.dir) / "config").string();
    g.data_dir = (fs::path(a.dir) / "data").string();
    g.logs_dir = (fs::path(a.dir) / "logs").string();
  }
  const fs::path config(g.config_dir), data(g.data_dir), logs(g.logs_dir);
  const fs::path key_file = fs::absolute(data / "master.key");
  for (const fs::path& p : {config / "system.json", data / "kos.db"}) {
    if (fs::exists(p) && !a.force) {
      return FailWith(kExitFailed,
                      absl::StrCat(p.string(),
                                   " exists: refusing to overwrite an existing "
                                   "installation (use --force to rewrite the config)"));
    }
  }
  const auto dir_perms = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                         fs::perms::others_read | fs::perms::others_exec;
  for (const fs::path& p : {config, config / "agents", config / "services", config / "security"}) {
    if (auto s = MakeDir(p, dir_perms); !s.ok()) return Fail(s);
  }
  if (auto s = MakeDir(config / "security" / "keys", fs::perms::owner_all); !s.ok()) return Fail(s);
  for (const char* sub : {"", "db_backups", "uploads", "encrypted", "vector_store", "telemetry"}) {
    if (auto s = MakeDir(data / sub, fs::perms::owner_all); !s.ok()) return Fail(s);
  }
  for (const char* sub : {"system", "agents", "security"}) {
    if (auto s = MakeDir(logs / sub, fs::perms::owner_all); !s.ok()) return Fail(s);
  }

  // The master key is never overwritten, even with --force: the data it
  // protects would become unreadable.
  bool new_key = false;
  if (!fs::exists(key_file)) {
    SecretBytes key = SecretBytes::Random(32);
    std::string text = absl::StrCat(Base64UrlEncode(key.view()), "\n");
    absl::Status s = WriteFileMode(key_file.string(), text, 0600);
    std::fill(text.begin(), text.end(), '\0');
    if (!s.ok()) return Fail(s, "master key");
    new_key = true;
  }

  for (size_t i = 0; i < kDefaultConfigCount; ++i) {
    const EmbeddedFile& f = kDefaultConfig[i];
    std::string content(reinterpret_cast<const char*>(f.data), f.size);
    if (std::string(f.path) == "system.json") {
      auto j = ParseJsonArg(content, "built-in system.json");
      if (!j.ok()) return Fail(j.status());
      (*j)["security"]["encryptionKey"] = absl::StrCat("file:", key_file.string());
      content = j->dump(2) + "\n";
    }
    fs::path out = config / f.path;
    if (auto s = MakeDir(out.parent_path(), dir_perms); !s.ok()) return Fail(s);
    if (auto s = WriteFileMode(out.string(), content, 0644, a.force); !s.ok()) return Fail(s);
  }

  // Opening the kernel once validates the tree and creates the store and keys.
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  (*k)->Shutdown().IgnoreError();
  std::printf("initialized kos:\n  config: %s\n  data:   %s (mode 0700)\n  logs:   %s\n",
              config.string().c_str(), data.string().c_str(), logs.string().c_str());
  std::printf(
      "  master key: %s (%s; referenced from system.json as file:). Back it up\n"
      "  separately: backups do not contain it.\n",
      key_file.string().c_str(), new_key ? "new, mode 0600" : "kept the existing key");
  return kExitOk;
}

}  // namespace

void AddInitCommand(CLI::App& app, Globals& g) {
  auto a = std::make_shared<InitArgs>();
  CLI::App* c = app.add_subcommand(
      "init",
      "Create config/, data/ and logs/ with the built-in defaults and a new master key "
      "(data/master.key, mode 0600)");
  c->add_option("DIR", a->dir,
                "Root to create config/, data/ and logs/ in (default: --config/--data/--logs)");
  c->add_flag("--force", a->force,
              "Rewrite the config files of an existing installation (the master key is kept)");
  c->callback([&g, a] { g.exit_code = RunInit(g, *a); });
}

}  // namespace kos::cli
