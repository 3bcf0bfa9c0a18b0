// Artifacts (upload, download, signed URLs), the vault (KV, transit,
// keyring rotation) and the audit log.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http/api.h"
#include "kos/status.h"

namespace kos::server {

namespace {

Json ArtifactJson(const ArtifactMetadata& m) {
  return {{"id", m.id},
          {"name", m.info.name},
          {"content_type", m.info.content_type},
          {"owner", m.info.owner},
          {"tags", m.info.tags},
          {"size", m.size},
          {"blake2b", m.blake2b},
          {"created", TimeString(m.created)}};
}

// Streams an artifact's content chunk by chunk (never all in memory).
absl::Status SendArtifact(ArtifactStore* store, const std::string& id, httplib::Response& res) {
  KOS_ASSIGN_OR_RETURN(std::unique_ptr<ArtifactReader> reader, store->NewReader(id));
  std::shared_ptr<ArtifactReader> shared(std::move(reader));
  const ArtifactMetadata& m = shared->metadata();
  res.status = 200;
  res.set_header("ETag", absl::StrCat("\"", m.blake2b, "\""));
  std::string disposition = m.info.name;
  for (char& c : disposition)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
  res.set_header("Content-Disposition", absl::StrCat("attachment; filename=\"", disposition, "\""));
  res.set_content_provider(m.size, m.info.content_type,
                           [shared](size_t offset, size_t length, httplib::DataSink& sink) -> bool {
                             char buf[64 << 10];
                             auto n = shared->Read(buf, std::min(sizeof(buf), length));
                             // A chunk that fails authentication ends the response short, so the
                             // client sees a truncated body rather than altered bytes.
                             if (!n.ok() || *n == 0) return false;
                             return sink.write(buf, *n);
                           });
  return absl::OkStatus();
}

}  // namespace

void AddArtifactRoutes(Api* api, std::vector<Route>* routes) {
  Kernel* k = api->kernel;
  Route r;
  r.tag = "artifacts";
  OwnerFn artifact_owner = [k](Call& call) -> std::string {
    auto m = k->artifacts()->Get(call.Param("id"));
    return m.ok() ? m->info.owner : "";
  };

  r.method = "POST";
  r.path = "/api/v1/artifacts";
  r.resource = "artifacts:uploads";
  r.action = "write";
  r.owner = [](Call& call) { return call.Subject(); };
  r.access =
      "any authenticated caller unless denied artifacts:uploads write; counts against "
      "the caller's quota";
  r.success_status = 201;
  r.summary =
      "Upload: the raw body is the content; ?name= (required), content type from "
      "Content-Type, ?sha= optional expected BLAKE2b-256 hex";
  r.raw_body = true;
  r.response_schema = Schema("id:string, name:string, size:integer, blake2b:string");
  r.handler = [k](Call& call) -> absl::Status {
    ArtifactInfo info;
    info.name = call.Query("name");
    if (info.name.empty()) return absl::InvalidArgumentError("query parameter 'name' is required");
    std::string ct = call.req.get_header_value("Content-Type");
    if (!ct.empty()) info.content_type = ct;
    info.owner = call.Subject();
    info.expected_blake2b = call.Query("sha");
    KOS_ASSIGN_OR_RETURN(ArtifactMetadata m, k->artifacts()->Put(info, call.req.body));
    call.res.set_header("Location", absl::StrCat("/api/v1/artifacts/", m.id));
    call.Reply(ArtifactJson(m));
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.raw_body = false;
  r.success_status = 200;

  r.method = "GET";
  r.resource = "artifacts:all";
  r.action = "read";
  r.access = "the caller's own artifacts; ?owner=<subject> needs artifacts:all read";
  r.owner = nullptr;
  r.resource.clear();
  r.summary = "List artifacts (?owner=&page_token=&limit=)";
  r.response_schema = Schema("artifacts:[object], next_page_token:string");
  r.handler = [api, k](Call& call) -> absl::Status {
    std::string owner = call.Query("owner", call.Subject());
    if (owner != call.Subject()) KOS_RETURN_IF_ERROR(api->Authorize(call, "artifacts:all", "read"));
    KOS_ASSIGN_OR_RETURN(int64_t limit, call.QueryInt("limit", 100, 1, 1000));
    KOS_ASSIGN_OR_RETURN(ArtifactPage page,
                         k->artifacts()->List(owner, call.Query("page_token"), limit));
    Json list = Json::array();
    for (const auto& m : page.artifacts) list.push_back(ArtifactJson(m));
    call.Reply({{"artifacts", list}, {"next_page_token", page.next_page_token}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.access.clear();

  // Before /artifacts/{id}, which would match "signed" too.
  r.path = "/api/v1/artifacts/signed";
  r.auth = false;
  r.summary = "Download with a signed URL's token (?token=), no bearer token needed";
  r.access = "the token (HMAC, expiring, read-only) is the credential";
  r.response_schema = {{"type", "string"}, {"format", "binary"}};
  r.response_content_type = "application/octet-stream";
  r.handler = [k](Call& call) -> absl::Status {
    std::string token = call.Query("token");
    if (token.empty()) return absl::UnauthenticatedError("missing token");
    KOS_ASSIGN_OR_RETURN(std::string id, k->artifacts()->VerifyUrl(token, ArtifactOp::kRead));
    return SendArtifact(k->artifacts(), id, call.res);
  };
  routes->push_back(r);
  r.access.clear();
  r.auth = true;

  r.path = "/api/v1/artifacts/{id}";
  r.resource = "artifacts:{id}";
  r.action = "read";
  r.owner = artifact_owner;
  r.summary = "Download an artifact's content";
  r.handler = [k](Call& call) { return SendArtifact(k->artifacts(), call.Param("id"), call.res); };
  routes->push_back(r);
  r.response_content_type = "application/json";

  r.method = "POST";
  r.path = "/api/v1/artifacts/{id}/url";
  r.summary = "A signed, expiring download URL (body: ttl_seconds, default 900)";
  r.request_schema = Schema("ttl_seconds?:integer");
  r.response_schema = Schema("url:string, token:string, expires_in:integer");
  r.handler = [api, k](Call& call) -> absl::Status {
    absl::Duration ttl = call.body.contains("ttl_seconds")
                             ? absl::Seconds(call.body["ttl_seconds"].get<int64_t>())
                             : api->default_url_ttl;
    KOS_RETURN_IF_ERROR(k->artifacts()->Get(call.Param("id")).status());
    KOS_ASSIGN_OR_RETURN(std::string token,
                         k->artifacts()->SignUrl(call.Param("id"), ArtifactOp::kRead, ttl));
    call.Reply({{"url", absl::StrCat("/api/v1/artifacts/signed?token=",
                                     httplib::detail::encode_query_param(token))},
                {"token", token},
                {"expires_in", absl::ToInt64Seconds(ttl)}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.request_schema = nullptr;

  r.method = "DELETE";
  r.path = "/api/v1/artifacts/{id}";
  r.action = "delete";
  r.summary = "Delete an artifact (content is freed when no artifact references it)";
  r.response_schema = Schema("deleted:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(k->artifacts()->Delete(call.Param("id")));
    call.Reply({{"deleted", call.Param("id")}});
    return absl::OkStatus();
  };
  routes->push_back(r);
}

void AddVaultRoutes(Api* api, std::vector<Route>* routes) {
  Kernel* k = api->kernel;
  Route r;
  r.tag = "vault";
  // kv/users/<id>/... belongs to that user (even admins are denied reading it
  // by the example policy).
  r.owner = [](Call& call) -> std::string {
    std::string home = absl::StrCat("users/", call.Param("caller_id"));
    const std::string& p = call.Param("path");
    return p == home || absl::StartsWith(p, home + "/") ? call.Subject() : "";
  };
  r.resource = "vault:kv/{path}";

  r.method = "GET";
  r.path = "/api/v1/vault/kv/{path...}";
  r.action = "read";
  r.summary = "Read a secret (?version=N, default latest)";
  r.response_schema = Schema("path:string, version:integer, value:string, created:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(int64_t version, call.QueryInt("version", 0, 0, INT64_MAX));
    KOS_ASSIGN_OR_RETURN(Secret s,
                         k->vault()->Get(call.Subject(), absl::StrCat("kv/", call.Param("path")),
                                         static_cast<uint64_t>(version)));
    call.res.set_header("Cache-Control", "no-store");
    call.Reply({{"path", call.Param("path")},
                {"version", s.version},
                {"value", std::string(s.value.view())},
                {"created", TimeString(s.created)}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "PUT";
  r.action = "write";
  r.summary =
      "Write a new version: value (a string; other JSON is stored serialized); cas "
      "for check-and-set";
  r.request_schema = Schema("value:any, cas?:integer");
  r.response_schema = Schema("path:string, version:integer");
  r.handler = [k](Call& call) -> absl::Status {
    const Json& v = call.body["value"];
    std::string value = v.is_string() ? v.get<std::string>() : DumpJson(v);
    VaultPutOptions po;
    if (call.body.contains("cas")) po.cas = call.body["cas"].get<uint64_t>();
    KOS_ASSIGN_OR_RETURN(
        uint64_t version,
        k->vault()->Put(call.Subject(), absl::StrCat("kv/", call.Param("path")), value, po));
    call.Reply({{"path", call.Param("path")}, {"version", version}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "DELETE";
  r.action = "delete";
  r.summary = "Soft-delete the current version";
  r.request_schema = nullptr;
  r.response_schema = Schema("deleted:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(
        k->vault()->Delete(call.Subject(), absl::StrCat("kv/", call.Param("path"))));
    call.Reply({{"deleted", call.Param("path")}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.owner = nullptr;

  r.method = "POST";
  r.path = "/api/v1/vault/transit/{key}/encrypt";
  r.resource = "vault:transit/{key}";
  r.action = "encrypt";
  r.summary =
      "Encrypt a UTF-8 plaintext with a named key (created on first use); context is "
      "bound in and needed to decrypt";
  r.request_schema = Schema("plaintext:string, context?:string");
  r.response_schema = Schema("ciphertext:string");
  r.handler = [k](Call& call) -> absl::Status {
    std::string key = call.Param("key");
    std::string pt = call.body["plaintext"].get<std::string>();
    std::string ctx = call.body.value("context", "");
    auto ct = k->vault()->TransitEncrypt(call.Subject(), key, pt, ctx);
    if (absl::IsNotFound(ct.status())) {
      absl::Status created = k->vault()->CreateTransitKey(call.Subject(), key);
      if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
      ct = k->vault()->TransitEncrypt(call.Subject(), key, pt, ctx);
    }
    std::fill(pt.begin(), pt.end(), '\0');
    if (!ct.ok()) return ct.status();
    call.Reply({{"ciphertext", *ct}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/vault/transit/{key}/decrypt";
  r.action = "decrypt";
  r.summary = "Decrypt a transit ciphertext (same context as when encrypting)";
  r.request_schema = Schema("ciphertext:string, context?:string");
  r.response_schema = Schema("plaintext:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(SecretBytes pt,
                         k->vault()->TransitDecrypt(call.Subject(), call.Param("key"),
                                                    call.body["ciphertext"].get<std::string>(),
                                                    call.body.value("context", "")));
    call.res.set_header("Cache-Control", "no-store");
    call.Reply({{"plaintext", std::string(pt.view())}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/vault/rotate";
  r.resource = "vault:keyring";
  r.action = "rotate";
  r.summary = "Add a keyring version and make it current (admin)";
  r.request_schema = nullptr;
  r.response_schema = Schema("version:integer");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(uint32_t v, k->vault()->Rotate(call.Subject()));
    call.Reply({{"version", v}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.tag = "audit";
  r.method = "GET";
  r.path = "/api/v1/audit";
  r.resource = "audit:log";
  r.action = "read";
  r.summary = "Audit entries in chain order (?actor=&action=&limit=&page_token=)";
  r.response_schema = Schema("entries:[object], next_page_token:string");
  r.handler = [k](Call& call) -> absl::Status {
    AuditQuery q;
    q.actor = call.Query("actor");
    q.action = call.Query("action");
    q.page_token = call.Query("page_token");
    KOS_ASSIGN_OR_RETURN(int64_t limit, call.QueryInt("limit", 100, 1, 1000));
    q.limit = limit;
    KOS_ASSIGN_OR_RETURN(AuditPage page, k->audit()->Query(q));
    Json list = Json::array();
    for (const AuditEntry& e : page.entries) {
      list.push_back({{"sequence", e.sequence},
                      {"time", TimeString(e.event.time)},
                      {"actor", e.event.actor},
                      {"action", e.event.action},
                      {"resource", e.event.resource},
                      {"outcome", e.event.outcome},
                      {"fields", e.event.fields},
                      {"hash", e.hash},
                      {"prev", e.prev}});
    }
    call.Reply({{"entries", list}, {"next_page_token", page.next_page_token}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/audit/verify";
  r.summary = "Walk the hash chain; valid=false names the first bad record";
  r.response_schema = Schema("valid:boolean, records?:integer, error?:string");
  r.handler = [k](Call& call) -> absl::Status {
    auto n = k->audit()->VerifyChain();
    if (n.ok()) {
      call.Reply({{"valid", true}, {"records", *n}});
    } else if (absl::IsDataLoss(n.status())) {
      call.Reply({{"valid", false}, {"error", std::string(n.status().message())}});
    } else {
      return n.status();
    }
    return absl::OkStatus();
  };
  routes->push_back(r);
}

}  // namespace kos::server
