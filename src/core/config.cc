#include "kos/config.h"

#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kos/json.h"
#include "kos/status.h"

extern char** environ;

namespace kos {

const char* EnvironmentName(Environment e) {
  switch (e) {
    case Environment::kDevelopment:
      return "development";
    case Environment::kStaging:
      return "staging";
    case Environment::kProduction:
      return "production";
  }
  return "development";
}

EnvMap ProcessEnv() {
  EnvMap env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == absl::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  std::string t = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  uint64_t n;
  if (i == 0 || !absl::SimpleAtoi(t.substr(0, i), &n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a size (expected e.g. 512MB, 1GB, 4096)"));
  }
  std::string unit(absl::StripAsciiWhitespace(t.substr(i)));
  uint64_t mult;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB")
    mult = 1ULL << 10;
  else if (unit == "M" || unit == "MB" || unit == "MIB")
    mult = 1ULL << 20;
  else if (unit == "G" || unit == "GB" || unit == "GIB")
    mult = 1ULL << 30;
  else if (unit == "T" || unit == "TB" || unit == "TIB")
    mult = 1ULL << 40;
  else {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' has an unknown size unit '", unit, "' (B, KB, MB, GB, TB)"));
  }
  if (n > UINT64_MAX / mult)
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is too large"));
  return n * mult;
}

namespace {

// Turns a byte offset into "line L, column C" for parse errors.
std::string Where(absl::string_view text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return absl::StrCat("line ", line, ", column ", col);
}

class Parser {
 public:
  Parser(absl::string_view source) : source_(source) {}

  absl::Status Error(absl::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", key, ": ", what));
  }

  absl::Status CheckKeys(const Json& obj, absl::string_view path,
                         const std::set<std::string>& allowed) const {
    if (!obj.is_object()) {
      return Error(path.empty() ? "(root)" : path,
                   absl::StrCat("expected object, got ", JsonTypeName(obj)));
    }
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (allowed.count(it.key()) == 0) {
        std::string full = path.empty() ? it.key() : absl::StrCat(path, ".", it.key());
        return Error(full,
                     absl::StrCat("unknown key (allowed: ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Bool(const Json& v, absl::string_view key, bool* out) const {
    if (!v.is_boolean())
      return Error(key, absl::StrCat("expected true or false, got ", JsonTypeName(v)));
    *out = v.get<bool>();
    return absl::OkStatus();
  }

  absl::Status String(const Json& v, absl::string_view key, std::string* out) const {
    if (!v.is_string()) return Error(key, absl::StrCat("expected string, got ", JsonTypeName(v)));
    *out = v.get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Duration(const Json& v, absl::string_view key, absl::Duration* out) const {
    if (v.is_number_integer() || v.is_number_unsigned()) {
      int64_t s = v.get<int64_t>();
      if (s <= 0) return Error(key, absl::StrCat("expected a positive number of seconds, got ", s));
      *out = absl::Seconds(s);
      return absl::OkStatus();
    }
    if (v.is_string()) {
      absl::Duration d;
      if (absl::ParseDuration(v.get<std::string>(), &d) && d > absl::ZeroDuration()) {
        *out = d;
        return absl::OkStatus();
      }
      return Error(key, absl::StrCat("'", v.get<std::string>(),
                                     "' is not a positive duration (e.g. 3600, \"30m\", \"1h\")"));
    }
    return Error(key, absl::StrCat("expected seconds or a duration string, got ", JsonTypeName(v)));
  }

 private:
  std::string source_;
};

absl::Status CheckKeyReference(absl::string_view ref, absl::string_view where) {
  if (absl::StartsWith(ref, "env:") && ref.size() > 4) return absl::OkStatus();
  if (absl::StartsWith(ref, "file:") && ref.size() > 5) return absl::OkStatus();
  // The message must not echo the value: it may be the key itself.
  return absl::InvalidArgumentError(
      absl::StrCat(where,
                   ": must be a reference 'env:NAME' or 'file:PATH', not the key itself "
                   "(the value given was not shown)"));
}

absl::Status ApplyEnv(const EnvMap& env, SystemConfig* c) {
  auto get = [&](const char* name) -> const std::string* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : &it->second;
  };
  auto env_error = [](const char* name, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, ": ", what));
  };
  auto parse_bool = [&](const char* name, bool* out) -> absl::Status {
    const std::string* v = get(name);
    if (v == nullptr) return absl::OkStatus();
    std::string s = absl::AsciiStrToLower(*v);
    if (s == "1" || s == "true" || s == "yes")
      *out = true;
    else if (s == "0" || s == "false" || s == "no")
      *out = false;
    else
      return env_error(name, absl::StrCat("expected true or false, got '", *v, "'"));
    return absl::OkStatus();
  };
  auto parse_duration = [&](const char* name, absl::Duration* out) -> absl::Status {
    const std::string* v = get(name);
    if (v == nullptr) return absl::OkStatus();
    int64_t s;
    absl::Duration d;
    if (absl::SimpleAtoi(*v, &s) && s > 0)
      *out = absl::Seconds(s);
    else if (absl::ParseDuration(*v, &d) && d > absl::ZeroDuration())
      *out = d;
    else
      return env_error(name, absl::StrCat("expected a positive duration, got '", *v, "'"));
    return absl::OkStatus();
  };
  if (const std::string* v = get("KOS_ENVIRONMENT")) {
    if (*v == "development")
      c->environment = Environment::kDevelopment;
    else if (*v == "staging")
      c->environment = Environment::kStaging;
    else if (*v == "production")
      c->environment = Environment::kProduction;
    else
      return env_error("KOS_ENVIRONMENT",
                       absl::StrCat("expected development, staging or production, got '", *v, "'"));
  }
  KOS_RETURN_IF_ERROR(parse_bool("KOS_DEBUG", &c->debug));
  if (const std::string* v = get("KOS_LOG_LEVEL")) {
    auto l = ParseLogLevel(*v);
    if (!l.ok()) return env_error("KOS_LOG_LEVEL", l.status().message());
    c->logging.level = *l;
  }
  if (const std::string* v = get("KOS_LOG_FORMAT")) {
    if (*v != "json" && *v != "text") return env_error("KOS_LOG_FORMAT", "expected json or text");
    c->logging.format = *v;
  }
  if (const std::string* v = get("KOS_LOG_ROTATION")) {
    if (*v != "daily" && *v != "weekly")
      return env_error("KOS_LOG_ROTATION", "expected daily or weekly");
    c->logging.rotation = *v;
  }
  KOS_RETURN_IF_ERROR(parse_bool("KOS_REQUIRE_AUTH", &c->security.require_auth));
  if (const std::string* v = get("KOS_ENCRYPTION_KEY")) {
    KOS_RETURN_IF_ERROR(CheckKeyReference(*v, "environment variable KOS_ENCRYPTION_KEY"));
    c->security.encryption_key_ref = *v;
  }
  KOS_RETURN_IF_ERROR(parse_duration("KOS_SESSION_TIMEOUT", &c->security.session_timeout));
  if (const std::string* v = get("KOS_AGENTS_MAX_CONCURRENT")) {
    int n;
    if (!absl::SimpleAtoi(*v, &n) || n < 1 || n > 100000) {
      return env_error("KOS_AGENTS_MAX_CONCURRENT",
                       absl::StrCat("expected an integer 1..100000, got '", *v, "'"));
    }
    c->agents.max_concurrent = n;
  }
  KOS_RETURN_IF_ERROR(parse_duration("KOS_AGENTS_DEFAULT_TIMEOUT", &c->agents.default_timeout));
  if (const std::string* v = get("KOS_AGENTS_MEMORY_LIMIT")) {
    auto b = ParseByteSize(*v);
    if (!b.ok()) return env_error("KOS_AGENTS_MEMORY_LIMIT", b.status().message());
    c->agents.memory_limit_bytes = *b;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SystemConfig> ParseSystemConfig(absl::string_view text, absl::string_view source,
                                               const EnvMap& env) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) {
    std::string msg(parsed.status().message());
    // Point at line/column rather than the byte offset nlohmann reports.
    size_t at = msg.find("at byte ");
    if (at != std::string::npos) {
      size_t byte = std::strtoull(msg.c_str() + at + 8, nullptr, 10);
      msg = absl::StrCat(msg, " (", Where(text, byte > 0 ? byte - 1 : 0), ")");
    }
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", msg));
  }
  const Json& j = *parsed;
  Parser p(source);
  SystemConfig c;
  KOS_RETURN_IF_ERROR(p.CheckKeys(
      j, "", {"environment", "debug", "logging", "security", "agents", "version", "name"}));
  if (j.contains("environment")) {
    std::string e;
    KOS_RETURN_IF_ERROR(p.String(j["environment"], "environment", &e));
    if (e == "development")
      c.environment = Environment::kDevelopment;
    else if (e == "staging")
      c.environment = Environment::kStaging;
    else if (e == "production")
      c.environment = Environment::kProduction;
    else
      return p.Error("environment",
                     absl::StrCat("expected development, staging or production, got '", e, "'"));
  }
  if (j.contains("debug")) KOS_RETURN_IF_ERROR(p.Bool(j["debug"], "debug", &c.debug));
  if (j.contains("logging")) {
    const Json& l = j["logging"];
    KOS_RETURN_IF_ERROR(
        p.CheckKeys(l, "logging", {"level", "format", "rotation", "retentionDays"}));
    if (l.contains("level")) {
      std::string s;
      KOS_RETURN_IF_ERROR(p.String(l["level"], "logging.level", &s));
      auto lv = ParseLogLevel(s);
      if (!lv.ok()) return p.Error("logging.level", lv.status().message());
      c.logging.level = *lv;
    }
    if (l.contains("format")) {
      KOS_RETURN_IF_ERROR(p.String(l["format"], "logging.format", &c.logging.format));
      if (c.logging.format != "json" && c.logging.format != "text") {
        return p.Error("logging.format",
                       absl::StrCat("expected json or text, got '", c.logging.format, "'"));
      }
    }
    if (l.contains("rotation")) {
      KOS_RETURN_IF_ERROR(p.String(l["rotation"], "logging.rotation", &c.logging.rotation));
      if (c.logging.rotation != "daily" && c.logging.rotation != "weekly") {
        return p.Error("logging.rotation",
                       absl::StrCat("expected daily or weekly, got '", c.logging.rotation, "'"));
      }
    }
  }
  if (j.contains("security")) {
    const Json& s = j["security"];
    KOS_RETURN_IF_ERROR(
        p.CheckKeys(s, "security", {"requireAuth", "encryptionKey", "sessionTimeout"}));
    if (s.contains("requireAuth")) {
      KOS_RETURN_IF_ERROR(
          p.Bool(s["requireAuth"], "security.requireAuth", &c.security.require_auth));
    }
    if (s.contains("encryptionKey")) {
      if (!s["encryptionKey"].is_string()) {
        return p.Error("security.encryptionKey", absl::StrCat("expected a reference string, got ",
                                                              JsonTypeName(s["encryptionKey"])));
      }
      std::string ref = s["encryptionKey"].get<std::string>();
      KOS_RETURN_IF_ERROR(CheckKeyReference(ref, absl::StrCat(source, ": security.encryptionKey")));
      c.security.encryption_key_ref = ref;
    }
    if (s.contains("sessionTimeout")) {
      KOS_RETURN_IF_ERROR(
          p.Duration(s["sessionTimeout"], "security.sessionTimeout", &c.security.session_timeout));
    }
  }
  if (j.contains("agents")) {
    const Json& a = j["agents"];
    KOS_RETURN_IF_ERROR(
        p.CheckKeys(a, "agents", {"maxConcurrent", "defaultTimeout", "memoryLimit"}));
    if (a.contains("maxConcurrent")) {
      const Json& m = a["maxConcurrent"];
      if (!m.is_number_integer() && !m.is_number_unsigned()) {
        return p.Error("agents.maxConcurrent",
                       absl::StrCat("expected integer, got ", JsonTypeName(m)));
      }
      int64_t n = m.get<int64_t>();
      if (n < 1 || n > 100000)
        return p.Error("agents.maxConcurrent", absl::StrCat("expected 1..100000, got ", n));
      c.agents.max_concurrent = static_cast<int>(n);
    }
    if (a.contains("defaultTimeout")) {
      KOS_RETURN_IF_ERROR(
          p.Duration(a["defaultTimeout"], "agents.defaultTimeout", &c.agents.default_timeout));
    }
    if (a.contains("memoryLimit")) {
      const Json& m = a["memoryLimit"];
      if (m.is_string()) {
        auto b = ParseByteSize(m.get<std::string>());
        if (!b.ok()) return p.Error("agents.memoryLimit", b.status().message());
        c.agents.memory_limit_bytes = *b;
      } else if (m.is_number_unsigned() || (m.is_number_integer() && m.get<int64_t>() > 0)) {
        c.agents.memory_limit_bytes = m.get<uint64_t>();
      } else {
        return p.Error("agents.memoryLimit",
                       absl::StrCat("expected a size like \"512MB\", got ", JsonTypeName(m)));
      }
    }
  }
  KOS_RETURN_IF_ERROR(ApplyEnv(env, &c));
  return c;
}

absl::StatusOr<SystemConfig> LoadSystemConfig(absl::string_view config_dir, const EnvMap& env) {
  std::string path = absl::StrCat(config_dir, "/system.json");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      return absl::PermissionDeniedError(absl::StrCat(path, ": exists but cannot be read"));
    }
    SystemConfig c;
    KOS_RETURN_IF_ERROR(ApplyEnv(env, &c));
    return c;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseSystemConfig(ss.str(), path, env);
}

absl::StatusOr<std::string> ResolveSecretReference(absl::string_view ref, const EnvMap& env) {
  if (absl::StartsWith(ref, "env:") && ref.size() > 4) {
    std::string name(ref.substr(4));
    auto it = env.find(name);
    if (it == env.end() || it->second.empty()) {
      return absl::NotFoundError(absl::StrCat("environment variable ", name, " is not set"));
    }
    return it->second;
  }
  if (absl::StartsWith(ref, "file:") && ref.size() > 5) {
    std::string path(ref.substr(5));
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("secret file '", path, "' does not exist"));
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          "secret file '", path, "' is accessible by group or others; run: chmod 600 ", path));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return absl::PermissionDeniedError(absl::StrCat("cannot read secret file '", path, "'"));
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string v = ss.str();
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    return v;
  }
  return absl::InvalidArgumentError("secret reference must be 'env:NAME' or 'file:PATH'");
}

}  // namespace kos
