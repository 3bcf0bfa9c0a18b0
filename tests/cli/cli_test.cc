// End-to-end tests of the `kos` command-line tool: every subcommand's happy
// path, the documented exit codes for common mistakes, and backup/restore
// into a new data directory checked through a Kernel.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "kos/crypto.h"
#include "kos/kernel.h"
#include "testing/test_util.h"

extern char** environ;

namespace kos {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.code << "\nstdout: " << r.out << "\nstderr: " << r.err;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

class CliTest : public ::testing::Test {
 protected:
  std::string Config() const { return dir_.File("config"); }
  std::string Data() const { return dir_.File("data"); }

  // Runs kos with the fixture's directories and `input` on stdin; stdout and
  // stderr go to files (no pipe can fill up and block the child).
  Result Run(std::vector<std::string> args, const std::string& input = "", bool globals = true) {
    static int n = 0;
    std::string base = dir_.File(absl::StrCat("run", ++n));
    WriteFile(base + ".in", input);
    std::vector<std::string> argv{KOS_CLI_BINARY, "--fast-hash"};
    if (globals) {
      argv.insert(argv.end(),
                  {"--config", Config(), "--data", Data(), "--logs", dir_.File("logs")});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, (base + ".in").c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, (base + ".out").c_str(), O_WRONLY | O_CREAT, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, (base + ".err").c_str(), O_WRONLY | O_CREAT, 0600);
    pid_t pid;
    Result r;
    if (posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ) != 0) {
      ADD_FAILURE() << "cannot spawn " << KOS_CLI_BINARY;
      return r;
    }
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = testing::ReadFileOrDie(base + ".out");
    r.err = testing::ReadFileOrDie(base + ".err");
    return r;
  }

  void Init() {
    Result r = Run({"init"});
    ASSERT_EQ(r.code, 0) << r;
  }

  void AddUser(const std::string& name, const std::string& password, const std::string& role) {
    Result r = Run({"user", "add", name, "--role", role, "--password-stdin"}, password + "\n");
    ASSERT_EQ(r.code, 0) << r;
  }

  KernelOptions KernelOpts(const std::string& data) {
    KernelOptions o;
    o.config_dir = Config();
    o.data_dir = data;
    o.logs_dir = dir_.File("logs");
    o.password_hashing = PasswordHasherOptions::Minimum();
    return o;
  }

  testing::TempDir dir_;
};

TEST_F(CliTest, HelpAndUsageErrors) {
  Result r = Run({"--help"});
  EXPECT_EQ(r.code, 0) << r;
  for (const char* c : {"init", "user", "token", "vault", "task", "memory", "prompt", "audit",
                        "backup", "restore", "serve"}) {
    EXPECT_TRUE(absl::StrContains(r.out, c)) << c << "\n" << r.out;
  }
  EXPECT_EQ(Run({"vault", "put", "--help"}).code, 0);
  EXPECT_EQ(Run({"bogus"}).code, 2);
  EXPECT_EQ(Run({"user"}).code, 2);     // a group needs a subcommand
  r = Run({"memory", "search", "ns"});  // QUERY missing
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_TRUE(absl::StartsWith(r.err, "kos: ")) << r.err;
}

TEST_F(CliTest, InitLaysOutTreeAndRefusesToOverwrite) {
  Result r = Run({"init", dir_.File("site")}, "", /*globals=*/false);
  ASSERT_EQ(r.code, 0) << r;
  fs::path site = dir_.File("site");
  EXPECT_TRUE(fs::exists(site / "config/agents/manifest.json"));
  EXPECT_TRUE(fs::exists(site / "config/security/auth-policies.json"));
  int profiles = 0;
  for (auto& e : fs::directory_iterator(site / "config/agents")) {
    profiles += e.path().filename() != "manifest.json";
  }
  EXPECT_EQ(profiles, 8);
  for (const char* d : {"data/db_backups", "logs/security", "config/security/keys"}) {
    EXPECT_TRUE(fs::is_directory(site / d)) << d;
  }
  struct stat st;
  ASSERT_EQ(::stat((site / "data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::string key_path = fs::absolute(site / "data/master.key").string();
  ASSERT_EQ(::stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string key = testing::ReadFileOrDie(key_path);
  auto raw = Base64UrlDecode(absl::StripTrailingAsciiWhitespace(key));
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->size(), 32u);
  std::string system = testing::ReadFileOrDie((site / "config/system.json").string());
  EXPECT_TRUE(absl::StrContains(system, "file:" + key_path)) << system;
  EXPECT_TRUE(fs::exists(site / "data/kos.db"));

  r = Run({"init", site.string()}, "", false);
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "refusing to overwrite")) << r.err;
  // --force rewrites the config but never replaces the master key.
  WriteFile((site / "config/agents/manifest.json").string(), "garbage");
  r = Run({"init", site.string(), "--force"}, "", false);
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(testing::ReadFileOrDie(key_path), key);
  EXPECT_NE(testing::ReadFileOrDie((site / "config/agents/manifest.json").string()), "garbage");
}

TEST_F(CliTest, UsersAndTokens) {
  Init();
  AddUser("alice", "correct horse", "admin");
  Result r = Run({"user", "add", "bob", "--password-stdin"}, "short\n");
  EXPECT_EQ(r.code, 2) << r;  // below the minimum length
  r = Run({"user", "add", "alice", "--password-stdin"}, "another password\n");
  EXPECT_EQ(r.code, 1) << r;  // ALREADY_EXISTS
  r = Run({"user", "list"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "alice")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "1 user(s)")) << r.out;

  r = Run({"token", "issue", "--user", "alice", "--password-stdin"}, "correct horse\n");
  ASSERT_EQ(r.code, 0) << r;
  std::string token(absl::StripTrailingAsciiWhitespace(r.out));
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2) << token;
  r = Run({"token", "verify", token});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "\"username\": \"alice\"")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "admin")) << r.out;
  // A token with a flipped signature character, and garbage: exit 1.
  std::string bad = token;
  bad.back() = bad.back() == 'A' ? 'B' : 'A';
  r = Run({"token", "verify", bad});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "token invalid")) << r.err;
  EXPECT_EQ(Run({"token", "verify", "not-a-token"}).code, 1);

  r = Run({"token", "issue", "--user", "alice", "--password-stdin"}, "wrong password\n");
  EXPECT_EQ(r.code, 4) << r;
  r = Run({"token", "issue", "--user", "nobody", "--password-stdin"}, "whatever123\n");
  EXPECT_EQ(r.code, 4) << r;
  r = Run({"user", "passwd", "nobody", "--password-stdin"}, "whatever123\n");
  EXPECT_EQ(r.code, 3) << r;

  r = Run({"user", "passwd", "alice", "--password-stdin"}, "battery staple\n");
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(Run({"token", "issue", "--user", "alice", "--password-stdin"}, "correct horse\n").code,
            4);
  EXPECT_EQ(Run({"token", "issue", "--user", "alice", "--password-stdin"}, "battery staple\n").code,
            0);
}

TEST_F(CliTest, VaultPutGetRotate) {
  Init();
  Result r = Run({"vault", "put", "kv/app/db", "s3cret"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "version 1")) << r.out;
  r = Run({"vault", "put", "kv/app/db"}, "from stdin\n");
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "version 2")) << r.out;
  WriteFile(dir_.File("secret.txt"), "from file");
  ASSERT_EQ(Run({"vault", "put", "kv/app/api", "--from-file", dir_.File("secret.txt")}).code, 0);

  EXPECT_EQ(Run({"vault", "get", "kv/app/db"}).out, "from stdin\n");  // exact bytes
  EXPECT_EQ(Run({"vault", "get", "kv/app/db", "--version", "1"}).out, "s3cret");
  EXPECT_EQ(Run({"vault", "get", "kv/app/api"}).out, "from file");
  r = Run({"vault", "get", "kv/app/missing"});
  EXPECT_EQ(r.code, 3) << r;
  EXPECT_EQ(Run({"vault", "put", "bad path!", "x"}).code, 2);

  r = Run({"vault", "rotate"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "rotated to version 2")) << r.out;
  EXPECT_EQ(Run({"vault", "get", "kv/app/db", "--version", "1"}).out, "s3cret");
}

TEST_F(CliTest, TasksSignVerifySubmitStatus) {
  Init();
  std::string key = dir_.File("admin.key");
  Result r = Run({"task", "keygen", "--out", key, "--issuer", "user:admin"});
  ASSERT_EQ(r.code, 0) << r;
  struct stat st;
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Run({"task", "keygen", "--out", key, "--issuer", "user:admin"}).code, 1);  // exists

  r = Run({"task", "sign", "--agent", "kCore", "--input", "{\"question\":42}", "--key", key});
  ASSERT_EQ(r.code, 0) << r;
  std::string envelope(absl::StripTrailingAsciiWhitespace(r.out));
  EXPECT_TRUE(absl::StrContains(envelope, "\"iss\":\"user:admin\"")) << envelope;
  r = Run({"task", "verify", "-"}, envelope);
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "\"question\": 42")) << r.out;
  std::string tampered = envelope;
  size_t at = tampered.find("42");
  tampered.replace(at, 2, "43");
  r = Run({"task", "verify", tampered});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "envelope invalid")) << r.err;
  EXPECT_EQ(Run({"task", "sign", "--agent", "kCore", "--input", "{bad json"}).code, 2);

  // verify did not consume the nonce: the same envelope still runs.
  WriteFile(dir_.File("task.json"), envelope);
  r = Run({"--dev-handlers", "task", "submit", dir_.File("task.json"), "--timeout", "20"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "\"state\": \"succeeded\"")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "\"question\": 42")) << r.out;
  // A replay is refused.
  r = Run({"--dev-handlers", "task", "submit", dir_.File("task.json")});
  EXPECT_NE(r.code, 0) << r;

  // The kernel's own key (issuer service:kernel), submitted without waiting.
  r = Run({"task", "sign", "--agent", "kPlanner", "--input", "{}"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "service:kernel")) << r.out;
  r = Run({"task", "submit", "--no-wait", "-"}, r.out);
  ASSERT_EQ(r.code, 0) << r;
  std::string id(absl::StripTrailingAsciiWhitespace(r.out));
  r = Run({"task", "status", id});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "\"agent\": \"kPlanner\"")) << r.out;
  EXPECT_EQ(Run({"task", "status", "01HZZZZZZZZZZZZZZZZZZZZZZZ"}).code, 3);
}

TEST_F(CliTest, MemoryAddSearchImport) {
  Init();
  Result r = Run({"memory", "add", "notes", "the quick brown fox jumps over the lazy dog", "--meta",
                  "{\"lang\":\"en\"}"});
  ASSERT_EQ(r.code, 0) << r;
  std::string id(absl::StripTrailingAsciiWhitespace(r.out));
  ASSERT_EQ(
      Run({"memory", "add", "notes", "a recipe for sourdough bread", "--meta", "{\"lang\":\"fr\"}"})
          .code,
      0);
  r = Run({"memory", "search", "notes", "quick brown fox", "-k", "1", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, id)) << r.out;
  r = Run({"memory", "search", "notes", "quick brown fox", "--filter", "{\"lang\":\"fr\"}"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_FALSE(absl::StrContains(r.out, id)) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "sourdough")) << r.out;
  EXPECT_EQ(Run({"memory", "add", "notes", "x", "--meta", "{not json"}).code, 2);
  EXPECT_EQ(Run({"memory", "search", "nowhere", "x"}).code, 3);

  std::string lines;
  for (int i = 0; i < 1200; ++i) {
    lines +=
        absl::StrCat("{\"text\":\"imported record number ", i, " about topic ", i % 7,
                     "\",\"metadata\":{\"i\":", i, "}", i == 7 ? ",\"id\":\"rec-7\"" : "", "}\n");
  }
  WriteFile(dir_.File("in.jsonl"), lines);
  r = Run({"memory", "import", "bulk", dir_.File("in.jsonl"), "--batch", "256"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "imported 1200 records")) << r.out;
  r = Run({"memory", "search", "bulk", "imported record number 7 about topic 0", "--json",
           "--filter", "{\"i\":7}"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "\"id\":\"rec-7\"")) << r.out;

  WriteFile(dir_.File("bad.jsonl"), "{\"text\":\"ok\"}\n{\"text\": 5}\n");
  r = Run({"memory", "import", "bulk2", dir_.File("bad.jsonl")});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "bad.jsonl:2")) << r.err;
}

TEST_F(CliTest, PromptsAndAudit) {
  Init();
  WriteFile(dir_.File("greet.mustache"), "Hello {{name}}!");
  Result r = Run({"prompt", "save", "greet", "--file", dir_.File("greet.mustache"), "--message",
                  "first", "--label", "production"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "version 1")) << r.out;
  r = Run({"prompt", "render", "greet", "--vars", "{\"name\":\"Ada\"}"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "Hello Ada!\n");
  EXPECT_EQ(
      Run({"prompt", "render", "greet", "--label", "production", "--vars", "{\"name\":\"Bo\"}"})
          .out,
      "Hello Bo!\n");
  EXPECT_EQ(Run({"prompt", "render", "greet", "--vars", "{}"}).code, 2);  // missing variable
  EXPECT_EQ(Run({"prompt", "render", "greet", "--vars", "{oops"}).code, 2);
  EXPECT_EQ(Run({"prompt", "render", "nope", "--vars", "{}"}).code, 3);
  EXPECT_EQ(Run({"prompt", "save", "x", "--file", dir_.File("missing")}).code, 3);

  ASSERT_EQ(Run({"vault", "put", "kv/a", "1"}).code, 0);  // some audit records
  r = Run({"audit", "verify"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "audit chain ok")) << r.out;

  // Alter one stored audit record: verify fails naming a sequence.
  {
    auto store = OpenStore(absl::StrCat("sqlite://", fs::absolute(Data()).string(), "/kos.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    ScanOptions so;
    so.limit = 10000;
    auto page = (*store)->Scan("audit", so);
    ASSERT_TRUE(page.ok()) << page.status();
    const Record* target = nullptr;
    for (const Record& rec : page->records) {
      if (absl::StrContains(rec.value, "\"action\"")) {
        target = &rec;
        break;
      }
    }
    ASSERT_NE(target, nullptr);
    std::string v = target->value;
    size_t at = v.find("\"action\":\"");
    ASSERT_NE(at, std::string::npos) << v;
    v.insert(at + 10, "x");
    KOS_ASSERT_OK((*store)->Put("audit", target->key, v));
  }
  r = Run({"audit", "verify"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "audit chain broken")) << r.err;
}

TEST_F(CliTest, BackupOnlineAndRestoreIntoNewDataDir) {
  Init();
  AddUser("carol", "carol password", "user");
  ASSERT_EQ(Run({"vault", "put", "kv/team/openai", "sk-test-123"}).code, 0);
  ASSERT_EQ(Run({"memory", "add", "shared/notes", "backups must be tested by restoring"}).code, 0);
  WriteFile(dir_.File("p.txt"), "Summarize {{topic}}");
  ASSERT_EQ(Run({"prompt", "save", "summary", "--file", dir_.File("p.txt")}).code, 0);

  std::string artifact_id;
  std::string backup = dir_.File("backup");
  {
    // A live kernel holds the store open (as kos-server would) during backup.
    auto k = Kernel::Open(KernelOpts(Data()));
    ASSERT_TRUE(k.ok()) << k.status();
    ArtifactInfo info;
    info.name = "report.txt";
    info.owner = "user:carol";
    auto a = (*k)->artifacts()->Put(info, "artifact bytes");
    ASSERT_TRUE(a.ok()) << a.status();
    artifact_id = a->id;
    Result r = Run({"backup", "--out", backup});
    ASSERT_EQ(r.code, 0) << r;
    EXPECT_TRUE(absl::StrContains(r.out, "master key is NOT in the backup")) << r.out;
  }
  std::string manifest = testing::ReadFileOrDie(backup + "/manifest.json");
  EXPECT_TRUE(absl::StrContains(manifest, "\"path\": \"kos.db\"")) << manifest;
  EXPECT_TRUE(absl::StrContains(manifest, "blobs/")) << manifest;
  EXPECT_FALSE(absl::StrContains(manifest, "master.key")) << manifest;
  EXPECT_FALSE(fs::exists(backup + "/master.key"));

  // Default location: data/db_backups/<timestamp>/.
  Result r = Run({"backup"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "db_backups/")) << r.out;

  // Restore refuses a non-empty target and a corrupted backup.
  r = Run({"restore", backup, "--data", Data()});
  EXPECT_EQ(r.code, 1) << r;
  r = Run({"restore", backup});
  EXPECT_EQ(r.code, 1) << r;  // without --data the global data dir is the target: not empty
  std::string corrupt = dir_.File("corrupt");
  fs::copy(backup, corrupt, fs::copy_options::recursive);
  {
    std::fstream f(corrupt + "/kos.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  r = Run({"restore", corrupt, "--data", dir_.File("bad-restore")});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "checksum mismatch for kos.db")) << r.err;
  EXPECT_FALSE(fs::exists(dir_.File("bad-restore")));

  std::string restored = dir_.File("restored");
  r = Run({"restore", backup, "--data", restored});
  ASSERT_EQ(r.code, 0) << r;

  // The restored directory holds everything (the config still names the
  // original master key file).
  auto k = Kernel::Open(KernelOpts(restored));
  ASSERT_TRUE(k.ok()) << k.status();
  auto user = (*k)->users()->VerifyPassword("carol", "carol password");
  EXPECT_TRUE(user.ok()) << user.status();
  auto secret = (*k)->vault()->Get("test", "kv/team/openai");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->value.view(), "sk-test-123");
  SearchRequest req;
  req.ns = "shared/notes";
  req.text = "restoring backups";
  req.k = 1;
  auto hits = (*k)->memory()->Search(req);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].record.text, "backups must be tested by restoring");
  auto prompt = (*k)->prompts()->Get("summary", PromptRef::Latest());
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_EQ(prompt->content.text, "Summarize {{topic}}");
  auto content = (*k)->artifacts()->ReadAll(artifact_id);
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(*content, "artifact bytes");
  EXPECT_TRUE((*k)->audit()->VerifyChain().ok());
}

// kos serve answers /health on the port it printed and stops on SIGTERM.
TEST_F(CliTest, ServeRunsHttpAndStopsOnSigterm) {
  Init();
  std::string out = dir_.File("serve.out");
  std::vector<std::string> argv{
      KOS_CLI_BINARY,    "--fast-hash", "--config", Config(), "--data",      Data(), "--logs",
      dir_.File("logs"), "serve",       "--port",   "0",      "--grpc-port", "0"};
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT, 0600);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  int port = 0;
  for (int i = 0; i < 300 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string text = testing::ReadFileOrDie(out);
    size_t at = text.find("listening on http://127.0.0.1:");
    if (at != std::string::npos) port = std::atoi(text.c_str() + at + 30);
  }
  if (port == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    FAIL() << "kos serve did not report a port: " << testing::ReadFileOrDie(out);
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string req = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) reply.append(buf, n);
  }
  close(fd);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(absl::StrContains(reply, "200")) << reply;
  EXPECT_TRUE(absl::StrContains(reply, "\"ok\"")) << reply;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << testing::ReadFileOrDie(out);
}

}  // namespace
}  // namespace kos
