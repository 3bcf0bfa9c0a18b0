// kos.v1.Users: the caller's own account.
#include "absl/strings/str_cat.h"
#include "grpc/services.h"
#include "kos/json.h"
#include "kos/status.h"
#include "kos/v1/users.grpc.pb.h"

namespace kos::server::grpc_impl {
namespace {

namespace pb = ::kos::v1;

void FillProfile(const User& u, pb::Profile* out) {
  out->set_id(u.id);
  out->set_username(u.username);
  out->set_email(u.email);
  out->set_display_name(u.display_name);
  out->set_profile_json(DumpJson(u.profile));
  for (const auto& r : u.roles) out->add_roles(r);
  out->set_created(absl::ToUnixSeconds(u.created));
  out->set_updated(absl::ToUnixSeconds(u.updated));
  out->set_version(u.version);
}

absl::StatusOr<Json> ParseObject(absl::string_view text, absl::string_view field) {
  KOS_ASSIGN_OR_RETURN(Json j, ParseJson(text));
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be a JSON object"));
  }
  return j;
}

// Every method is a short Store read or write, so the service uses the
// callback API (see Respond).
class UsersService final : public pb::Users::CallbackService {
 public:
  explicit UsersService(const Gate* gate) : gate_(gate), k_(gate->kernel()) {}

  grpc::ServerUnaryReactor* GetProfile(grpc::CallbackServerContext* ctx,
                                       const pb::GetProfileRequest*, pb::Profile* out) override {
    return Respond(ctx, [&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Self(ctx, "read"));
      // Validation has just read the user from the Store.
      FillProfile(*c.user, out);
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* UpdateProfile(grpc::CallbackServerContext* ctx,
                                          const pb::UpdateProfileRequest* req,
                                          pb::Profile* out) override {
    return Respond(ctx, [&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Self(ctx, "write"));
      UserUpdate u;
      if (req->has_display_name()) u.display_name = req->display_name();
      if (req->has_email()) u.email = req->email();
      if (req->has_profile_json()) {
        KOS_ASSIGN_OR_RETURN(u.profile, ParseObject(req->profile_json(), "profile_json"));
      }
      if (req->has_expected_version()) u.expected_version = req->expected_version();
      KOS_ASSIGN_OR_RETURN(User updated, k_->users()->Update(c.user->id, u));
      FillProfile(updated, out);
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* GetPreferences(grpc::CallbackServerContext* ctx,
                                           const pb::GetPreferencesRequest*,
                                           pb::Preferences* out) override {
    return Respond(ctx, [&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Self(ctx, "read"));
      out->set_preferences_json(DumpJson(c.user->preferences));
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* UpdatePreferences(grpc::CallbackServerContext* ctx,
                                              const pb::UpdatePreferencesRequest* req,
                                              pb::Preferences* out) override {
    return Respond(ctx, [&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, Self(ctx, "write"));
      KOS_ASSIGN_OR_RETURN(Json prefs, ParseObject(req->preferences_json(), "preferences_json"));
      UserUpdate u;
      if (req->merge()) {
        Json merged = c.user->preferences;
        merged.merge_patch(prefs);
        u.preferences = std::move(merged);
        // The merge was computed from this version: do not lose a concurrent write.
        u.expected_version = c.user->version;
      } else {
        u.preferences = std::move(prefs);
      }
      KOS_ASSIGN_OR_RETURN(User updated, k_->users()->Update(c.user->id, u));
      out->set_preferences_json(DumpJson(updated.preferences));
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* GetPermissions(grpc::CallbackServerContext* ctx,
                                           const pb::GetPermissionsRequest* req,
                                           pb::Permissions* out) override {
    return Respond(ctx, [&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, gate_->Authenticate(ctx));
      if (req->queries_size() > 100) {
        return absl::InvalidArgumentError("at most 100 permission queries per call");
      }
      out->set_subject(c.subject);
      for (const auto& r : c.roles) out->add_roles(r);
      for (const auto& q : req->queries()) {
        KOS_ASSIGN_OR_RETURN(AccessDecision d, k_->access()->ExplainWithRoles(
                                                   c.subject, c.roles, q.resource(), q.action()));
        auto* a = out->add_answers();
        a->set_resource(q.resource());
        a->set_action(q.action());
        a->set_allowed(d.allowed());
      }
      return absl::OkStatus();
    });
  }

 private:
  // A user may act on their own account unless a rule explicitly denies it
  // ("users:<id>" read/write); a default deny does not apply to oneself.
  absl::StatusOr<Caller> Self(grpc::CallbackServerContext* ctx, absl::string_view action) {
    KOS_ASSIGN_OR_RETURN(Caller c, gate_->Authenticate(ctx));
    if (!c.user.has_value()) {
      return absl::PermissionDeniedError("client tokens have no user account");
    }
    std::string resource = absl::StrCat("users:", c.user->id);
    absl::Status st = gate_->Check(c, resource, action);
    if (st.code() == absl::StatusCode::kPermissionDenied) {
      KOS_ASSIGN_OR_RETURN(AccessDecision d,
                           k_->access()->ExplainWithRoles(c.subject, c.roles, resource, action));
      if (d.effect == AccessDecision::Effect::kDeny) return st;
      return c;
    }
    KOS_RETURN_IF_ERROR(st);
    return c;
  }

  const Gate* gate_;
  Kernel* k_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewUsersService(const Gate* gate) {
  return std::make_unique<UsersService>(gate);
}

}  // namespace kos::server::grpc_impl
