// kos-server as a child process: SIGTERM in the middle of concurrent writes
// must lose nothing that was acknowledged, and the server must exit cleanly.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http_test_util.h"

namespace kos::server {
namespace {

// A running kos-server child; its stdout is read until it says where it
// listens.
class Child {
 public:
  explicit Child(const std::string& dir) {
    int fds[2];
    if (pipe(fds) != 0) return;
    std::vector<std::string> args = {KOS_SERVER_BINARY,
                                     "--host",
                                     "127.0.0.1",
                                     "--port",
                                     "0",
                                     "--threads",
                                     "8",
                                     "--data",
                                     dir + "/data",
                                     "--config",
                                     dir + "/config",
                                     "--logs",
                                     dir + "/logs",
                                     "--admin-password-file",
                                     dir + "/admin.password",
                                     "--no-rate-limits",
                                     "--shutdown-grace",
                                     "5"};
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    char line[1024];
    while (out_ && fgets(line, sizeof(line), out_)) {
      output_ += line;
      absl::string_view l(line);
      constexpr absl::string_view kPrefix = "kos-server: listening on http://127.0.0.1:";
      if (absl::StartsWith(l, kPrefix)) {
        l.remove_prefix(kPrefix.size());
        while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.remove_suffix(1);
        if (!absl::SimpleAtoi(l, &port_)) port_ = 0;
        break;
      }
    }
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_) fclose(out_);
  }
  int port() const { return port_; }
  // SIGTERM, then the exit status (-1 if it did not exit within 30 s).
  int Terminate() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 3000; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      usleep(10000);
    }
    return -1;
  }
  // The rest of stdout (after exit).
  std::string Rest() {
    char line[1024];
    while (out_ && fgets(line, sizeof(line), out_)) output_ += line;
    return output_;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int port_ = 0;
  bool reaped_ = false;
  std::string output_;
};

TEST(HttpShutdownTest, SigtermMidLoadKeepsEveryAcknowledgedWrite) {
  kos::testing::TempDir dir;
  testing::CopyDeployConfig(dir.path());
  std::map<std::string, std::string> acked;
  {
    Child server(dir.path());
    ASSERT_GT(server.port(), 0) << "kos-server did not report its port";
    std::string pw = kos::testing::ReadFileOrDie(dir.File("admin.password"));
    pw.pop_back();
    testing::JsonClient login("127.0.0.1", server.port());
    std::string token = login.Login("admin", pw);
    ASSERT_FALSE(token.empty());

    std::mutex mu;
    std::atomic<int> acks{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        testing::JsonClient cli("127.0.0.1", server.port());
        int failures = 0;
        for (int n = 0; n < 100000 && failures < 3; ++n) {
          std::string path = absl::StrCat("load/w", w, "/n", n);
          std::string value = absl::StrCat("value-", w, "-", n);
          testing::Reply r = cli.Call("PUT", "/api/v1/vault/kv/" + path, {{"value", value}}, token);
          if (r.status >= 200 && r.status < 300) {
            std::lock_guard<std::mutex> lock(mu);
            acked[path] = value;
            ++acks;
          } else {
            ++failures;
          }
        }
      });
    }
    while (acks < 40) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    int code = server.Terminate();
    for (auto& t : writers) t.join();
    EXPECT_EQ(code, 0) << server.Rest();
    EXPECT_TRUE(absl::StrContains(server.Rest(), "kos-server: stopped"));
  }
  ASSERT_GE(acked.size(), 40u);

  Child again(dir.path());
  ASSERT_GT(again.port(), 0);
  std::string pw = kos::testing::ReadFileOrDie(dir.File("admin.password"));
  pw.pop_back();
  testing::JsonClient cli("127.0.0.1", again.port());
  std::string token = cli.Login("admin", pw);
  ASSERT_FALSE(token.empty());
  size_t missing = 0;
  for (const auto& [path, value] : acked) {
    testing::Reply r = cli.Call("GET", "/api/v1/vault/kv/" + path, nullptr, token);
    if (r.status != 200 || r.body.value("value", "") != value) {
      ++missing;
      ADD_FAILURE() << path << ": " << r.status << " " << r.text;
      if (missing > 5) break;
    }
  }
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged writes";
  EXPECT_EQ(again.Terminate(), 0);
}

}  // namespace
}  // namespace kos::server
