#include <sodium.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kos/artifact.h"
#include "kos/id.h"
#include "kos/json.h"
#include "kos/status.h"

namespace kos {

ArtifactWriter::~ArtifactWriter() = default;
ArtifactReader::~ArtifactReader() = default;
ArtifactStore::~ArtifactStore() = default;

const char* ArtifactOpName(ArtifactOp op) {
  switch (op) {
    case ArtifactOp::kRead:
      return "read";
    case ArtifactOp::kWrite:
      return "write";
    case ArtifactOp::kDelete:
      return "delete";
  }
  return "read";
}

absl::StatusOr<ArtifactMetadata> ArtifactStore::Put(const ArtifactInfo& info,
                                                    absl::string_view content) {
  KOS_ASSIGN_OR_RETURN(auto w, NewWriter(info));
  KOS_RETURN_IF_ERROR(w->Append(content));
  return w->Commit();
}

absl::StatusOr<std::string> ArtifactStore::ReadAll(absl::string_view id) {
  KOS_ASSIGN_OR_RETURN(auto r, NewReader(id));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    KOS_ASSIGN_OR_RETURN(size_t n, r->Read(buf, sizeof(buf)));
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

namespace {

constexpr char kArtifacts[] = "artifacts";
constexpr char kByOwner[] = "artifact_owner";
constexpr char kObjects[] = "artifact_objects";
constexpr char kUsage[] = "artifact_usage";
constexpr int kCommitRetries = 16;
constexpr size_t kMaxSealedChunk = 64 << 20;

absl::Status ValidateInfo(const ArtifactInfo& info) {
  const std::string& n = info.name;
  if (n.empty() || n.size() > 255) {
    return absl::InvalidArgumentError("artifact name must be 1..255 bytes");
  }
  if (n == "." || n == ".." || !IsValidUtf8(n)) {
    return absl::InvalidArgumentError("artifact name must be valid UTF-8 and not '.' or '..'");
  }
  for (unsigned char c : n) {
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') {
      return absl::InvalidArgumentError(
          "artifact name must not contain '/', '\\' or control characters (path traversal)");
    }
  }
  if (info.owner.empty() || info.owner.size() > 128) {
    return absl::InvalidArgumentError("artifact owner must be 1..128 characters");
  }
  for (char c : info.owner) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr(":_.@-", c)) {
      return absl::InvalidArgumentError("artifact owner may only hold letters, digits and :_.@-");
    }
  }
  const std::string& ct = info.content_type;
  size_t slash = ct.find('/');
  if (ct.size() > 255 || slash == std::string::npos || slash == 0 || slash + 1 == ct.size()) {
    return absl::InvalidArgumentError("content type must look like 'type/subtype'");
  }
  for (unsigned char c : ct) {
    if (c < 0x20 || c >= 0x7f)
      return absl::InvalidArgumentError("content type must be printable ASCII");
  }
  if (info.tags.size() > 32) return absl::InvalidArgumentError("at most 32 tags per artifact");
  for (const auto& [k, v] : info.tags) {
    if (k.empty() || k.size() > 64)
      return absl::InvalidArgumentError("tag names must be 1..64 bytes");
    for (char c : k) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr("_.-", c)) {
        return absl::InvalidArgumentError("tag names may only hold letters, digits and _.-");
      }
    }
    if (v.size() > 256 || !IsValidUtf8(v)) {
      return absl::InvalidArgumentError("tag values must be valid UTF-8 of at most 256 bytes");
    }
  }
  if (!info.expected_blake2b.empty() &&
      (info.expected_blake2b.size() != 64 ||
       info.expected_blake2b.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return absl::InvalidArgumentError("expected_blake2b must be 64 lowercase hex digits");
  }
  return absl::OkStatus();
}

std::string ChunkAad(absl::string_view object, uint64_t index, bool last) {
  std::string aad = absl::StrCat("kos-artifact-chunk/v1|", object, "|");
  for (int i = 7; i >= 0; --i) aad.push_back(static_cast<char>(index >> (8 * i)));
  aad.push_back(last ? 1 : 0);
  return aad;
}

Json InfoToJson(const ArtifactMetadata& m, absl::string_view object, absl::string_view address) {
  return {{"id", m.id},
          {"name", m.info.name},
          {"content_type", m.info.content_type},
          {"owner", m.info.owner},
          {"tags", m.info.tags},
          {"size", m.size},
          {"blake2b", m.blake2b},
          {"created_ms", absl::ToUnixMillis(m.created)},
          {"object", std::string(object)},
          {"address", std::string(address)}};
}

absl::StatusOr<ArtifactMetadata> MetadataFromJson(absl::string_view text, std::string* object,
                                                  std::string* address = nullptr) {
  KOS_ASSIGN_OR_RETURN(Json j, ParseJson(text));
  ArtifactMetadata m;
  if (!j.is_object()) return absl::DataLossError("artifact metadata is not an object");
  try {
    m.id = j.at("id").get<std::string>();
    m.info.name = j.at("name").get<std::string>();
    m.info.content_type = j.at("content_type").get<std::string>();
    m.info.owner = j.at("owner").get<std::string>();
    m.info.tags = j.at("tags").get<std::map<std::string, std::string>>();
    m.size = j.at("size").get<uint64_t>();
    m.blake2b = j.at("blake2b").get<std::string>();
    m.created = absl::FromUnixMillis(j.at("created_ms").get<int64_t>());
    if (object) *object = j.at("object").get<std::string>();
    if (address) *address = j.at("address").get<std::string>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("artifact metadata is malformed: ", e.what()));
  }
  return m;
}

class StoreImpl;

class WriterImpl final : public ArtifactWriter {
 public:
  WriterImpl(StoreImpl* store, ArtifactInfo info, std::unique_ptr<BlobWriter> blob,
             std::string object, const SecretBytes& address_key, uint64_t quota_left);
  absl::Status Append(absl::string_view data) override;
  absl::StatusOr<ArtifactMetadata> Commit() override;

 private:
  absl::Status SealChunk(absl::string_view plain, bool last);

  StoreImpl* store_;
  ArtifactInfo info_;
  std::unique_ptr<BlobWriter> blob_;
  std::string object_;
  std::string buffer_;
  uint64_t size_ = 0;
  uint64_t chunks_ = 0;
  uint64_t quota_left_;
  absl::Status error_;
  bool done_ = false;
  crypto_generichash_state hash_;
  crypto_generichash_state address_;
};

class ReaderImpl final : public ArtifactReader {
 public:
  ReaderImpl(StoreImpl* store, ArtifactMetadata meta, std::string object,
             std::unique_ptr<BlobReader> blob)
      : store_(store), meta_(std::move(meta)), object_(std::move(object)), blob_(std::move(blob)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;
  const ArtifactMetadata& metadata() const override { return meta_; }

 private:
  absl::Status ReadExact(char* buf, size_t n, bool* eof);
  absl::Status NextChunk();

  StoreImpl* store_;
  ArtifactMetadata meta_;
  std::string object_;
  std::unique_ptr<BlobReader> blob_;
  SecretBytes plain_;
  size_t offset_ = 0;
  uint64_t index_ = 0;
  uint64_t delivered_ = 0;
  bool saw_last_ = false;
};

class StoreImpl final : public ArtifactStore {
 public:
  StoreImpl(const ArtifactStoreOptions& o, SecretBytes address_key)
      : o_(o), address_key_(std::move(address_key)) {}

  const ArtifactStoreOptions& options() const { return o_; }

  absl::StatusOr<const SecretBytes*> LookupKey(uint32_t version) const {
    if (o_.key_lookup) return o_.key_lookup(version);
    if (version == o_.content_key_version) return o_.content_key;
    return absl::NotFoundError(absl::StrCat("no content key version ", version));
  }

  absl::StatusOr<std::unique_ptr<ArtifactWriter>> NewWriter(const ArtifactInfo& info) override {
    KOS_RETURN_IF_ERROR(ValidateInfo(info));
    KOS_ASSIGN_OR_RETURN(uint64_t used, Usage(info.owner));
    if (used >= o_.owner_quota_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "owner '", info.owner, "' has used its quota of ", o_.owner_quota_bytes, " bytes"));
    }
    std::string object = NewId();
    KOS_ASSIGN_OR_RETURN(auto blob, o_.blobs->NewWriter(BlobKey(object)));
    return std::unique_ptr<ArtifactWriter>(new WriterImpl(
        this, info, std::move(blob), object, address_key_, o_.owner_quota_bytes - used));
  }

  absl::StatusOr<ArtifactMetadata> Get(absl::string_view id) override {
    std::string object;
    return Load(id, &object, nullptr);
  }

  absl::StatusOr<std::unique_ptr<ArtifactReader>> NewReader(absl::string_view id) override {
    std::string object;
    KOS_ASSIGN_OR_RETURN(ArtifactMetadata m, Load(id, &object, nullptr));
    KOS_ASSIGN_OR_RETURN(auto blob, o_.blobs->NewReader(BlobKey(object)));
    return std::unique_ptr<ArtifactReader>(
        new ReaderImpl(this, std::move(m), object, std::move(blob)));
  }

  absl::StatusOr<ArtifactPage> List(absl::string_view owner, absl::string_view page_token,
                                    size_t limit) override {
    ScanOptions so;
    so.page_token = std::string(page_token);
    so.limit = limit;
    ArtifactPage page;
    if (owner.empty()) {
      KOS_ASSIGN_OR_RETURN(ScanPage p, o_.store->Scan(kArtifacts, so));
      for (const Record& r : p.records) {
        KOS_ASSIGN_OR_RETURN(ArtifactMetadata m, MetadataFromJson(r.value, nullptr));
        page.artifacts.push_back(std::move(m));
      }
      page.next_page_token = p.next_page_token;
      return page;
    }
    so.prefix = absl::StrCat(owner, "/");
    KOS_ASSIGN_OR_RETURN(ScanPage p, o_.store->Scan(kByOwner, so));
    for (const Record& r : p.records) {
      auto m = Get(r.value);
      if (m.ok()) page.artifacts.push_back(*std::move(m));
    }
    page.next_page_token = p.next_page_token;
    return page;
  }

  absl::Status Delete(absl::string_view id) override {
    for (int attempt = 0; attempt < kCommitRetries; ++attempt) {
      std::string object, address;
      uint64_t meta_version = 0;
      KOS_ASSIGN_OR_RETURN(ArtifactMetadata m, Load(id, &object, &meta_version, &address));
      std::vector<WriteOp> ops;
      ops.push_back(WriteOp::Delete(kArtifacts, m.id, meta_version));
      ops.push_back(WriteOp::Delete(kByOwner, absl::StrCat(m.info.owner, "/", m.id)));
      KOS_ASSIGN_OR_RETURN(UsageRecord usage, ReadUsage(m.info.owner));
      ops.push_back(WriteOp::Put(kUsage, m.info.owner,
                                 absl::StrCat(usage.bytes > m.size ? usage.bytes - m.size : 0),
                                 usage.version));
      // Drop one reference to the content; the last reference frees the blob.
      bool free_blob = false;
      auto obj = o_.store->Get(kObjects, address);
      if (!obj.ok() && !absl::IsNotFound(obj.status())) return obj.status();
      if (obj.ok()) {
        Json oj = ParseJson(obj->value).value_or(Json::object());
        int64_t n = oj.value("refs", 1) - 1;
        if (n <= 0) {
          ops.push_back(WriteOp::Delete(kObjects, obj->key, obj->version));
          free_blob = true;
        } else {
          oj["refs"] = n;
          ops.push_back(WriteOp::Put(kObjects, obj->key, DumpJson(oj), obj->version));
        }
      }
      auto committed = o_.store->Commit(ops);
      if (absl::IsFailedPrecondition(committed.status())) continue;  // raced: re-read
      KOS_RETURN_IF_ERROR(committed.status());
      if (free_blob) {
        absl::Status s = o_.blobs->Delete(BlobKey(object));
        if (!s.ok() && !absl::IsNotFound(s)) return s;
      }
      return absl::OkStatus();
    }
    return absl::AbortedError("artifact delete kept conflicting with concurrent writers");
  }

  absl::StatusOr<uint64_t> Usage(absl::string_view owner) override {
    KOS_ASSIGN_OR_RETURN(UsageRecord usage, ReadUsage(owner));
    return usage.bytes;
  }

  // An owner's usage record and its version (0 bytes, version 0 if absent),
  // read the same way by Usage, uploads and deletes.
  struct UsageRecord {
    uint64_t bytes = 0;
    uint64_t version = 0;
  };
  absl::StatusOr<UsageRecord> ReadUsage(absl::string_view owner) {
    auto r = o_.store->Get(kUsage, owner);
    if (absl::IsNotFound(r.status())) return UsageRecord{};
    KOS_RETURN_IF_ERROR(r.status());
    UsageRecord u;
    u.version = r->version;
    if (!absl::SimpleAtoi(r->value, &u.bytes)) {
      return absl::DataLossError("artifact usage record is malformed");
    }
    return u;
  }

  absl::StatusOr<std::string> SignUrl(absl::string_view id, ArtifactOp op,
                                      absl::Duration ttl) override {
    if (ttl <= absl::ZeroDuration() || ttl > o_.max_url_ttl) {
      return absl::InvalidArgumentError(absl::StrCat("signed URL lifetime must be in (0, ",
                                                     absl::FormatDuration(o_.max_url_ttl), "]"));
    }
    KOS_RETURN_IF_ERROR(Get(id).status());
    Json claims = {{"a", std::string(id)},
                   {"op", ArtifactOpName(op)},
                   {"exp", absl::ToUnixSeconds(o_.clock->Now() + ttl)}};
    std::string payload = Base64UrlEncode(DumpJson(claims));
    return absl::StrCat(payload, ".", Base64UrlEncode(HmacSha256(o_.url_key->view(), payload)));
  }

  absl::StatusOr<std::string> VerifyUrl(absl::string_view token, ArtifactOp op) override {
    const absl::Status denied = absl::UnauthenticatedError("invalid or expired artifact URL token");
    if (token.size() > 4096) return denied;
    size_t dot = token.find('.');
    if (dot == absl::string_view::npos) return denied;
    absl::string_view payload = token.substr(0, dot);
    auto tag = Base64UrlDecode(token.substr(dot + 1));
    if (!tag.ok() || !HmacSha256Verify(o_.url_key->view(), payload, *tag).ok() ||
        tag->size() != kHmacSha256Bytes) {
      return denied;
    }
    auto text = Base64UrlDecode(payload);
    if (!text.ok()) return denied;
    auto claims = ParseJson(*text);
    if (!claims.ok() || !claims->is_object()) return denied;
    auto id = GetString(*claims, "a");
    auto op_name = GetString(*claims, "op");
    auto exp = GetInt(*claims, "exp");
    if (!id.ok() || !op_name.ok() || !exp.ok()) return denied;
    if (*op_name != ArtifactOpName(op)) return denied;
    if (o_.clock->Now() >= absl::FromUnixSeconds(*exp)) return denied;
    if (!Get(*id).ok()) return denied;
    return *id;
  }

  // Registers a finished upload: metadata, owner index, object reference and
  // usage in one batch, retried on conflicts with concurrent uploads.
  absl::StatusOr<ArtifactMetadata> Register(ArtifactMetadata m, const std::string& object,
                                            const std::string& address) {
    for (int attempt = 0; attempt < kCommitRetries; ++attempt) {
      std::vector<WriteOp> ops;
      auto usage = ReadUsage(m.info.owner);
      if (!usage.ok()) {
        (void)o_.blobs->Delete(BlobKey(object));
        return usage.status();
      }
      const uint64_t used = usage->bytes;
      if (used + m.size > o_.owner_quota_bytes) {
        (void)o_.blobs->Delete(BlobKey(object));
        return absl::ResourceExhaustedError(absl::StrCat("owner '", m.info.owner,
                                                         "' would exceed its quota of ",
                                                         o_.owner_quota_bytes, " bytes"));
      }
      ops.push_back(
          WriteOp::Put(kUsage, m.info.owner, absl::StrCat(used + m.size), usage->version));
      std::string stored_object = object;
      bool duplicate = false;
      auto existing = o_.store->Get(kObjects, address);
      if (existing.ok()) {
        Json oj = ParseJson(existing->value).value_or(Json::object());
        stored_object = oj.value("object", object);
        oj["refs"] = oj.value("refs", 1) + 1;
        ops.push_back(WriteOp::Put(kObjects, address, DumpJson(oj), existing->version));
        duplicate = true;
      } else if (absl::IsNotFound(existing.status())) {
        ops.push_back(WriteOp::Put(
            kObjects, address, DumpJson({{"object", object}, {"refs", 1}, {"size", m.size}}), 0));
      } else {
        return existing.status();
      }
      ops.push_back(
          WriteOp::Put(kArtifacts, m.id, DumpJson(InfoToJson(m, stored_object, address)), 0));
      ops.push_back(WriteOp::Put(kByOwner, absl::StrCat(m.info.owner, "/", m.id), m.id, 0));
      auto committed = o_.store->Commit(ops);
      if (absl::IsFailedPrecondition(committed.status())) continue;
      if (!committed.ok()) {
        (void)o_.blobs->Delete(BlobKey(object));
        return committed.status();
      }
      // Same content already stored: keep one copy.
      if (duplicate) (void)o_.blobs->Delete(BlobKey(object));
      return m;
    }
    (void)o_.blobs->Delete(BlobKey(object));
    return absl::AbortedError("artifact commit kept conflicting with concurrent writers");
  }

  static std::string BlobKey(absl::string_view object) {
    return absl::StrCat("artifacts/", object);
  }

 private:
  absl::StatusOr<ArtifactMetadata> Load(absl::string_view id, std::string* object,
                                        uint64_t* version, std::string* address = nullptr) {
    if (!IsValidId(id)) {
      return absl::InvalidArgumentError("artifact id must be a 26-character ULID");
    }
    auto r = o_.store->Get(kArtifacts, id);
    if (absl::IsNotFound(r.status())) {
      return absl::NotFoundError(absl::StrCat("no artifact '", id, "'"));
    }
    KOS_RETURN_IF_ERROR(r.status());
    if (version) *version = r->version;
    return MetadataFromJson(r->value, object, address);
  }

  const ArtifactStoreOptions o_;
  const SecretBytes address_key_;
};

WriterImpl::WriterImpl(StoreImpl* store, ArtifactInfo info, std::unique_ptr<BlobWriter> blob,
                       std::string object, const SecretBytes& address_key, uint64_t quota_left)
    : store_(store),
      info_(std::move(info)),
      blob_(std::move(blob)),
      object_(std::move(object)),
      quota_left_(quota_left) {
  crypto_generichash_init(&hash_, nullptr, 0, 32);
  crypto_generichash_init(&address_, address_key.data(), address_key.size(), 32);
}

absl::Status WriterImpl::SealChunk(absl::string_view plain, bool last) {
  const auto& o = store_->options();
  KOS_ASSIGN_OR_RETURN(std::string sealed, Seal(*o.content_key, o.content_key_version, plain,
                                                ChunkAad(object_, chunks_, last)));
  char len[4];
  for (int i = 0; i < 4; ++i) len[i] = static_cast<char>(sealed.size() >> (8 * (3 - i)));
  KOS_RETURN_IF_ERROR(blob_->Append(absl::string_view(len, 4)));
  KOS_RETURN_IF_ERROR(blob_->Append(sealed));
  ++chunks_;
  return absl::OkStatus();
}

absl::Status WriterImpl::Append(absl::string_view data) {
  if (done_) return absl::FailedPreconditionError("artifact writer already committed");
  KOS_RETURN_IF_ERROR(error_);
  const auto& o = store_->options();
  if (size_ + data.size() > o.max_artifact_bytes) {
    error_ = absl::InvalidArgumentError(
        absl::StrCat("artifact exceeds the size limit of ", o.max_artifact_bytes, " bytes"));
    return error_;
  }
  if (size_ + data.size() > quota_left_) {
    error_ = absl::ResourceExhaustedError(
        absl::StrCat("owner '", info_.owner, "' would exceed its quota"));
    return error_;
  }
  size_ += data.size();
  crypto_generichash_update(&hash_, reinterpret_cast<const unsigned char*>(data.data()),
                            data.size());
  crypto_generichash_update(&address_, reinterpret_cast<const unsigned char*>(data.data()),
                            data.size());
  buffer_.append(data.data(), data.size());
  // Hold back one full chunk: only Commit() knows which chunk is the last.
  size_t consumed = 0;
  while (buffer_.size() - consumed > o.chunk_bytes) {
    absl::Status s = SealChunk(absl::string_view(buffer_).substr(consumed, o.chunk_bytes), false);
    if (!s.ok()) {
      error_ = s;
      return s;
    }
    consumed += o.chunk_bytes;
  }
  buffer_.erase(0, consumed);
  return absl::OkStatus();
}

absl::StatusOr<ArtifactMetadata> WriterImpl::Commit() {
  if (done_) return absl::FailedPreconditionError("artifact writer already committed");
  KOS_RETURN_IF_ERROR(error_);
  done_ = true;
  const auto& o = store_->options();
  if (size_ == 0 && !o.allow_empty) {
    return absl::InvalidArgumentError("artifact is empty (zero-length uploads are refused)");
  }
  unsigned char digest[32], address[32];
  crypto_generichash_final(&hash_, digest, sizeof(digest));
  crypto_generichash_final(&address_, address, sizeof(address));
  std::string hex = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 32));
  if (!info_.expected_blake2b.empty() && info_.expected_blake2b != hex) {
    return absl::InvalidArgumentError(
        "artifact content does not match expected_blake2b (upload discarded)");
  }
  KOS_RETURN_IF_ERROR(SealChunk(buffer_, true));
  buffer_.clear();
  KOS_RETURN_IF_ERROR(blob_->Commit());
  ArtifactMetadata m;
  m.id = NewId();
  m.info = info_;
  m.info.expected_blake2b.clear();
  m.size = size_;
  m.blake2b = hex;
  m.created = o.clock->Now();
  return store_->Register(
      std::move(m), object_,
      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(address), 32)));
}

absl::Status ReaderImpl::ReadExact(char* buf, size_t n, bool* eof) {
  size_t got = 0;
  while (got < n) {
    KOS_ASSIGN_OR_RETURN(size_t k, blob_->Read(buf + got, n - got));
    if (k == 0) break;
    got += k;
  }
  *eof = got == 0;
  if (got != 0 && got != n) return absl::DataLossError("artifact content is truncated");
  return absl::OkStatus();
}

absl::Status ReaderImpl::NextChunk() {
  char len[4];
  bool eof = false;
  KOS_RETURN_IF_ERROR(ReadExact(len, 4, &eof));
  if (eof) return absl::DataLossError("artifact content is truncated (no final chunk)");
  size_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(len[i]);
  if (n > kMaxSealedChunk) return absl::DataLossError("artifact chunk length is corrupt");
  std::string sealed(n, '\0');
  KOS_RETURN_IF_ERROR(ReadExact(sealed.data(), n, &eof));
  if (eof && n > 0) return absl::DataLossError("artifact content is truncated");
  auto lookup = [this](uint32_t v) { return store_->LookupKey(v); };
  // Try as a middle chunk, then as the last: the flag is authenticated, so
  // only the true one opens.
  auto plain = Open(lookup, sealed, ChunkAad(object_, index_, false));
  bool last = false;
  if (!plain.ok() && absl::IsUnauthenticated(plain.status())) {
    plain = Open(lookup, sealed, ChunkAad(object_, index_, true));
    last = true;
  }
  if (!plain.ok()) {
    if (absl::IsUnauthenticated(plain.status()) || absl::IsInvalidArgument(plain.status())) {
      return absl::DataLossError(
          absl::StrCat("artifact '", meta_.id, "' chunk ", index_, " failed authentication"));
    }
    return plain.status();
  }
  ++index_;
  saw_last_ = last;
  plain_ = *std::move(plain);
  offset_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReaderImpl::Read(char* buf, size_t n) {
  while (offset_ == plain_.size()) {
    if (saw_last_) {
      if (delivered_ != meta_.size)
        return absl::DataLossError("artifact size does not match metadata");
      return 0;
    }
    KOS_RETURN_IF_ERROR(NextChunk());
  }
  size_t k = std::min(n, plain_.size() - offset_);
  std::memcpy(buf, plain_.data() + offset_, k);
  offset_ += k;
  delivered_ += k;
  return k;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(
    const ArtifactStoreOptions& options) {
  KOS_RETURN_IF_ERROR(CryptoInit());
  if (options.store == nullptr || options.blobs == nullptr) {
    return absl::InvalidArgumentError("ArtifactStoreOptions needs a store and a blob store");
  }
  if (options.content_key == nullptr || options.content_key->size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError("ArtifactStoreOptions.content_key must be 32 bytes");
  }
  if (options.url_key == nullptr || options.url_key->size() < 32) {
    return absl::InvalidArgumentError("ArtifactStoreOptions.url_key must be at least 32 bytes");
  }
  if (options.chunk_bytes < 1024 || options.chunk_bytes > (16 << 20)) {
    return absl::InvalidArgumentError("chunk_bytes must be 1 KiB .. 16 MiB");
  }
  KOS_ASSIGN_OR_RETURN(SecretBytes address_key,
                       HkdfSha256(options.content_key->view(), "", "kos artifact address v1", 32));
  return std::unique_ptr<ArtifactStore>(new StoreImpl(options, std::move(address_key)));
}

}  // namespace kos
