// Shared pieces of the `kos` command-line tool: global options, opening the
// Kernel, exit codes and input helpers. Each cmd_*.cc adds one group of
// subcommands to the CLI11 app.
#ifndef KOS_SERVERS_CLI_CLI_H_
#define KOS_SERVERS_CLI_CLI_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/json.h"
#include "kos/kernel.h"
#include "kos/status.h"

namespace kos::cli {

// Process exit codes (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the operation failed; message on stderr
inline constexpr int kExitUsage = 2;     // bad arguments or bad input (JSON, paths, ...)
inline constexpr int kExitNotFound = 3;  // a named user, secret, task, ... does not exist
inline constexpr int kExitDenied = 4;    // permission or authentication denied

// Options that come before (or after) any subcommand.
struct Globals {
  std::string config_dir = "config";
  std::string data_dir = "data";
  std::string logs_dir = "logs";
  std::string store_uri;
  // Hidden: Argon2id at its minimum cost, for tests.
  bool fast_hash = false;
  // Registers echo handlers for native agents without one (KernelOptions).
  bool dev_handlers = false;
  // Set by the commands that run tasks (task submit/status): only they take
  // the data directory's orchestrator lock, so the others work next to a
  // running server.
  bool orchestrator = false;
  // Set by the subcommand that ran.
  int exit_code = kExitOk;
  CLI::App* app = nullptr;
};

// INVALID_ARGUMENT -> 2, NOT_FOUND -> 3, PERMISSION_DENIED/UNAUTHENTICATED
// -> 4, every other error -> 1.
int ExitCodeFor(const absl::Status& status);

// Prints "kos: <context>: <message>" to stderr and returns ExitCodeFor().
int Fail(const absl::Status& status, absl::string_view context = "");
// Prints "kos: <message>" and returns `code`.
int FailWith(int code, absl::string_view message);

KernelOptions MakeKernelOptions(const Globals& g);
absl::StatusOr<std::unique_ptr<Kernel>> OpenKernel(const Globals& g);

// Reads a whole file ("-" = stdin).
absl::StatusOr<std::string> ReadFile(const std::string& path);
absl::StatusOr<std::string> ReadStdin();
// Writes `data` to `path` created exclusively with `mode` (O_EXCL unless
// `overwrite`).
absl::Status WriteFileMode(const std::string& path, absl::string_view data, int mode,
                           bool overwrite = false);
// Parses a JSON argument; INVALID_ARGUMENT naming `what` on bad JSON.
absl::StatusOr<Json> ParseJsonArg(absl::string_view text, absl::string_view what);

// A password: the first line of stdin when `from_stdin` or stdin is not a
// terminal; otherwise prompted on the terminal without echo (twice when
// `confirm`).
absl::StatusOr<std::string> ReadPassword(bool from_stdin, bool confirm, absl::string_view prompt);

std::string TimeText(absl::Time t);

// Subcommand groups.
void AddInitCommand(CLI::App& app, Globals& g);
void AddUserCommands(CLI::App& app, Globals& g);
void AddTokenCommands(CLI::App& app, Globals& g);
void AddVaultCommands(CLI::App& app, Globals& g);
void AddTaskCommands(CLI::App& app, Globals& g);
void AddMemoryCommands(CLI::App& app, Globals& g);
void AddPromptCommands(CLI::App& app, Globals& g);
void AddAuditCommands(CLI::App& app, Globals& g);
void AddBackupCommands(CLI::App& app, Globals& g);
void AddServeCommand(CLI::App& app, Globals& g);

}  // namespace kos::cli

#endif  // KOS_SERVERS_CLI_CLI_H_
