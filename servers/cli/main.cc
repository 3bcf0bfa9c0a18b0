// kos: the command-line tool over libkos (docs/cli.md).
//
//   kos [--config DIR] [--data DIR] [--logs DIR] [--store URI] <command> ...
//
// Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 not found,
// 4 permission or authentication denied.
#include <signal.h>

#include <cstdio>
#include <string>

#include "cli.h"
#include "common/process_tuning.h"

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  kos::server::TuneProcessForServing();
  kos::cli::Globals g;
  CLI::App app{
      "kos: manage a libkos installation (users, tokens, vault, tasks, memory, prompts,\n"
      "audit, backups) and run its servers.",
      "kos"};
  g.app = &app;
  app.require_subcommand(1);
  // Global options may also follow the subcommand (`kos user list --data d`).
  app.fallthrough();
  app.option_defaults()->always_capture_default();
  // The last occurrence wins, so a script can override a default it was given.
  for (CLI::Option* o :
       {app.add_option("--config", g.config_dir, "Configuration directory"),
        app.add_option("--data", g.data_dir, "Data directory (store, blobs, master key)"),
        app.add_option("--logs", g.logs_dir, "Log directory"),
        app.add_option(
            "--store", g.store_uri,
            "Store URI (sqlite://PATH, postgresql://...); default sqlite:DATA/kos.db")}) {
    o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  app.add_flag("--dev-handlers", g.dev_handlers,
               "Run native agents with echo handlers (for trying tasks end to end)");
  app.add_flag("--fast-hash", g.fast_hash, "Minimum Argon2id cost (tests only)")->group("");
  app.footer("Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 denied. See docs/cli.md.");

  kos::cli::AddInitCommand(app, g);
  kos::cli::AddUserCommands(app, g);
  kos::cli::AddTokenCommands(app, g);
  kos::cli::AddVaultCommands(app, g);
  kos::cli::AddTaskCommands(app, g);
  kos::cli::AddMemoryCommands(app, g);
  kos::cli::AddPromptCommands(app, g);
  kos::cli::AddAuditCommands(app, g);
  kos::cli::AddBackupCommands(app, g);
  kos::cli::AddServeCommand(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "kos: %s\nRun with --help for more information.\n", e.what());
    return kos::cli::kExitUsage;
  }
  return g.exit_code;
}
