#include "cli.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kos/crypto.h"
#include "kos/status.h"

namespace kos::cli {

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return kExitDenied;
    default:
      return kExitFailed;
  }
}

int FailWith(int code, absl::string_view message) {
  std::fprintf(stderr, "kos: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

int Fail(const absl::Status& status, absl::string_view context) {
  std::string msg = context.empty() ? std::string(status.message())
                                    : absl::StrCat(context, ": ", status.message());
  if (msg.empty()) msg = absl::StatusCodeToString(status.code());
  return FailWith(ExitCodeFor(status), msg);
}

KernelOptions MakeKernelOptions(const Globals& g) {
  KernelOptions o;
  o.config_dir = g.config_dir;
  o.data_dir = g.data_dir;
  o.logs_dir = g.logs_dir;
  o.store_uri = g.store_uri;
  o.development_handlers = g.dev_handlers;
  o.run_orchestrator = g.orchestrator;
  if (g.fast_hash) o.password_hashing = PasswordHasherOptions::Minimum();
  return o;
}

absl::StatusOr<std::unique_ptr<Kernel>> OpenKernel(const Globals& g) {
  auto k = Kernel::Open(MakeKernelOptions(g));
  if (!k.ok()) {
    // Keep the code (a missing master key file stays NOT_FOUND) but say
    // which step failed.
    return absl::Status(k.status().code(),
                        absl::StrCat("cannot open the kernel (config ", g.config_dir, ", data ",
                                     g.data_dir, "): ", k.status().message()));
  }
  return k;
}

absl::StatusOr<std::string> ReadStdin() {
  std::ostringstream ss;
  ss << std::cin.rdbuf();
  return ss.str();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  if (path == "-") return ReadStdin();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat("error reading '", path, "'"));
  return ss.str();
}

absl::Status WriteFileMode(const std::string& path, absl::string_view data, int mode,
                           bool overwrite) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(absl::StrCat("'", path, "' exists"));
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", path, "': ", std::strerror(errno)));
  }
  ::fchmod(fd, mode);  // O_CREAT applies the umask; an overwritten file keeps its old mode
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return absl::InternalError(absl::StrCat("write '", path, "': ", std::strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::InternalError(absl::StrCat("close '", path, "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseJsonArg(absl::string_view text, absl::string_view what) {
  auto j = ParseJson(text);
  if (!j.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not valid JSON: ", j.status().message()));
  }
  return *j;
}

namespace {

std::string StripNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

absl::StatusOr<std::string> PromptNoEcho(int fd, absl::string_view prompt) {
  ::write(fd, prompt.data(), prompt.size());
  termios old{};
  if (::tcgetattr(fd, &old) != 0) return absl::InternalError("cannot read terminal settings");
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  ::tcsetattr(fd, TCSAFLUSH, &quiet);
  std::string line;
  char c;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line.push_back(c);
  }
  ::tcsetattr(fd, TCSAFLUSH, &old);
  return StripNewline(std::move(line));
}

}  // namespace

absl::StatusOr<std::string> ReadPassword(bool from_stdin, bool confirm, absl::string_view prompt) {
  if (from_stdin || !::isatty(STDIN_FILENO)) {
    std::string line;
    if (!std::getline(std::cin, line)) return absl::InvalidArgumentError("no password on stdin");
    line = StripNewline(std::move(line));
    if (line.empty()) return absl::InvalidArgumentError("empty password on stdin");
    return line;
  }
  KOS_ASSIGN_OR_RETURN(std::string first, PromptNoEcho(STDIN_FILENO, prompt));
  if (confirm) {
    KOS_ASSIGN_OR_RETURN(std::string second, PromptNoEcho(STDIN_FILENO, "Repeat password: "));
    if (first != second) return absl::InvalidArgumentError("the passwords do not match");
  }
  if (first.empty()) return absl::InvalidArgumentError("empty password");
  return first;
}

std::string TimeText(absl::Time t) {
  if (t == absl::InfinitePast()) return "-";
  if (t == absl::InfiniteFuture()) return "never";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace kos::cli
