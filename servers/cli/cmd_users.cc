// kos user add|list|passwd and kos token issue|verify.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli.h"

namespace kos::cli {
namespace {

struct UserArgs {
  std::string name;
  std::vector<std::string> roles;
  std::string email;
  std::string display_name;
  bool password_stdin = false;
  bool json = false;
};

Json UserJson(const User& u) {
  return Json{{"id", u.id},
              {"username", u.username},
              {"email", u.email},
              {"display_name", u.display_name},
              {"roles", u.roles},
              {"disabled", u.disabled},
              {"created", TimeText(u.created)}};
}

int RunUserAdd(Globals& g, const UserArgs& a) {
  auto pw = ReadPassword(a.password_stdin, true, absl::StrCat("Password for ", a.name, ": "));
  if (!pw.ok()) return Fail(pw.status());
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  NewUser nu;
  nu.username = a.name;
  nu.email = a.email;
  nu.display_name = a.display_name;
  nu.password = *pw;
  nu.roles = a.roles.empty() ? std::vector<std::string>{"user"} : a.roles;
  auto u = (*k)->users()->Create(nu);
  if (!u.ok()) return Fail(u.status(), absl::StrCat("user add ", a.name));
  std::printf("created user %s (id %s, roles %s)\n", u->username.c_str(), u->id.c_str(),
              absl::StrJoin(u->roles, ",").c_str());
  return kExitOk;
}

int RunUserList(Globals& g, const UserArgs& a) {
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  // UserStore has no listing; its records live in the "kos_users" collection
  // keyed by id (UserStoreOptions::collection_prefix + "users").
  ScanOptions so;
  so.keys_only = true;
  so.limit = 1000;
  if (!a.json) std::printf("%-26s  %-24s  %-20s  %s\n", "ID", "USERNAME", "ROLES", "STATUS");
  size_t n = 0;
  do {
    auto page = (*k)->store()->Scan("kos_users", so);
    if (!page.ok()) return Fail(page.status(), "user list");
    for (const Record& r : page->records) {
      auto u = (*k)->users()->Get(r.key);
      if (!u.ok()) continue;  // deleted between the scan and the read
      ++n;
      if (a.json) {
        std::printf("%s\n", UserJson(*u).dump().c_str());
      } else {
        std::printf("%-26s  %-24s  %-20s  %s\n", u->id.c_str(), u->username.c_str(),
                    absl::StrJoin(u->roles, ",").c_str(), u->disabled ? "disabled" : "active");
      }
    }
    so.page_token = page->next_page_token;
  } while (!so.page_token.empty());
  if (!a.json) std::printf("%zu user(s)\n", n);
  return kExitOk;
}

int RunUserPasswd(Globals& g, const UserArgs& a) {
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto u = (*k)->users()->GetByUsername(a.name);
  if (!u.ok()) return Fail(u.status(), absl::StrCat("user passwd ", a.name));
  auto pw = ReadPassword(a.password_stdin, true, absl::StrCat("New password for ", a.name, ": "));
  if (!pw.ok()) return Fail(pw.status());
  if (auto s = (*k)->users()->SetPassword(u->id, *pw); !s.ok()) {
    return Fail(s, absl::StrCat("user passwd ", a.name));
  }
  std::printf("password changed for %s\n", u->username.c_str());
  return kExitOk;
}

struct TokenArgs {
  std::string user;
  std::string token;
  bool password_stdin = false;
  bool json = false;
};

int RunTokenIssue(Globals& g, const TokenArgs& a) {
  auto pw = ReadPassword(a.password_stdin, false, absl::StrCat("Password for ", a.user, ": "));
  if (!pw.ok()) return Fail(pw.status());
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto t = (*k)->auth()->Login(a.user, *pw, "cli");
  if (!t.ok()) return Fail(t.status(), "login");
  if (a.json) {
    Json j{{"access_token", t->access_token},
           {"refresh_token", t->refresh_token},
           {"token_type", t->token_type},
           {"expires_in", absl::ToInt64Seconds(t->expires_in)}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s\n", t->access_token.c_str());
  }
  return kExitOk;
}

int RunTokenVerify(Globals& g, const TokenArgs& a) {
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  std::string token = a.token;
  if (token == "-") {
    auto in = ReadStdin();
    if (!in.ok()) return Fail(in.status());
    token = *in;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  }
  TokenFailure failure = TokenFailure::kNone;
  auto c = (*k)->tokens()->Verify(token, &failure);
  if (!c.ok()) {
    // Verification answers "no": exit 1, whatever the status code.
    FailWith(kExitFailed, absl::StrCat("token invalid (", TokenFailureName(failure),
                                       "): ", c.status().message()));
    return kExitFailed;
  }
  Json j{{"iss", c->issuer},
         {"sub", c->subject},
         {"aud", c->audience},
         {"exp", TimeText(c->expires)},
         {"iat", TimeText(c->issued_at)},
         {"jti", c->jwt_id},
         {"sid", c->session_id},
         {"client_id", c->client_id},
         {"roles", c->roles},
         {"scope", c->scope},
         {"kid", c->kid}};
  auto u = (*k)->users()->Get(c->subject);
  if (u.ok()) j["username"] = u->username;
  std::printf("%s\n", j.dump(2).c_str());
  return kExitOk;
}

}  // namespace

void AddUserCommands(CLI::App& app, Globals& g) {
  CLI::App* user = app.add_subcommand("user", "Manage users");
  user->require_subcommand(1);
  {
    auto a = std::make_shared<UserArgs>();
    CLI::App* c = user->add_subcommand(
        "add", "Create a user; the password is prompted (no echo) or read from stdin");
    c->add_option("NAME", a->name, "User name")->required();
    c->add_option("--role", a->roles, "Role (repeatable; default: user)");
    c->add_option("--email", a->email, "E-mail address");
    c->add_option("--display-name", a->display_name, "Display name");
    c->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin's first line");
    c->callback([&g, a] { g.exit_code = RunUserAdd(g, *a); });
  }
  {
    auto a = std::make_shared<UserArgs>();
    CLI::App* c = user->add_subcommand("list", "List users");
    c->add_flag("--json", a->json, "One JSON object per line");
    c->callback([&g, a] { g.exit_code = RunUserList(g, *a); });
  }
  {
    auto a = std::make_shared<UserArgs>();
    CLI::App* c = user->add_subcommand("passwd", "Set a user's password");
    c->add_option("NAME", a->name, "User name")->required();
    c->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin's first line");
    c->callback([&g, a] { g.exit_code = RunUserPasswd(g, *a); });
  }
}

void AddTokenCommands(CLI::App& app, Globals& g) {
  CLI::App* token = app.add_subcommand("token", "Issue and verify access tokens (JWT)");
  token->require_subcommand(1);
  {
    auto a = std::make_shared<TokenArgs>();
    CLI::App* c = token->add_subcommand("issue", "Log in as a user and print an access token");
    c->add_option("--user", a->user, "User name")->required();
    c->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin's first line");
    c->add_flag("--json", a->json, "Print the whole token set (access, refresh, expiry) as JSON");
    c->callback([&g, a] { g.exit_code = RunTokenIssue(g, *a); });
  }
  {
    auto a = std::make_shared<TokenArgs>();
    CLI::App* c = token->add_subcommand(
        "verify",
        "Check a token's signature, issuer, audience and lifetime; print its claims "
        "(exit 1 if invalid)");
    c->add_option("TOKEN", a->token, "The access token, or - for stdin")->required();
    c->callback([&g, a] { g.exit_code = RunTokenVerify(g, *a); });
  }
}

}  // namespace kos::cli
