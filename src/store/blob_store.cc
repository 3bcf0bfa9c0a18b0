// BlobStore backends: a directory tree (atomic temp + fsync + rename) and an
// in-process map for tests.
#include "kos/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "kos/id.h"
#include "kos/status.h"
#include "store/backends.h"

namespace kos {

BlobWriter::~BlobWriter() = default;
BlobReader::~BlobReader() = default;
BlobStore::~BlobStore() = default;

absl::Status ValidateBlobKey(absl::string_view key) {
  if (key.empty() || key.size() > 512) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob key must be 1..512 bytes, got ", key.size()));
  }
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == '/';
    if (!ok) {
      return absl::InvalidArgumentError(
          "blob key may only hold letters, digits, '_', '.', '-', '/'");
    }
  }
  for (absl::string_view seg : absl::StrSplit(key, '/')) {
    if (seg.empty() || seg == "." || seg == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("blob key '", key, "' has an empty, '.' or '..' path segment"));
    }
  }
  if (key[0] == '.') return absl::InvalidArgumentError("blob key must not start with '.'");
  return absl::OkStatus();
}

absl::Status BlobStore::PutAll(absl::string_view key, absl::string_view data) {
  KOS_ASSIGN_OR_RETURN(auto w, NewWriter(key));
  KOS_RETURN_IF_ERROR(w->Append(data));
  return w->Commit();
}

absl::StatusOr<std::string> BlobStore::GetAll(absl::string_view key) {
  KOS_ASSIGN_OR_RETURN(auto r, NewReader(key));
  std::string out;
  out.resize(r->Size());
  size_t off = 0;
  while (off < out.size()) {
    KOS_ASSIGN_OR_RETURN(size_t n, r->Read(out.data() + off, out.size() - off));
    if (n == 0) break;
    off += n;
  }
  out.resize(off);
  return out;
}

namespace internal {
namespace {

absl::Status ErrnoStatus(absl::string_view what, const std::string& path, int err) {
  std::string msg = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(msg);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

absl::Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync directory", dir, err);
  return absl::OkStatus();
}

class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(int fd, std::string tmp, std::string final_path, std::string root, bool sync)
      : fd_(fd),
        tmp_(std::move(tmp)),
        final_(std::move(final_path)),
        root_(std::move(root)),
        sync_(sync) {}
  ~FileBlobWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError("blob writer is already committed");
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", tmp_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      written_ += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Commit() override {
    if (fd_ < 0) return absl::FailedPreconditionError("blob writer is already committed");
    if (sync_ && ::fsync(fd_) != 0) return ErrnoStatus("fsync", tmp_, errno);
    ::close(fd_);
    fd_ = -1;
    std::filesystem::path parent = std::filesystem::path(final_).parent_path();
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return ErrnoStatus("create directory", parent.string(), ec.value());
    if (::rename(tmp_.c_str(), final_.c_str()) != 0) return ErrnoStatus("rename", tmp_, errno);
    committed_ = true;
    if (sync_) KOS_RETURN_IF_ERROR(FsyncDir(parent.string()));
    return absl::OkStatus();
  }

  uint64_t BytesWritten() const override { return written_; }

 private:
  int fd_;
  std::string tmp_, final_, root_;
  bool sync_;
  bool committed_ = false;
  uint64_t written_ = 0;
};

class FileBlobReader final : public BlobReader {
 public:
  FileBlobReader(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~FileBlobReader() override { ::close(fd_); }

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_, buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return ErrnoStatus("read", path_, errno);
    }
  }
  uint64_t Size() const override { return size_; }

 private:
  int fd_;
  uint64_t size_;
  std::string path_;
};

class FileBlobStore final : public BlobStore {
 public:
  FileBlobStore(std::string root, const BlobStoreOptions& options)
      : root_(std::move(root)), options_(options) {}

  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    std::string tmp = absl::StrCat(root_, "/.tmp/", NewId());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus("create", tmp, errno);
    return std::unique_ptr<BlobWriter>(
        new FileBlobWriter(fd, tmp, Path(key), root_, options_.sync));
  }

  absl::StatusOr<std::unique_ptr<BlobReader>> NewReader(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    std::string path = Path(key);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no blob '", key, "'"));
      return ErrnoStatus("open", path, errno);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return absl::NotFoundError(absl::StrCat("no blob '", key, "'"));
    }
    return std::unique_ptr<BlobReader>(
        new FileBlobReader(fd, static_cast<uint64_t>(st.st_size), path));
  }

  absl::Status Delete(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    std::string path = Path(key);
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no blob '", key, "'"));
      return ErrnoStatus("delete", path, errno);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Exists(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    struct stat st;
    return ::stat(Path(key).c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }

  absl::StatusOr<uint64_t> Size(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    struct stat st;
    if (::stat(Path(key).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return absl::NotFoundError(absl::StrCat("no blob '", key, "'"));
    }
    return static_cast<uint64_t>(st.st_size);
  }

  absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) override {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      std::string rel = std::filesystem::relative(it->path(), root_).string();
      if (rel == ".tmp") {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && absl::StartsWith(rel, prefix)) out.push_back(rel);
    }
    if (ec) return ErrnoStatus("list", root_, ec.value());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string Path(absl::string_view key) const { return absl::StrCat(root_, "/", key); }

  const std::string root_;
  const BlobStoreOptions options_;
};

class MemoryBlobStore;

class MemoryBlobWriter final : public BlobWriter {
 public:
  MemoryBlobWriter(MemoryBlobStore* store, std::string key) : store_(store), key_(std::move(key)) {}
  absl::Status Append(absl::string_view data) override {
    if (done_) return absl::FailedPreconditionError("blob writer is already committed");
    buf_.append(data.data(), data.size());
    return absl::OkStatus();
  }
  absl::Status Commit() override;
  uint64_t BytesWritten() const override { return buf_.size(); }

 private:
  MemoryBlobStore* store_;
  std::string key_, buf_;
  bool done_ = false;
};

class MemoryBlobReader final : public BlobReader {
 public:
  explicit MemoryBlobReader(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min(n, data_.size() - off_);
    std::memcpy(buf, data_.data() + off_, k);
    off_ += k;
    return k;
  }
  uint64_t Size() const override { return data_.size(); }

 private:
  std::string data_;
  size_t off_ = 0;
};

class MemoryBlobStore final : public BlobStore {
 public:
  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    return std::unique_ptr<BlobWriter>(new MemoryBlobWriter(this, std::string(key)));
  }
  absl::StatusOr<std::unique_ptr<BlobReader>> NewReader(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    absl::MutexLock l(&mu_);
    auto it = blobs_.find(std::string(key));
    if (it == blobs_.end()) return absl::NotFoundError(absl::StrCat("no blob '", key, "'"));
    return std::unique_ptr<BlobReader>(new MemoryBlobReader(it->second));
  }
  absl::Status Delete(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    absl::MutexLock l(&mu_);
    if (blobs_.erase(std::string(key)) == 0) {
      return absl::NotFoundError(absl::StrCat("no blob '", key, "'"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<bool> Exists(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    absl::MutexLock l(&mu_);
    return blobs_.count(std::string(key)) > 0;
  }
  absl::StatusOr<uint64_t> Size(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateBlobKey(key));
    absl::MutexLock l(&mu_);
    auto it = blobs_.find(std::string(key));
    if (it == blobs_.end()) return absl::NotFoundError(absl::StrCat("no blob '", key, "'"));
    return it->second.size();
  }
  absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) override {
    absl::MutexLock l(&mu_);
    std::vector<std::string> out;
    for (auto it = blobs_.lower_bound(std::string(prefix));
         it != blobs_.end() && absl::StartsWith(it->first, prefix); ++it) {
      out.push_back(it->first);
    }
    return out;
  }
  void Install(const std::string& key, std::string data) {
    absl::MutexLock l(&mu_);
    blobs_[key] = std::move(data);
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> blobs_ ABSL_GUARDED_BY(mu_);
};

absl::Status MemoryBlobWriter::Commit() {
  if (done_) return absl::FailedPreconditionError("blob writer is already committed");
  done_ = true;
  store_->Install(key_, std::move(buf_));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& dir,
                                                             const BlobStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir + "/.tmp", ec);
  if (ec) return ErrnoStatus("create blob directory", dir, ec.value());
  if (::access(dir.c_str(), W_OK) != 0) return ErrnoStatus("open blob directory", dir, errno);
  // Leftover temp files are uploads that never committed: never visible, safe to drop.
  for (auto& e : std::filesystem::directory_iterator(dir + "/.tmp", ec)) {
    std::filesystem::remove(e.path(), ec);
  }
  return std::unique_ptr<BlobStore>(new FileBlobStore(dir, options));
}

std::unique_ptr<BlobStore> NewMemoryBlobStore() { return std::make_unique<MemoryBlobStore>(); }

}  // namespace internal

absl::StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(absl::string_view uri,
                                                         const BlobStoreOptions& options) {
  std::string scheme, rest;
  KOS_RETURN_IF_ERROR(internal::SplitUri(uri, &scheme, &rest));
  if (scheme == "memory") return internal::NewMemoryBlobStore();
  if (scheme == "file") {
    if (rest.empty()) return absl::InvalidArgumentError("file URI needs a directory: file:///path");
    return internal::OpenFileBlobStore(rest, options);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown blob store URI scheme '", scheme, "' (supported: memory:, file://)"));
}

}  // namespace kos
