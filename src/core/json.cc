#include "kos/json.h"

#include <set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kos {
namespace {

struct ParseAbort {
  std::string message;
};

}  // namespace

absl::StatusOr<Json> ParseJson(absl::string_view text, const ParseJsonOptions& options) {
  // One set of seen keys per open object, to catch duplicates at any depth.
  std::vector<std::set<std::string>> keys;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    if (depth > options.max_depth) {
      throw ParseAbort{absl::StrCat("nesting deeper than ", options.max_depth)};
    }
    switch (event) {
      case Json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (options.reject_duplicate_keys && !keys.empty()) {
          const std::string& k = parsed.get_ref<const std::string&>();
          if (!keys.back().insert(k).second) {
            throw ParseAbort{absl::StrCat("duplicate object key '", k.substr(0, 64), "'")};
          }
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const ParseAbort& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.message));
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at byte ", e.byte, ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
}

std::string DumpJson(const Json& j, int indent) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

// Plain printable ASCII (the usual case for names, ids and paths) is copied
// as is; anything else goes through the JSON library, which escapes and
// replaces invalid UTF-8.
void AppendJsonString(std::string* out, absl::string_view s) {
  bool plain = true;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) {
    out->push_back('"');
    out->append(s.data(), s.size());
    out->push_back('"');
  } else {
    out->append(DumpJson(Json(std::string(s))));
  }
}

bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

const char* JsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::binary:
      return "binary";
    case Json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

namespace {

std::string FieldPath(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

absl::StatusOr<const Json*> Field(const Json& obj, absl::string_view key, absl::string_view path) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "document" : std::string(path),
                                                   ": expected object, got ", JsonTypeName(obj)));
  }
  auto it = obj.find(std::string(key));
  if (it == obj.end()) {
    return absl::InvalidArgumentError(absl::StrCat(FieldPath(path, key), ": missing"));
  }
  return &*it;
}

absl::Status WrongType(absl::string_view path, absl::string_view key, const char* want,
                       const Json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(FieldPath(path, key), ": expected ", want, ", got ", JsonTypeName(got)));
}

}  // namespace

absl::StatusOr<std::string> GetString(const Json& obj, absl::string_view key,
                                      absl::string_view path) {
  auto f = Field(obj, key, path);
  if (!f.ok()) return f.status();
  if (!(*f)->is_string()) return WrongType(path, key, "string", **f);
  return (*f)->get<std::string>();
}

absl::StatusOr<int64_t> GetInt(const Json& obj, absl::string_view key, absl::string_view path) {
  auto f = Field(obj, key, path);
  if (!f.ok()) return f.status();
  if ((*f)->is_number_unsigned()) {
    uint64_t v = (*f)->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) {
      return absl::InvalidArgumentError(absl::StrCat(FieldPath(path, key), ": out of range"));
    }
    return static_cast<int64_t>(v);
  }
  if (!(*f)->is_number_integer()) return WrongType(path, key, "integer", **f);
  return (*f)->get<int64_t>();
}

absl::StatusOr<double> GetNumber(const Json& obj, absl::string_view key, absl::string_view path) {
  auto f = Field(obj, key, path);
  if (!f.ok()) return f.status();
  if (!(*f)->is_number()) return WrongType(path, key, "number", **f);
  return (*f)->get<double>();
}

absl::StatusOr<bool> GetBool(const Json& obj, absl::string_view key, absl::string_view path) {
  auto f = Field(obj, key, path);
  if (!f.ok()) return f.status();
  if (!(*f)->is_boolean()) return WrongType(path, key, "boolean", **f);
  return (*f)->get<bool>();
}

}  // namespace kos
