// Saved-index reload: Checkpoint, replay of later Store writes, corrupt files.
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "kos/memory.h"
#include "testing/test_util.h"

namespace kos {
namespace {

namespace fs = std::filesystem;

class CaptureSink : public LogSink {
 public:
  void Write(const LogRecord& r) override {
    absl::MutexLock l(&mu_);
    records_.push_back(r);
  }
  std::vector<LogRecord> records() {
    absl::MutexLock l(&mu_);
    return records_;
  }

 private:
  absl::Mutex mu_;
  std::vector<LogRecord> records_;
};

std::vector<float> Vec(int seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(16);
  for (auto& x : v) x = g(rng);
  return v;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *OpenStore("memory:", {});
    Reopen();
  }
  void Reopen() {
    mem_.reset();
    MemoryOptions o;
    o.store = store_.get();
    o.index_dir = dir_.path();
    o.logger = &logger_;
    auto m = Memory::Open(o);
    ASSERT_TRUE(m.ok()) << m.status();
    mem_ = std::move(*m);
  }
  void Add(const std::string& ns, int i, int seed) {
    MemoryRecord r;
    r.id = absl::StrCat("r", i);
    r.embedding = Vec(seed);
    r.metadata = {{"i", i}};
    KOS_ASSERT_OK(mem_->Add(ns, r));
  }
  // The record whose vector is Vec(seed) is its own nearest neighbour.
  std::string Top(const std::string& ns, int seed) {
    SearchRequest q;
    q.ns = ns;
    q.vector = Vec(seed);
    q.k = 1;
    q.ef_search = 200;
    auto hits = mem_->Search(q);
    EXPECT_TRUE(hits.ok()) << hits.status();
    return hits.ok() && !hits->empty() ? (*hits)[0].record.id : "";
  }
  std::string File() const { return dir_.File("a~b.kmi"); }

  testing::TempDir dir_;
  CaptureSink sink_;
  Logger logger_{&sink_, "memory"};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Memory> mem_;
};

TEST_F(CheckpointTest, ReplaysWritesAfterTheCheckpoint) {
  NamespaceConfig c;
  c.name = "a/b";
  c.dimension = 16;
  KOS_ASSERT_OK(mem_->CreateNamespace(c));
  for (int i = 0; i < 300; ++i) Add("a/b", i, i);
  KOS_ASSERT_OK(mem_->Checkpoint());
  ASSERT_TRUE(fs::exists(File()));
  // Keep this checkpoint: restoring it after the clean close below is what a
  // crash after the checkpoint leaves behind.
  fs::copy_file(File(), dir_.File("old.kmi"));
  for (int i = 300; i < 350; ++i) Add("a/b", i, i);  // 50 new
  for (int i = 0; i < 10; ++i) {                     // 10 changed vectors
    MemoryRecord r;
    r.id = absl::StrCat("r", i);
    r.embedding = Vec(1000 + i);
    r.metadata = {{"i", i}, {"changed", true}};
    KOS_ASSERT_OK(mem_->Update("a/b", r));
  }
  for (int i = 10; i < 20; ++i) KOS_ASSERT_OK(mem_->Delete("a/b", absl::StrCat("r", i)));
  mem_.reset();
  fs::copy_file(dir_.File("old.kmi"), File(), fs::copy_options::overwrite_existing);
  Reopen();
  auto st = mem_->Stats("a/b");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->records, 340u);
  EXPECT_TRUE(absl::StartsWith(st->load_note, "loaded ")) << st->load_note;
  EXPECT_TRUE(absl::StrContains(st->load_note, "re-added 10 changed, 50 new, removed 10 deleted"))
      << st->load_note;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Top("a/b", 1000 + i), absl::StrCat("r", i));
  for (int i = 20; i < 350; ++i) EXPECT_EQ(Top("a/b", i), absl::StrCat("r", i));
  for (int i = 10; i < 20; ++i) EXPECT_FALSE(mem_->Get("a/b", absl::StrCat("r", i)).ok());
  // Filters work on the reloaded payload index.
  SearchRequest q;
  q.ns = "a/b";
  q.vector = Vec(3);
  q.k = 20;
  q.filter = {{"changed", true}};
  auto hits = mem_->Search(q);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->size(), 10u);
  // New adds after the reload get free labels and are found.
  Add("a/b", 400, 400);
  EXPECT_EQ(Top("a/b", 400), "r400");

  // A clean close saves; the next open replays nothing.
  Reopen();
  st = mem_->Stats("a/b");
  EXPECT_TRUE(absl::StrContains(st->load_note, "re-added 0 changed, 0 new, removed 0 deleted"))
      << st->load_note;
  EXPECT_EQ(st->records, 341u);
  EXPECT_EQ(Top("a/b", 400), "r400");
  EXPECT_TRUE(sink_.records().empty());
}

TEST_F(CheckpointTest, FaissKindsReloadToo) {
  for (IndexKind kind : {IndexKind::kFaissFlat, IndexKind::kFaissHnsw}) {
    SCOPED_TRACE(IndexKindName(kind));
    const std::string ns = absl::StrCat("k/", IndexKindName(kind));
    const std::string file = dir_.File(absl::StrCat("k~", IndexKindName(kind), ".kmi"));
    NamespaceConfig c;
    c.name = ns;
    c.dimension = 16;
    c.index = kind;
    KOS_ASSERT_OK(mem_->CreateNamespace(c));
    for (int i = 0; i < 60; ++i) Add(ns, i, i);
    KOS_ASSERT_OK(mem_->Checkpoint());
    fs::copy_file(file, dir_.File("old.kmi"), fs::copy_options::overwrite_existing);
    for (int i = 60; i < 70; ++i) Add(ns, i, i);
    for (int i = 0; i < 5; ++i) KOS_ASSERT_OK(mem_->Delete(ns, absl::StrCat("r", i)));
    mem_.reset();
    fs::copy_file(dir_.File("old.kmi"), file, fs::copy_options::overwrite_existing);
    Reopen();
    auto st = mem_->Stats(ns);
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(absl::StrContains(st->load_note, "re-added 0 changed, 10 new, removed 5 deleted"))
        << st->load_note;
    EXPECT_EQ(st->records, 65u);
    for (int i = 5; i < 70; ++i) EXPECT_EQ(Top(ns, i), absl::StrCat("r", i));
  }
}

TEST_F(CheckpointTest, CorruptOrTruncatedFilesFallBackToARebuild) {
  NamespaceConfig c;
  c.name = "a/b";
  c.dimension = 16;
  KOS_ASSERT_OK(mem_->CreateNamespace(c));
  for (int i = 0; i < 100; ++i) Add("a/b", i, i);
  KOS_ASSERT_OK(mem_->Checkpoint());
  mem_.reset();  // saves again
  const auto size = fs::file_size(File());
  struct Damage {
    std::string name;
    std::function<void()> apply;
    std::string reason;
  };
  std::vector<Damage> damages = {
      {"flipped byte",
       [&] {
         std::fstream f(File(), std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(static_cast<std::streamoff>(size / 2));
         char ch = 0;
         f.read(&ch, 1);
         f.seekp(static_cast<std::streamoff>(size / 2));
         ch ^= 0x5a;
         f.write(&ch, 1);
       },
       "checksum"},
      {"truncated", [&] { fs::resize_file(File(), size / 3); }, "truncated"},
      {"garbage", [&] { std::ofstream(File(), std::ios::trunc) << "not an index"; },
       "not an index file"},
  };
  for (const auto& d : damages) {
    SCOPED_TRACE(d.name);
    d.apply();
    const size_t logged = sink_.records().size();
    Reopen();
    auto st = mem_->Stats("a/b");
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(absl::StartsWith(st->load_note, "rebuilt")) << st->load_note;
    EXPECT_TRUE(absl::StrContains(st->load_note, d.reason)) << st->load_note;
    auto logs = sink_.records();
    ASSERT_EQ(logs.size(), logged + 1);
    EXPECT_EQ(logs.back().event, "memory.index_rebuild");
    EXPECT_EQ(logs.back().level, LogLevel::kWarning);
    EXPECT_EQ(st->records, 100u);
    for (int i = 0; i < 100; i += 7) EXPECT_EQ(Top("a/b", i), absl::StrCat("r", i));
    mem_.reset();  // writes a good file again
  }
  // A file saved for another configuration (same name, recreated with
  // another dimension) is rejected, not misread.
  Reopen();
  fs::copy_file(File(), dir_.File("keep.kmi"));
  KOS_ASSERT_OK(mem_->DeleteNamespace("a/b"));
  c.dimension = 8;
  KOS_ASSERT_OK(mem_->CreateNamespace(c));
  MemoryRecord r;
  r.id = "x";
  r.embedding = std::vector<float>(8, 1.0f);
  KOS_ASSERT_OK(mem_->Add("a/b", r));
  mem_.reset();
  fs::copy_file(dir_.File("keep.kmi"), File(), fs::copy_options::overwrite_existing);
  Reopen();
  auto st = mem_->Stats("a/b");
  EXPECT_TRUE(absl::StartsWith(st->load_note, "rebuilt")) << st->load_note;
  EXPECT_EQ(st->records, 1u);
}

TEST_F(CheckpointTest, NoIndexDirMeansNoFiles) {
  MemoryOptions o;
  o.store = store_.get();
  auto m = *Memory::Open(o);
  EXPECT_EQ(m->Checkpoint().code(), absl::StatusCode::kFailedPrecondition);
  NamespaceConfig c;
  c.name = "z";
  c.dimension = 2;
  KOS_ASSERT_OK(m->CreateNamespace(c));
  m.reset();
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

}  // namespace
}  // namespace kos
