// kos.v1.Auth over kos::Authenticator.
#include "grpc/services.h"
#include "kos/status.h"
#include "kos/v1/auth.grpc.pb.h"

namespace kos::server::grpc_impl {
namespace {

namespace pb = ::kos::v1;

void FillTokens(const TokenSet& t, pb::TokenResponse* out) {
  out->set_access_token(t.access_token);
  out->set_refresh_token(t.refresh_token);
  out->set_token_type(t.token_type);
  out->set_expires_in(absl::ToInt64Seconds(t.expires_in));
  out->set_session_id(t.session_id);
  out->set_subject(t.subject);
  out->set_scope(t.scope);
}

class AuthService final : public pb::Auth::Service {
 public:
  explicit AuthService(const Gate* gate) : gate_(gate), k_(gate->kernel()) {}

  grpc::Status Login(grpc::ServerContext* ctx, const pb::LoginRequest* req,
                     pb::TokenResponse* out) override {
    return Serve([&]() -> absl::Status {
      const std::string client = gate_->ClientAddress(*ctx);
      KOS_RETURN_IF_ERROR(gate_->RateLimit("auth", AddressKey(client)));
      LoginOptions lo;
      lo.scope = req->scope();
      KOS_ASSIGN_OR_RETURN(TokenSet t,
                           k_->auth()->Login(req->username(), req->password(), client, lo));
      FillTokens(t, out);
      return absl::OkStatus();
    });
  }

  grpc::Status Logout(grpc::ServerContext* ctx, const pb::LogoutRequest*,
                      pb::LogoutResponse*) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, gate_->Authenticate(ctx));
      return k_->auth()->Logout(c.access_token);
    });
  }

  grpc::Status Refresh(grpc::ServerContext* ctx, const pb::RefreshRequest* req,
                       pb::TokenResponse* out) override {
    return Serve([&]() -> absl::Status {
      const std::string client = gate_->ClientAddress(*ctx);
      KOS_RETURN_IF_ERROR(gate_->RateLimit("auth", AddressKey(client)));
      KOS_ASSIGN_OR_RETURN(TokenSet t, k_->auth()->Refresh(req->refresh_token(), client));
      FillTokens(t, out);
      return absl::OkStatus();
    });
  }

  grpc::Status Validate(grpc::ServerContext* ctx, const pb::ValidateRequest* req,
                        pb::ValidateResponse* out) override {
    return Serve([&]() -> absl::Status {
      const std::string client = gate_->ClientAddress(*ctx);
      KOS_RETURN_IF_ERROR(gate_->RateLimit("api", AddressKey(client)));
      std::string token = req->access_token();
      if (token.empty()) {
        KOS_ASSIGN_OR_RETURN(token, BearerToken(*ctx));
      }
      KOS_ASSIGN_OR_RETURN(Principal p, k_->auth()->Validate(token, client));
      out->set_subject(p.claims.subject);
      if (p.user.has_value()) {
        out->set_username(p.user->username);
        for (const auto& r : p.user->roles) out->add_roles(r);
      } else {
        for (const auto& r : p.claims.roles) out->add_roles(r);
      }
      out->set_session_id(p.claims.session_id);
      out->set_expires_at(absl::ToUnixSeconds(p.claims.expires));
      out->set_scope(p.claims.scope);
      return absl::OkStatus();
    });
  }

 private:
  const Gate* gate_;
  Kernel* k_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewAuthService(const Gate* gate) {
  return std::make_unique<AuthService>(gate);
}

}  // namespace kos::server::grpc_impl
