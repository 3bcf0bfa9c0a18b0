// Kills writer processes at random moments and checks that every
// acknowledged batch survives whole and no batch is ever half applied.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kos/store.h"
#include "testing/test_util.h"

namespace kos {
namespace {

constexpr int kOpsPerBatch = 5;
constexpr uint64_t kFailed = ~uint64_t{0};

void WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);
    c += w;
    n -= static_cast<size_t>(w);
  }
}

// Child: commits batches forever, acknowledging each only after Commit
// returned OK. Never returns; only async-signal-safe exits.
[[noreturn]] void WriterChild(const std::string& uri, int ack_fd, uint64_t first_id) {
  auto store = OpenStore(uri);
  if (!store.ok()) {
    WriteAll(ack_fd, &kFailed, sizeof kFailed);
    _exit(1);
  }
  for (uint64_t id = first_id;; ++id) {
    std::vector<WriteOp> batch;
    for (int j = 0; j < kOpsPerBatch; ++j) {
      // Values big enough that one batch spans several pages.
      batch.push_back(WriteOp::Put("crash", absl::StrCat(id, "-", j),
                                   std::string(3000 + j * 500, static_cast<char>('a' + j))));
    }
    batch.push_back(WriteOp::Delete("crash", absl::StrCat(id - 1, "-tmp")));
    batch.push_back(WriteOp::Put("crash", absl::StrCat(id, "-tmp"), "t"));
    if (!(*store)->Commit(batch).ok()) {
      WriteAll(ack_fd, &kFailed, sizeof kFailed);
      _exit(2);
    }
    WriteAll(ack_fd, &id, sizeof id);
  }
}

TEST(SqliteCrashTest, AcknowledgedBatchesSurviveSigkill) {
  testing::TempDir dir;
  const std::string uri = "sqlite://" + dir.File("crash.db");
  std::mt19937 rng(20261125);
  std::set<uint64_t> acked;
  uint64_t last_seq = 0;
  for (int cycle = 0; cycle < 20; ++cycle) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      WriterChild(uri, fds[1], static_cast<uint64_t>(cycle + 1) * 1000000);
    }
    ::close(fds[1]);
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(30, 250)(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << WEXITSTATUS(status);
    uint64_t id;
    for (;;) {
      ssize_t n = ::read(fds[0], &id, sizeof id);
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof id)) break;  // EOF, or a write torn by the kill
      ASSERT_NE(id, kFailed) << "the writer saw an error in cycle " << cycle;
      acked.insert(id);
    }
    ::close(fds[0]);

    auto store = OpenStore(uri);
    ASSERT_TRUE(store.ok()) << "cycle " << cycle << ": " << store.status();
    std::map<uint64_t, int> parts;  // batch id -> records seen
    ScanOptions o;
    o.limit = 10000;
    o.keys_only = true;
    do {
      auto page = (*store)->Scan("crash", o);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const Record& r : page->records) {
        std::vector<std::string> f = absl::StrSplit(r.key, '-');
        uint64_t b;
        ASSERT_TRUE(f.size() == 2 && absl::SimpleAtoi(f[0], &b)) << r.key;
        if (f[1] != "tmp") ++parts[b];
      }
      o.page_token = page->next_page_token;
    } while (!o.page_token.empty());
    for (const auto& [batch, n] : parts) {
      EXPECT_EQ(n, kOpsPerBatch) << "batch " << batch << " is half applied (cycle " << cycle << ")";
    }
    for (uint64_t a : acked) {
      ASSERT_EQ(parts.count(a), 1u)
          << "acknowledged batch " << a << " lost (cycle " << cycle << ")";
    }
    if (!acked.empty()) {
      auto one = (*store)->Get("crash", absl::StrCat(*acked.rbegin(), "-4"));
      ASSERT_TRUE(one.ok()) << one.status();
      EXPECT_EQ(one->value, std::string(5000, 'e'));
    }
    uint64_t seq = *(*store)->LastSequence();
    EXPECT_GE(seq, last_seq);
    EXPECT_EQ(seq % (kOpsPerBatch + 2), 0u) << "a batch's sequence numbers were half committed";
    last_seq = seq;
  }
  EXPECT_GT(acked.size(), 20u) << "the writers barely ran; the test proves little";
}

TEST(SqliteMultiProcessTest, TwoProcessesIncrementWithoutLostUpdates) {
  testing::TempDir dir;
  const std::string uri = "sqlite://" + dir.File("shared.db");
  constexpr int kIncrements = 150;
  {
    auto s = OpenStore(uri);  // create the schema before the race
    ASSERT_TRUE(s.ok()) << s.status();
  }
  auto increment_all = [&](Store* store) -> absl::Status {
    for (int i = 0; i < kIncrements; ++i) {
      for (int attempt = 0;; ++attempt) {
        if (attempt == 100000) return absl::AbortedError("CAS never succeeded");
        auto cur = store->Get("c", "n");
        if (!cur.ok() && cur.status().code() != absl::StatusCode::kNotFound) return cur.status();
        int n = cur.ok() ? std::stoi(cur->value) : 0;
        auto w = store->Put("c", "n", std::to_string(n + 1), cur.ok() ? cur->version : 0);
        if (w.ok()) break;
        if (w.status().code() != absl::StatusCode::kFailedPrecondition) return w.status();
      }
    }
    return absl::OkStatus();
  };
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = OpenStore(uri);
    _exit(s.ok() && increment_all(s->get()).ok() ? 0 : 1);
  }
  auto s = OpenStore(uri);
  ASSERT_TRUE(s.ok()) << s.status();
  absl::Status mine = increment_all(s->get());
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(mine.ok()) << mine;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the other process saw an error";
  auto n = (*s)->Get("c", "n");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->value, std::to_string(2 * kIncrements));
}

}  // namespace
}  // namespace kos
