// kos audit verify: walks the hash chain of the audit log.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "cli.h"

namespace kos::cli {
namespace {

int RunVerify(Globals& g) {
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto n = (*k)->audit()->VerifyChain();
  if (!n.ok()) {
    // DATA_LOSS names the first bad sequence number.
    return FailWith(kExitFailed, absl::StrCat("audit chain broken: ", n.status().message()));
  }
  std::printf("audit chain ok: %llu records\n", static_cast<unsigned long long>(*n));
  return kExitOk;
}

}  // namespace

void AddAuditCommands(CLI::App& app, Globals& g) {
  CLI::App* audit = app.add_subcommand("audit", "Check the audit log");
  audit->require_subcommand(1);
  CLI::App* c = audit->add_subcommand(
      "verify", "Verify the whole hash chain (exit 1 and the first bad sequence on failure)");
  c->callback([&g] { g.exit_code = RunVerify(g); });
}

}  // namespace kos::cli
