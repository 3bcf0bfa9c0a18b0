// kos.v1.Vault over kos::Vault; the caller's subject is the audited actor.
#include "absl/strings/str_cat.h"
#include "grpc/services.h"
#include "grpc/task_convert.h"
#include "kos/status.h"
#include "kos/v1/vault.grpc.pb.h"

namespace kos::server::grpc_impl {
namespace {

namespace pb = ::kos::v1;

class VaultService final : public pb::Vault::Service {
 public:
  explicit VaultService(const Gate* gate) : gate_(gate), k_(gate->kernel()) {}

  grpc::Status Put(grpc::ServerContext* ctx, const pb::PutSecretRequest* req,
                   pb::PutSecretResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Authorize(ctx, req->path(), "write"));
      VaultPutOptions o;
      if (req->has_cas()) o.cas = req->cas();
      KOS_ASSIGN_OR_RETURN(uint64_t v, k_->vault()->Put(c.subject, req->path(), req->value(), o));
      out->set_version(v);
      return absl::OkStatus();
    });
  }

  grpc::Status Get(grpc::ServerContext* ctx, const pb::GetSecretRequest* req,
                   pb::Secret* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Authorize(ctx, req->path(), "read"));
      KOS_ASSIGN_OR_RETURN(kos::Secret s, k_->vault()->Get(c.subject, req->path(), req->version()));
      out->set_path(s.path);
      out->set_version(s.version);
      out->set_value(std::string(s.value.view()));
      out->set_created_ms(UnixMillisOrZero(s.created));
      return absl::OkStatus();
    });
  }

  grpc::Status Delete(grpc::ServerContext* ctx, const pb::DeleteSecretRequest* req,
                      pb::DeleteSecretResponse*) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Authorize(ctx, req->path(), "write"));
      std::vector<uint64_t> versions(req->versions().begin(), req->versions().end());
      return k_->vault()->Delete(c.subject, req->path(), versions);
    });
  }

  grpc::Status TransitEncrypt(grpc::ServerContext* ctx, const pb::TransitEncryptRequest* req,
                              pb::TransitEncryptResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, AuthorizeTransit(ctx, req->key(), "encrypt"));
      absl::StatusOr<std::string> ct =
          k_->vault()->TransitEncrypt(c.subject, req->key(), req->plaintext(), req->context());
      if (ct.status().code() == absl::StatusCode::kNotFound) {
        // Like Vault's transit engine: the first encryption creates the key.
        absl::Status created = k_->vault()->CreateTransitKey(c.subject, req->key());
        if (!created.ok() && created.code() != absl::StatusCode::kAlreadyExists) return created;
        ct = k_->vault()->TransitEncrypt(c.subject, req->key(), req->plaintext(), req->context());
      }
      KOS_RETURN_IF_ERROR(ct.status());
      out->set_ciphertext(*ct);
      return absl::OkStatus();
    });
  }

  grpc::Status TransitDecrypt(grpc::ServerContext* ctx, const pb::TransitDecryptRequest* req,
                              pb::TransitDecryptResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, AuthorizeTransit(ctx, req->key(), "decrypt"));
      KOS_ASSIGN_OR_RETURN(
          SecretBytes pt,
          k_->vault()->TransitDecrypt(c.subject, req->key(), req->ciphertext(), req->context()));
      out->set_plaintext(std::string(pt.view()));
      return absl::OkStatus();
    });
  }

 private:
  absl::StatusOr<Caller> Authorize(grpc::ServerContext* ctx, const std::string& path,
                                   absl::string_view action) {
    if (path.empty()) return absl::InvalidArgumentError("path is required");
    return gate_->Authorize(ctx, absl::StrCat("vault:", path), action);
  }
  absl::StatusOr<Caller> AuthorizeTransit(grpc::ServerContext* ctx, const std::string& key,
                                          absl::string_view action) {
    if (key.empty()) return absl::InvalidArgumentError("key is required");
    return gate_->Authorize(ctx, absl::StrCat("vault:transit/", key), action);
  }

  const Gate* gate_;
  Kernel* k_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewVaultService(const Gate* gate) {
  return std::make_unique<VaultService>(gate);
}

}  // namespace kos::server::grpc_impl
