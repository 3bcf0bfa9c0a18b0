// kos backup / kos restore: an online snapshot of the SQLite store (SQLite's
// backup API, safe while kos-server writes in WAL mode) plus every other
// file of the data directory, with a manifest of sizes and SHA-256 digests.
// The master key is never copied.
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli.h"
#include "kos/status.h"

namespace kos::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kDbName[] = "kos.db";
constexpr char kManifest[] = "manifest.json";
constexpr char kFormat[] = "kos-backup/1";

struct BackupArgs {
  std::string out;
  std::string backup_dir;
};

// Files of the data directory that are not copied: the live database (its
// snapshot is taken through SQLite), the master key, earlier backups.
bool Skipped(const fs::path& rel) {
  std::string first = rel.begin()->string();
  std::string s = rel.string();
  return first == "db_backups" || s == "master.key" || s == kDbName ||
         s == std::string(kDbName) + "-wal" || s == std::string(kDbName) + "-shm" ||
         s == std::string(kDbName) + "-journal";
}

absl::StatusOr<std::string> Sha256File(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", p.string()));
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), buf.size());
    std::streamsize n = in.gcount();
    if (n > 0) crypto_hash_sha256_update(&st, reinterpret_cast<unsigned char*>(buf.data()), n);
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", p.string()));
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, out);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), sizeof(out)));
}

absl::Status CopyPrivate(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::permissions(to.parent_path(), fs::perms::owner_all, fs::perm_options::replace, ec);
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("copy ", from.string(), " -> ", to.string(), ": ", ec.message()));
  }
  fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace,
                  ec);
  return absl::OkStatus();
}

// sqlite3_backup over the whole database, retried while a writer holds a
// lock. The source connection is read-only and never changes the store.
absl::Status SnapshotDatabase(const fs::path& src, const fs::path& dst) {
  sqlite3* in = nullptr;
  sqlite3* out = nullptr;
  auto close = [&] {
    sqlite3_close_v2(in);
    sqlite3_close_v2(out);
  };
  if (sqlite3_open_v2(src.c_str(), &in, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string m = in ? sqlite3_errmsg(in) : "out of memory";
    close();
    return absl::NotFoundError(absl::StrCat("cannot open ", src.string(), ": ", m));
  }
  sqlite3_busy_timeout(in, 30000);
  if (sqlite3_open_v2(dst.c_str(), &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string m = out ? sqlite3_errmsg(out) : "out of memory";
    close();
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", dst.string(), ": ", m));
  }
  sqlite3_backup* b = sqlite3_backup_init(out, "main", in, "main");
  if (b == nullptr) {
    std::string m = sqlite3_errmsg(out);
    close();
    return absl::InternalError(absl::StrCat("sqlite3_backup_init: ", m));
  }
  int rc;
  const absl::Time deadline = absl::Now() + absl::Minutes(5);
  // Pages in slices so a busy server is not starved; a write to the source
  // between slices makes SQLite restart the copy (the snapshot stays
  // consistent).
  while (true) {
    rc = sqlite3_backup_step(b, 1024);
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_OK) continue;
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && absl::Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    break;
  }
  sqlite3_backup_finish(b);
  std::string m = sqlite3_errmsg(out);
  close();
  if (rc != SQLITE_DONE) {
    return absl::UnavailableError(absl::StrCat("sqlite backup of ", src.string(), ": ", m));
  }
  ::chmod(dst.c_str(), 0600);
  return absl::OkStatus();
}

absl::StatusOr<fs::path> SqlitePath(const Globals& g) {
  if (g.store_uri.empty()) return fs::path(g.data_dir) / kDbName;
  absl::string_view u = g.store_uri;
  if (absl::ConsumePrefix(&u, "sqlite://") || absl::ConsumePrefix(&u, "sqlite:")) {
    return fs::path(std::string(u));
  }
  return absl::FailedPreconditionError(
      "kos backup handles SQLite stores only; use the database's own tools for " +
      g.store_uri.substr(0, g.store_uri.find(':')));
}

int RunBackup(Globals& g, const BackupArgs& a) {
  const fs::path data(g.data_dir);
  auto db = SqlitePath(g);
  if (!db.ok()) return Fail(db.status());
  if (!fs::exists(*db)) return FailWith(kExitNotFound, absl::StrCat("no store at ", db->string()));
  std::string stamp = absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone());
  fs::path out = a.out.empty() ? data / "db_backups" / stamp : fs::path(a.out);
  std::error_code ec;
  if (fs::exists(out) && !fs::is_empty(out, ec)) {
    return FailWith(kExitFailed, absl::StrCat(out.string(), " exists and is not empty"));
  }
  fs::create_directories(out, ec);
  if (ec)
    return FailWith(kExitDenied, absl::StrCat("cannot create ", out.string(), ": ", ec.message()));
  fs::permissions(out, fs::perms::owner_all, fs::perm_options::replace, ec);

  // The database first: files written after its snapshot (new blobs) are
  // harmless extras, while the database never points at a missing file
  // unless one was deleted during the copy.
  const absl::Time start = absl::Now();
  if (auto s = SnapshotDatabase(*db, out / kDbName); !s.ok()) return Fail(s, "backup");
  std::vector<fs::path> files{kDbName};
  if (fs::exists(data)) {
    for (auto it = fs::recursive_directory_iterator(data, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      fs::path rel = fs::relative(it->path(), data);
      if (it->is_directory() && rel.string() == "db_backups") {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file() || Skipped(rel)) continue;
      // Skip the output when it was placed inside the data directory.
      if (absl::StartsWith(fs::absolute(it->path()).string(), fs::absolute(out).string() + "/"))
        continue;
      if (auto s = CopyPrivate(it->path(), out / rel); !s.ok()) return Fail(s, "backup");
      files.push_back(rel);
    }
  }
  Json manifest{{"format", kFormat},
                {"created", TimeText(absl::Now())},
                {"source_data_dir", fs::absolute(data).string()},
                {"master_key_included", false},
                {"files", Json::array()}};
  uint64_t total = 0;
  for (const fs::path& rel : files) {
    auto sum = Sha256File(out / rel);
    if (!sum.ok()) return Fail(sum.status(), "backup");
    uint64_t size = fs::file_size(out / rel);
    total += size;
    manifest["files"].push_back({{"path", rel.string()}, {"size", size}, {"sha256", *sum}});
  }
  if (auto s = WriteFileMode((out / kManifest).string(), manifest.dump(2) + "\n", 0600); !s.ok()) {
    return Fail(s, "backup");
  }
  std::printf("backup written to %s: %zu files, %llu bytes in %.2f s\n", out.string().c_str(),
              files.size(), static_cast<unsigned long long>(total),
              absl::ToDoubleSeconds(absl::Now() - start));
  std::printf(
      "note: the master key is NOT in the backup; keep it (data/master.key or "
      "KOS_MASTER_KEY) safe separately: without it the secrets cannot be read\n");
  return kExitOk;
}

// Rejects manifest paths that could escape the target directory.
bool SafeRelative(const std::string& p) {
  if (p.empty() || p.front() == '/') return false;
  for (const auto& part : fs::path(p)) {
    if (part == ".." || part == ".") return false;
  }
  return true;
}

int RunRestore(Globals& g, const BackupArgs& a) {
  CLI::Option* data_opt = g.app->get_option("--data");
  if (data_opt->count() == 0) {
    return FailWith(kExitUsage, "restore needs --data DIR (a new or empty data directory)");
  }
  const fs::path src(a.backup_dir), dst(g.data_dir);
  auto text = ReadFile((src / kManifest).string());
  if (!text.ok()) return Fail(text.status(), "restore");
  auto m = ParseJsonArg(*text, "manifest.json");
  if (!m.ok() || !m->is_object() || m->value("format", "") != kFormat ||
      !(*m)["files"].is_array()) {
    return FailWith(kExitFailed,
                    absl::StrCat(src.string(), "/manifest.json is not a ", kFormat, " manifest"));
  }
  std::error_code ec;
  if (fs::exists(dst) && !fs::is_empty(dst, ec)) {
    return FailWith(kExitFailed,
                    absl::StrCat(dst.string(), " is not empty: restore only into a new data dir"));
  }
  // Every file is checked before anything is copied.
  std::vector<std::string> paths;
  bool have_db = false;
  for (const Json& f : (*m)["files"]) {
    std::string p = f.value("path", "");
    if (!SafeRelative(p))
      return FailWith(kExitFailed, absl::StrCat("manifest: bad path '", p, "'"));
    fs::path file = src / p;
    if (!fs::is_regular_file(file)) {
      return FailWith(kExitFailed, absl::StrCat("backup is missing ", p));
    }
    if (fs::file_size(file) != f.value("size", uint64_t{0})) {
      return FailWith(kExitFailed, absl::StrCat("size mismatch for ", p, ": backup corrupted"));
    }
    auto sum = Sha256File(file);
    if (!sum.ok()) return Fail(sum.status());
    if (*sum != f.value("sha256", "")) {
      return FailWith(kExitFailed, absl::StrCat("checksum mismatch for ", p, ": backup corrupted"));
    }
    have_db |= p == kDbName;
    paths.push_back(p);
  }
  if (!have_db) return FailWith(kExitFailed, "manifest lists no kos.db");
  fs::create_directories(dst, ec);
  if (ec)
    return FailWith(kExitDenied, absl::StrCat("cannot create ", dst.string(), ": ", ec.message()));
  fs::permissions(dst, fs::perms::owner_all, fs::perm_options::replace, ec);
  for (const std::string& p : paths) {
    if (auto s = CopyPrivate(src / p, dst / p); !s.ok()) return Fail(s, "restore");
  }
  std::printf("restored %zu files into %s (checksums verified)\n", paths.size(),
              dst.string().c_str());
  std::printf(
      "note: the master key is not part of the backup; point security.encryptionKey "
      "at the original key (or copy master.key into %s)\n",
      dst.string().c_str());
  return kExitOk;
}

}  // namespace

void AddBackupCommands(CLI::App& app, Globals& g) {
  {
    auto a = std::make_shared<BackupArgs>();
    CLI::App* c = app.add_subcommand(
        "backup",
        "Online snapshot of the store (SQLite backup API) and the data files, with a "
        "SHA-256 manifest; the master key is not included");
    c->add_option("--out", a->out, "Backup directory (default: DATA/db_backups/<UTC time>)");
    c->callback([&g, a] { g.exit_code = RunBackup(g, *a); });
  }
  {
    auto a = std::make_shared<BackupArgs>();
    CLI::App* c = app.add_subcommand(
        "restore", "Verify a backup's checksums, then copy it into a new data dir (--data DIR)");
    c->add_option("BACKUP_DIR", a->backup_dir, "Directory written by kos backup")->required();
    c->callback([&g, a] { g.exit_code = RunRestore(g, *a); });
  }
}

}  // namespace kos::cli
