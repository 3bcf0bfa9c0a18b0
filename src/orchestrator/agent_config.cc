#include "kos/agent_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kos/config.h"
#include "kos/status.h"

namespace kos {
namespace {

absl::Status Err(absl::string_view source, absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, ": ", what));
}

absl::Status OnlyKeys(const Json& obj, absl::string_view source, absl::string_view path,
                      const std::set<std::string>& allowed) {
  if (!obj.is_object()) {
    return Err(source, path.empty() ? "(root)" : path,
               absl::StrCat("expected object, got ", JsonTypeName(obj)));
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.count(it.key())) {
      return Err(source, path.empty() ? it.key() : absl::StrCat(path, ".", it.key()),
                 absl::StrCat("unknown key (allowed: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status StringField(const Json& obj, const char* key, absl::string_view source,
                         absl::string_view path, std::string* out, bool required) {
  auto it = obj.find(key);
  std::string full = path.empty() ? key : absl::StrCat(path, ".", key);
  if (it == obj.end()) return required ? Err(source, full, "missing") : absl::OkStatus();
  if (!it->is_string())
    return Err(source, full, absl::StrCat("expected string, got ", JsonTypeName(*it)));
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::Status ValidateAgentName(absl::string_view name) {
  if (name.empty() || name.size() > 64 ||
      !absl::ascii_isalpha(static_cast<unsigned char>(name[0]))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "agent name '", name.substr(0, 64), "' must start with a letter and be 1..64 characters"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "agent name '", name.substr(0, 64), "' may only hold letters, digits, '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentProfile> ParseAgentProfile(absl::string_view text, absl::string_view source,
                                               absl::string_view expected_name,
                                               absl::string_view expected_profile) {
  auto parsed = ParseJson(text);
  if (!parsed.ok())
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", parsed.status().message()));
  const Json& j = *parsed;
  KOS_RETURN_IF_ERROR(OnlyKeys(j, source, "",
                               {"name", "profile", "type", "version", "description", "handler",
                                "permissions", "limits", "model", "enabled"}));
  AgentProfile p;
  KOS_RETURN_IF_ERROR(StringField(j, "name", source, "", &p.name, true));
  if (auto s = ValidateAgentName(p.name); !s.ok()) return Err(source, "name", s.message());
  if (!expected_name.empty() && p.name != expected_name) {
    return Err(
        source, "name",
        absl::StrCat("'", p.name, "' does not match the manifest entry '", expected_name, "'"));
  }
  p.profile = std::string(expected_profile);
  KOS_RETURN_IF_ERROR(StringField(j, "profile", source, "", &p.profile, false));
  if (!expected_profile.empty() && p.profile != expected_profile) {
    return Err(source, "profile",
               absl::StrCat("'", p.profile, "' does not match the file name profile '",
                            expected_profile, "'"));
  }
  KOS_RETURN_IF_ERROR(StringField(j, "type", source, "", &p.type, true));
  KOS_RETURN_IF_ERROR(StringField(j, "version", source, "", &p.version, false));
  KOS_RETURN_IF_ERROR(StringField(j, "description", source, "", &p.description, false));
  KOS_RETURN_IF_ERROR(StringField(j, "handler", source, "", &p.handler, false));
  if (p.handler != "native" && p.handler != "bridge" && p.handler != "memory") {
    return Err(source, "handler",
               absl::StrCat("expected native, bridge or memory, got '", p.handler, "'"));
  }
  if (j.contains("enabled")) {
    if (!j["enabled"].is_boolean()) return Err(source, "enabled", "expected true or false");
    p.enabled = j["enabled"].get<bool>();
  }
  if (j.contains("permissions")) {
    const Json& perms = j["permissions"];
    if (!perms.is_array())
      return Err(source, "permissions", absl::StrCat("expected array, got ", JsonTypeName(perms)));
    for (size_t i = 0; i < perms.size(); ++i) {
      std::string key = absl::StrCat("permissions[", i, "]");
      if (!perms[i].is_string()) return Err(source, key, "expected string");
      std::string perm = perms[i].get<std::string>();
      // resource[:resource...]:action — at least two segments, none empty.
      if (perm.size() > 1024 || perm.find(':') == std::string::npos || perm.front() == ':' ||
          perm.back() == ':' || perm.find("::") != std::string::npos) {
        return Err(source, key,
                   absl::StrCat("'", perm.substr(0, 128),
                                "' is not a permission pattern (resource:action)"));
      }
      p.permissions.push_back(std::move(perm));
    }
  }
  if (j.contains("limits")) {
    const Json& l = j["limits"];
    KOS_RETURN_IF_ERROR(
        OnlyKeys(l, source, "limits", {"timeout", "maxConcurrency", "memoryLimit"}));
    if (l.contains("timeout")) {
      const Json& t = l["timeout"];
      absl::Duration d;
      if ((t.is_number_integer() || t.is_number_unsigned()) && t.get<int64_t>() > 0) {
        p.limits.timeout = absl::Seconds(t.get<int64_t>());
      } else if (t.is_string() && absl::ParseDuration(t.get<std::string>(), &d) &&
                 d > absl::ZeroDuration()) {
        p.limits.timeout = d;
      } else {
        return Err(source, "limits.timeout",
                   "expected positive seconds or a duration like \"90s\"");
      }
    }
    if (l.contains("maxConcurrency")) {
      const Json& m = l["maxConcurrency"];
      if (!(m.is_number_integer() || m.is_number_unsigned()) || m.get<int64_t>() < 1 ||
          m.get<int64_t>() > 100000) {
        return Err(source, "limits.maxConcurrency", "expected an integer 1..100000");
      }
      p.limits.max_concurrency = static_cast<int>(m.get<int64_t>());
    }
    if (l.contains("memoryLimit")) {
      const Json& m = l["memoryLimit"];
      if (!m.is_string())
        return Err(source, "limits.memoryLimit", "expected a size like \"256MB\"");
      auto b = ParseByteSize(m.get<std::string>());
      if (!b.ok()) return Err(source, "limits.memoryLimit", b.status().message());
      p.limits.memory_limit_bytes = *b;
    }
  }
  if (j.contains("model")) {
    if (!j["model"].is_object()) return Err(source, "model", "expected object");
    p.model = j["model"];
    for (const char* secretish : {"apiKey", "api_key", "key", "token"}) {
      if (p.model.contains(secretish)) {
        return Err(source, absl::StrCat("model.", secretish),
                   "secrets do not belong in agent profiles: store the key in the vault and use "
                   "\"apiKeySecret\": \"kv/...\"");
      }
    }
  }
  return p;
}

absl::StatusOr<std::vector<AgentProfile>> LoadAgentProfiles(absl::string_view agents_dir) {
  std::string manifest_path = absl::StrCat(agents_dir, "/manifest.json");
  KOS_ASSIGN_OR_RETURN(std::string text, ReadFile(manifest_path));
  auto parsed = ParseJson(text);
  if (!parsed.ok())
    return absl::InvalidArgumentError(absl::StrCat(manifest_path, ": ", parsed.status().message()));
  const Json& m = *parsed;
  KOS_RETURN_IF_ERROR(OnlyKeys(m, manifest_path, "", {"version", "agents"}));
  if (!m.contains("agents") || !m["agents"].is_array())
    return Err(manifest_path, "agents", "expected array");
  std::vector<AgentProfile> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < m["agents"].size(); ++i) {
    const Json& e = m["agents"][i];
    std::string path = absl::StrCat("agents[", i, "]");
    KOS_RETURN_IF_ERROR(OnlyKeys(e, manifest_path, path, {"name", "profile", "enabled"}));
    std::string name, profile;
    KOS_RETURN_IF_ERROR(StringField(e, "name", manifest_path, path, &name, true));
    KOS_RETURN_IF_ERROR(StringField(e, "profile", manifest_path, path, &profile, true));
    if (auto s = ValidateAgentName(name); !s.ok())
      return Err(manifest_path, path + ".name", s.message());
    if (auto s = ValidateAgentName(profile); !s.ok())
      return Err(manifest_path, path + ".profile", s.message());
    if (!seen.insert(name).second)
      return Err(manifest_path, path + ".name", absl::StrCat("duplicate agent '", name, "'"));
    std::string file = absl::StrCat(agents_dir, "/", name, ":", profile, ".json");
    KOS_ASSIGN_OR_RETURN(std::string ptext, ReadFile(file));
    KOS_ASSIGN_OR_RETURN(AgentProfile p, ParseAgentProfile(ptext, file, name, profile));
    if (e.contains("enabled")) {
      if (!e["enabled"].is_boolean())
        return Err(manifest_path, path + ".enabled", "expected true or false");
      p.enabled = p.enabled && e["enabled"].get<bool>();
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace kos
