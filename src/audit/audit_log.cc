#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kos/audit.h"
#include "kos/jcs.h"
#include "kos/json.h"
#include "kos/status.h"

namespace kos {
namespace {

constexpr char kHeadKey[] = "head";
constexpr size_t kHashBytes = 32;

std::string SeqKey(uint64_t seq) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(seq));
  return buf;
}

// The "prev" of record 1.
std::string GenesisHash() { return Base64UrlEncode(std::string(kHashBytes, '\0')); }

// Hostile actors and resources must still be audited: replace invalid UTF-8
// (which JCS refuses) instead of failing the write.
std::string Utf8(absl::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string quoted = DumpJson(Json(std::string(s)));  // replaces with U+FFFD
  return ParseJson(quoted)->get<std::string>();
}

// h = base64url(BLAKE2b-256(JCS(record without "hash"))).
absl::StatusOr<std::string> HashRecord(Json record) {
  record.erase("hash");
  KOS_ASSIGN_OR_RETURN(std::string canonical, Canonicalize(record));
  KOS_ASSIGN_OR_RETURN(std::string digest, Blake2b(canonical, kHashBytes));
  return Base64UrlEncode(digest);
}

struct Head {
  uint64_t seq = 0;
  std::string hash = GenesisHash();
  uint64_t version = 0;  // 0: no head yet
};

absl::StatusOr<Head> ReadHead(Store* store, const std::string& collection) {
  Head head;
  auto rec = store->Get(collection, kHeadKey);
  if (absl::IsNotFound(rec.status())) return head;
  KOS_RETURN_IF_ERROR(rec.status());
  auto j = ParseJson(rec->value);
  auto seq = j.ok() ? GetInt(*j, "seq") : j.status();
  auto hash = j.ok() ? GetString(*j, "hash") : j.status();
  if (!seq.ok() || !hash.ok() || *seq < 0) {
    return absl::DataLossError("audit log: head record is corrupt");
  }
  head.seq = static_cast<uint64_t>(*seq);
  head.hash = *hash;
  head.version = rec->version;
  return head;
}

absl::Status Broken(uint64_t seq, absl::string_view why) {
  return absl::DataLossError(absl::StrCat("audit chain broken at sequence ", seq, ": ", why));
}

// Decodes a stored record, checking its own hash. DATA_LOSS on any defect.
absl::StatusOr<AuditEntry> DecodeEntry(uint64_t position, absl::string_view value) {
  auto j = ParseJson(value);
  if (!j.ok() || !j->is_object()) return Broken(position, "record is not valid JSON (altered)");
  AuditEntry e;
  auto seq = GetInt(*j, "seq");
  auto time = GetInt(*j, "time");
  auto actor = GetString(*j, "actor");
  auto action = GetString(*j, "action");
  auto resource = GetString(*j, "resource");
  auto outcome = GetString(*j, "outcome");
  auto hash = GetString(*j, "hash");
  auto prev = GetString(*j, "prev");
  for (const absl::Status& s :
       {seq.status(), time.status(), actor.status(), action.status(), resource.status(),
        outcome.status(), hash.status(), prev.status()}) {
    if (!s.ok()) return Broken(position, absl::StrCat("malformed record (altered): ", s.message()));
  }
  auto fields = j->find("fields");
  auto hmac = j->find("hmac");
  if (fields == j->end() || !fields->is_object() || hmac == j->end() || !hmac->is_object()) {
    return Broken(position, "malformed record (altered): fields/hmac");
  }
  for (const auto& [k, v] : fields->items()) {
    if (!v.is_string()) return Broken(position, "malformed record (altered): field value");
    e.event.fields[k] = v.get<std::string>();
  }
  for (const auto& [k, v] : hmac->items()) {
    if (!v.is_string()) return Broken(position, "malformed record (altered): hmac value");
    e.hmac_fields[k] = v.get<std::string>();
  }
  auto recomputed = HashRecord(*j);
  if (!recomputed.ok() || *recomputed != *hash) {
    return Broken(position, "record content does not match its hash (altered)");
  }
  e.sequence = static_cast<uint64_t>(*seq);
  e.event.time = absl::FromUnixMicros(*time);
  e.event.actor = *std::move(actor);
  e.event.action = *std::move(action);
  e.event.resource = *std::move(resource);
  e.event.outcome = *std::move(outcome);
  e.hash = *std::move(hash);
  e.prev = *std::move(prev);
  return e;
}

}  // namespace

AuditLog::AuditLog(const AuditLogOptions& options, SecretBytes hmac_key)
    : options_(options), hmac_key_(std::move(hmac_key)) {
  options_.hmac_key = nullptr;  // copied into hmac_key_
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditLogOptions& options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("audit log: store is required");
  if (options.clock == nullptr) return absl::InvalidArgumentError("audit log: clock is required");
  KOS_RETURN_IF_ERROR(ValidateCollectionName(options.collection));
  if (options.max_append_attempts < 1) {
    return absl::InvalidArgumentError("audit log: max_append_attempts must be >= 1");
  }
  SecretBytes key;
  if (options.hmac_key != nullptr) {
    if (options.hmac_key->size() < 16) {
      return absl::InvalidArgumentError("audit log: hmac_key must be at least 16 bytes");
    }
    key = options.hmac_key->Clone();
  } else if (!options.sensitive_fields.empty()) {
    return absl::InvalidArgumentError("audit log: sensitive_fields need an hmac_key");
  }
  return std::unique_ptr<AuditLog>(new AuditLog(options, std::move(key)));
}

std::string AuditLog::SensitiveDigest(absl::string_view name, absl::string_view value) const {
  if (hmac_key_.empty()) return "";
  // The name is bound in so equal values of different fields do not match.
  return Base64UrlEncode(
      HmacSha256(hmac_key_.view(), absl::StrCat(name, std::string(1, '\0'), value)));
}

absl::StatusOr<uint64_t> AuditLog::Append(const AuditEvent& event) {
  absl::Time time = event.time == absl::InfinitePast() ? options_.clock->Now() : event.time;
  Json record = Json::object();
  record["time"] = absl::ToUnixMicros(time);
  record["actor"] = Utf8(event.actor);
  record["action"] = Utf8(event.action);
  record["resource"] = Utf8(event.resource);
  record["outcome"] = Utf8(event.outcome);
  Json fields = Json::object(), hmac = Json::object();
  for (const auto& [name, value] : event.fields) {
    if (options_.sensitive_fields.count(name)) {
      hmac[Utf8(name)] = SensitiveDigest(name, value);
    } else {
      fields[Utf8(name)] = Utf8(value);
    }
  }
  record["fields"] = std::move(fields);
  record["hmac"] = std::move(hmac);

  absl::MutexLock lock(&append_mu_);
  for (int attempt = 0; attempt < options_.max_append_attempts; ++attempt) {
    KOS_ASSIGN_OR_RETURN(Head head, ReadHead(options_.store, options_.collection));
    uint64_t seq = head.seq + 1;
    record["seq"] = seq;
    record["prev"] = head.hash;
    KOS_ASSIGN_OR_RETURN(std::string hash, HashRecord(record));
    record["hash"] = hash;
    KOS_ASSIGN_OR_RETURN(std::string value, Canonicalize(record));
    std::vector<WriteOp> ops;
    ops.push_back(WriteOp::Put(options_.collection, SeqKey(seq), std::move(value), 0));
    ops.push_back(WriteOp::Put(options_.collection, kHeadKey,
                               DumpJson(Json{{"seq", seq}, {"hash", hash}}), head.version));
    auto committed = options_.store->Commit(ops);
    if (committed.ok()) return seq;
    // Another appender (another process) took this sequence: re-read the head.
    if (!absl::IsFailedPrecondition(committed.status())) return committed.status();
  }
  return absl::AbortedError("audit log: too much contention, event not recorded");
}

absl::Status AuditLog::Record(const AuditEvent& event) { return Append(event).status(); }

absl::StatusOr<AuditPage> AuditLog::Query(const AuditQuery& query) {
  if (query.limit < 1 || query.limit > 1000) {
    return absl::InvalidArgumentError("audit log: limit must be 1..1000");
  }
  AuditPage page;
  ScanOptions scan;
  scan.page_token = query.page_token;
  // Whole Store pages are consumed so that the Store's token resumes exactly
  // after the last record examined; pages shrink as the result fills up.
  do {
    scan.limit = query.limit - page.entries.size();
    KOS_ASSIGN_OR_RETURN(ScanPage sp, options_.store->Scan(options_.collection, scan));
    for (const kos::Record& r : sp.records) {
      if (r.key == kHeadKey) continue;
      uint64_t position = 0;
      if (!absl::SimpleAtoi(r.key, &position)) {
        return absl::DataLossError(absl::StrCat("audit log: unexpected key in chain"));
      }
      KOS_ASSIGN_OR_RETURN(AuditEntry e, DecodeEntry(position, r.value));
      if (e.event.time < query.from || e.event.time >= query.to) continue;
      if (!query.actor.empty() && e.event.actor != query.actor) continue;
      if (!query.action.empty() && e.event.action != query.action) continue;
      page.entries.push_back(std::move(e));
    }
    scan.page_token = sp.next_page_token;
  } while (!scan.page_token.empty() && page.entries.size() < query.limit);
  page.next_page_token = scan.page_token;
  return page;
}

absl::StatusOr<uint64_t> AuditLog::VerifyChain() {
  KOS_ASSIGN_OR_RETURN(Head head, ReadHead(options_.store, options_.collection));
  uint64_t expected = 1;
  std::string prev = GenesisHash();
  ScanOptions scan;
  scan.limit = 1000;
  do {
    KOS_ASSIGN_OR_RETURN(ScanPage sp, options_.store->Scan(options_.collection, scan));
    for (const kos::Record& r : sp.records) {
      if (r.key == kHeadKey) continue;
      uint64_t position = 0;
      if (!absl::SimpleAtoi(r.key, &position) || r.key != SeqKey(position)) {
        return Broken(expected, "unexpected key in the audit collection");
      }
      if (position != expected) {
        return Broken(expected, absl::StrCat("record missing (removed); next is ", position));
      }
      KOS_ASSIGN_OR_RETURN(AuditEntry e, DecodeEntry(position, r.value));
      if (e.sequence != position) {
        return Broken(position, absl::StrCat("slot holds record ", e.sequence, " (reordered)"));
      }
      if (e.prev != prev) {
        return Broken(position, "previous-hash link does not match (reordered or removed)");
      }
      prev = e.hash;
      ++expected;
    }
    scan.page_token = sp.next_page_token;
  } while (!scan.page_token.empty());
  uint64_t count = expected - 1;
  if (head.seq != count) {
    return Broken(std::min(head.seq, count) + 1,
                  absl::StrCat("head says ", head.seq, " records, found ", count,
                               " (records removed from or added past the end)"));
  }
  if (head.hash != prev) return Broken(count, "last record does not match the head (altered)");
  return count;
}

}  // namespace kos
