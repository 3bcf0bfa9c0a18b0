// kos vault put|get|rotate. The CLI acts as actor "cli" in the vault's audit
// records: whoever can run it can read the master key anyway.
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "cli.h"

namespace kos::cli {
namespace {

constexpr char kActor[] = "cli";

struct VaultArgs {
  std::string path;
  std::string value;
  std::string from_file;
  uint64_t version = 0;
  size_t batch = 500;
};

int RunPut(Globals& g, const VaultArgs& a, bool have_value) {
  std::string value;
  if (have_value && !a.from_file.empty()) {
    return FailWith(kExitUsage, "give either VALUE or --from-file, not both");
  }
  if (have_value) {
    value = a.value;
  } else {
    // Stdin or a file: the value is taken byte for byte (a secret may end in
    // a newline on purpose).
    auto v = ReadFile(a.from_file.empty() ? "-" : a.from_file);
    if (!v.ok()) return Fail(v.status());
    value = std::move(*v);
  }
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto ver = (*k)->vault()->Put(kActor, a.path, value);
  std::fill(value.begin(), value.end(), '\0');
  if (!ver.ok()) return Fail(ver.status(), absl::StrCat("vault put ", a.path));
  std::printf("%s: version %llu\n", a.path.c_str(), static_cast<unsigned long long>(*ver));
  return kExitOk;
}

int RunGet(Globals& g, const VaultArgs& a) {
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto s = (*k)->vault()->Get(kActor, a.path, a.version);
  if (!s.ok()) return Fail(s.status(), absl::StrCat("vault get ", a.path));
  absl::string_view v = s->value.view();
  std::fwrite(v.data(), 1, v.size(), stdout);
  // A newline only for a person reading a terminal; pipes get the exact bytes.
  if (::isatty(STDOUT_FILENO) && (v.empty() || v.back() != '\n')) std::fputc('\n', stdout);
  return kExitOk;
}

int RunRotate(Globals& g, const VaultArgs& a) {
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  Vault* vault = (*k)->vault();
  auto v = vault->Rotate(kActor);
  if (!v.ok()) return Fail(v.status(), "vault rotate");
  size_t scanned = 0, rewrapped = 0;
  std::string token;
  do {
    auto r = vault->RewrapAll(kActor, a.batch, token);
    if (!r.ok()) {
      return Fail(r.status(), absl::StrCat("vault rewrap (keyring version ", *v,
                                           " is current; run rotate again to resume)"));
    }
    scanned += r->scanned;
    rewrapped += r->rewrapped;
    token = r->resume_token;
  } while (!token.empty());
  std::printf("master keyring rotated to version %u; rewrapped %zu of %zu data keys\n", *v,
              rewrapped, scanned);
  return kExitOk;
}

}  // namespace

void AddVaultCommands(CLI::App& app, Globals& g) {
  CLI::App* vault =
      app.add_subcommand("vault", "Read and write secrets; rotate the master keyring");
  vault->require_subcommand(1);
  {
    auto a = std::make_shared<VaultArgs>();
    CLI::App* c = vault->add_subcommand(
        "put", "Store a new version of a secret (VALUE, --from-file F, or stdin)");
    c->add_option("PATH", a->path, "Secret path, e.g. kv/team/openai")->required();
    CLI::Option* value =
        c->add_option("VALUE", a->value, "The value (visible in ps; prefer stdin)");
    c->add_option("--from-file", a->from_file, "Read the value from this file");
    c->callback([&g, a, value] { g.exit_code = RunPut(g, *a, value->count() > 0); });
  }
  {
    auto a = std::make_shared<VaultArgs>();
    CLI::App* c = vault->add_subcommand("get", "Print a secret's value (exact bytes)");
    c->add_option("PATH", a->path, "Secret path")->required();
    c->add_option("--version", a->version, "Version to read (default: the current one)");
    c->callback([&g, a] { g.exit_code = RunGet(g, *a); });
  }
  {
    auto a = std::make_shared<VaultArgs>();
    CLI::App* c = vault->add_subcommand(
        "rotate", "Add a master keyring version and rewrap every data key under it");
    c->add_option("--batch", a->batch, "Data keys rewrapped per store batch")
        ->check(CLI::Range(1, 10000));
    c->callback([&g, a] { g.exit_code = RunRotate(g, *a); });
  }
}

}  // namespace kos::cli
