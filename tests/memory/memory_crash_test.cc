// SIGKILL during batch adds on the SQLite store: after reopening, every
// acknowledged record is readable and searchable, and no batch is half there.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kos/memory.h"
#include "testing/test_util.h"

namespace kos {
namespace {

constexpr int kDim = 16;
constexpr int kBatch = 20;
constexpr uint64_t kFailed = ~0ULL;

std::vector<float> VectorFor(uint64_t id) {
  std::mt19937 rng(static_cast<uint32_t>(id));
  std::normal_distribution<float> g;
  std::vector<float> v(kDim);
  for (auto& x : v) x = g(rng);
  return v;
}

void WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);
    c += w;
    n -= w;
  }
}

[[noreturn]] void WriterChild(const std::string& uri, int ack_fd, uint64_t first) {
  auto store = OpenStore(uri);
  if (!store.ok()) _exit(2);
  MemoryOptions o;
  o.store = store->get();
  auto mem = Memory::Open(o);
  if (!mem.ok()) _exit(2);
  for (uint64_t b = first;; ++b) {
    std::vector<MemoryRecord> batch;
    for (int i = 0; i < kBatch; ++i) {
      MemoryRecord r;
      r.id = absl::StrCat("b", b, "-", i);
      r.embedding = VectorFor(b * 100 + i);
      r.metadata = {{"batch", b}};
      batch.push_back(std::move(r));
    }
    if (!(*mem)->AddBatch("crash/ns", std::move(batch)).ok()) {
      WriteAll(ack_fd, &kFailed, sizeof kFailed);
      _exit(2);
    }
    WriteAll(ack_fd, &b, sizeof b);
  }
}

TEST(MemoryCrashTest, AcknowledgedAddsSurviveSigkill) {
  testing::TempDir dir;
  const std::string uri = "sqlite://" + dir.File("mem.db");
  {
    auto store = OpenStore(uri);
    ASSERT_TRUE(store.ok()) << store.status();
    MemoryOptions o;
    o.store = store->get();
    auto mem = Memory::Open(o);
    ASSERT_TRUE(mem.ok()) << mem.status();
    NamespaceConfig c;
    c.name = "crash/ns";
    c.dimension = kDim;
    c.ef_construction = 40;
    KOS_ASSERT_OK((*mem)->CreateNamespace(c));
  }
  std::set<uint64_t> acked;
  std::mt19937 rng(7);
  for (int cycle = 0; cycle < 3; ++cycle) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      WriterChild(uri, fds[1], static_cast<uint64_t>(cycle + 1) * 100000);
    }
    ::close(fds[1]);
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(150, 400)(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status)) << "writer exited early: " << WEXITSTATUS(status);
    uint64_t b;
    for (;;) {
      ssize_t n = ::read(fds[0], &b, sizeof b);
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof b)) break;
      ASSERT_NE(b, kFailed) << "writer saw an error in cycle " << cycle;
      acked.insert(b);
    }
    ::close(fds[0]);

    auto store = OpenStore(uri);
    ASSERT_TRUE(store.ok()) << store.status();
    MemoryOptions o;
    o.store = store->get();
    auto mem = Memory::Open(o);
    ASSERT_TRUE(mem.ok()) << "cycle " << cycle << ": " << mem.status();
    auto stats = (*mem)->Stats("crash/ns");
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->records % kBatch, 0u) << "a batch is half applied";
    EXPECT_GE(stats->records, acked.size() * kBatch);
    for (uint64_t a : acked) {
      ASSERT_TRUE((*mem)->Get("crash/ns", absl::StrCat("b", a, "-", kBatch - 1)).ok())
          << "acknowledged batch " << a << " lost";
    }
    ASSERT_FALSE(acked.empty()) << "writer acknowledged nothing in cycle " << cycle;
    // The newest acknowledged record is searchable by its own vector.
    const uint64_t last = *acked.rbegin();
    SearchRequest q;
    q.ns = "crash/ns";
    q.vector = VectorFor(last * 100 + 3);
    q.k = 1;
    q.filter = {{"batch", last}};
    auto hits = (*mem)->Search(q);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].record.id, absl::StrCat("b", last, "-3"));
  }
}

}  // namespace
}  // namespace kos
