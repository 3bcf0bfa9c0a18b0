#include "kos/jcs.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kos/status.h"

namespace kos {
namespace {

constexpr int kMaxDepth = 128;

// Writes `value` (finite, > 0) as ECMAScript's Number::toString does. The
// shortest round-trip digits come from std::to_chars (Ryu), which picks the
// same digits ES requires (shortest, then closest); only the layout differs.
void AppendPositiveNumber(double value, std::string* out) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  // buf = "d[.ddd]e[+-]XX"
  char* end = res.ptr;
  *end = '\0';  // for atoi below
  char* e = std::find(buf, end, 'e');
  char digits[32];
  int k = 0;
  for (const char* p = buf; p < e; ++p) {
    if (*p != '.') digits[k++] = *p;
  }
  int exp10 = std::atoi(e + 1);  // value = d.ddd * 10^exp10
  int n = exp10 + 1;             // value = 0.ddd * 10^n (ES spec's n)
  if (k <= n && n <= 21) {
    out->append(digits, k);
    out->append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out->append(digits, n);
    out->push_back('.');
    out->append(digits + n, k - n);
  } else if (-6 < n && n <= 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-n), '0');
    out->append(digits, k);
  } else {
    out->push_back(digits[0]);
    if (k > 1) {
      out->push_back('.');
      out->append(digits + 1, k - 1);
    }
    out->push_back('e');
    out->push_back(n - 1 < 0 ? '-' : '+');
    absl::StrAppend(out, std::abs(n - 1));
  }
}

absl::Status AppendNumber(double value, std::string* out) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError("JCS: NaN and Infinity are not valid JSON numbers");
  }
  if (value == 0) {  // also -0
    out->push_back('0');
    return absl::OkStatus();
  }
  if (value < 0) {
    out->push_back('-');
    value = -value;
  }
  AppendPositiveNumber(value, out);
  return absl::OkStatus();
}

absl::Status AppendString(const std::string& s, std::string* out) {
  if (!IsValidUtf8(s)) {
    return absl::InvalidArgumentError("JCS: string is not valid UTF-8 (or holds a lone surrogate)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes copied verbatim
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s, run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xF]);
    }
  }
  out->append(s, run, s.size() - run);
  out->push_back('"');
  return absl::OkStatus();
}

// Decodes the code point starting at s[i] (s is valid UTF-8).
uint32_t DecodeAt(const std::string& s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return c;
  int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  uint32_t cp = c & (0x7F >> len);
  for (int k = 1; k < len && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  return cp;
}

// Orders two valid UTF-8 strings by their UTF-16 code units, as RFC 8785
// section 3.2.3 requires. Bytewise UTF-8 order equals code point order, which
// differs from UTF-16 order only between U+E000..U+FFFF and supplementary
// characters (encoded as surrogates 0xD800..0xDFFF in UTF-16); so compare
// bytewise and fix up just that case at the first differing code point.
bool Utf16Less(const std::string& a, const std::string& b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i == n) return a.size() < b.size();
  // Back up to the first byte of the code point holding the difference; both
  // strings agree up to here, so they share its start.
  while (i > 0 && (static_cast<unsigned char>(a[i]) & 0xC0) == 0x80) --i;
  uint32_t ca = DecodeAt(a, i), cb = DecodeAt(b, i);
  auto unit = [](uint32_t cp) -> uint32_t {
    return cp < 0x10000 ? cp : 0xD800 + ((cp - 0x10000) >> 10);
  };
  uint32_t ua = unit(ca), ub = unit(cb);
  if (ua != ub) return ua < ub;
  return ca < cb;  // same high surrogate: low surrogates follow code point order
}

absl::Status Append(const Json& v, std::string* out, int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat("JCS: nesting deeper than ", kMaxDepth));
  }
  switch (v.type()) {
    case Json::value_t::null:
      out->append("null");
      return absl::OkStatus();
    case Json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return absl::OkStatus();
    case Json::value_t::number_integer: {
      int64_t i = v.get<int64_t>();
      if (i > kJcsMaxExactInteger || i < -kJcsMaxExactInteger) {
        return absl::InvalidArgumentError(
            absl::StrCat("JCS: integer ", i,
                         " is beyond +/-2^53 and cannot be represented exactly; "
                         "send it as a string"));
      }
      // |i| <= 2^53 < 1e21: ES prints exact integers in plain decimal.
      absl::StrAppend(out, i);
      return absl::OkStatus();
    }
    case Json::value_t::number_unsigned: {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(kJcsMaxExactInteger)) {
        return absl::InvalidArgumentError(
            absl::StrCat("JCS: integer ", u,
                         " is beyond 2^53 and cannot be represented exactly; "
                         "send it as a string"));
      }
      absl::StrAppend(out, u);
      return absl::OkStatus();
    }
    case Json::value_t::number_float:
      return AppendNumber(v.get<double>(), out);
    case Json::value_t::string:
      return AppendString(v.get_ref<const std::string&>(), out);
    case Json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const Json& e : v) {
        if (!first) out->push_back(',');
        first = false;
        KOS_RETURN_IF_ERROR(Append(e, out, depth + 1));
      }
      out->push_back(']');
      return absl::OkStatus();
    }
    case Json::value_t::object: {
      // nlohmann keeps members in bytewise (= code point) order, which is
      // already UTF-16 order unless keys mix U+E000..U+FFFF with characters
      // beyond U+FFFF; sort only then.
      const auto& obj = v.get_ref<const Json::object_t&>();
      std::vector<const Json::object_t::value_type*> members;
      members.reserve(obj.size());
      for (const auto& kv : obj) {
        if (!IsValidUtf8(kv.first)) {
          return absl::InvalidArgumentError("JCS: object key is not valid UTF-8");
        }
        members.push_back(&kv);
      }
      auto less = [](const auto* x, const auto* y) { return Utf16Less(x->first, y->first); };
      if (!std::is_sorted(members.begin(), members.end(), less)) {
        std::sort(members.begin(), members.end(), less);
      }
      out->push_back('{');
      bool first = true;
      for (const auto* kv : members) {
        if (!first) out->push_back(',');
        first = false;
        KOS_RETURN_IF_ERROR(AppendString(kv->first, out));
        out->push_back(':');
        KOS_RETURN_IF_ERROR(Append(kv->second, out, depth + 1));
      }
      out->push_back('}');
      return absl::OkStatus();
    }
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("JCS: cannot canonicalize a ", JsonTypeName(v), " value"));
}

// Builds the Json DOM from nlohmann's SAX events, refusing on the way what
// JCS cannot represent. One pass and no per-object key sets (duplicates are
// found in the object being built), which matters on the verify hot path.
class JcsDomBuilder {
 public:
  explicit JcsDomBuilder(Json* root) : root_(root) {}

  bool null() { return Add(nullptr); }
  bool boolean(bool v) { return Add(v); }
  bool number_integer(Json::number_integer_t v) { return Add(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return Add(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& lexeme) {
    // nlohmann hands integers beyond 64 bits over as doubles; the lexeme
    // tells them apart from numbers written with a fraction or exponent.
    if (lexeme.find_first_of(".eE") == std::string::npos) {
      return Fail(absl::StrCat("integer ", lexeme.substr(0, 40),
                               " is beyond +/-2^53 and cannot be represented exactly; "
                               "send it as a string"));
    }
    return Add(v);
  }
  bool string(Json::string_t& v) { return Add(std::move(v)); }
  bool binary(Json::binary_t&) { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) { return Open(Json::object()); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(Json::string_t& k) {
    auto& obj = stack_.back()->get_ref<Json::object_t&>();
    auto [it, inserted] = obj.emplace(std::move(k), nullptr);
    if (!inserted)
      return Fail(absl::StrCat("duplicate object key '", it->first.substr(0, 64), "'"));
    slot_ = &it->second;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    if (error_.empty()) error_ = absl::StrCat("at byte ", position, ": ", e.what());
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  // Where the next value goes: the root, the end of the open array, or the
  // member slot made by key(). Element pointers stay valid while a child is
  // open because its parent does not grow meanwhile.
  template <typename V>
  Json* Place(V&& v) {
    if (stack_.empty()) {
      *root_ = Json(std::forward<V>(v));
      return root_;
    }
    Json* top = stack_.back();
    if (top->is_array()) {
      auto& arr = top->get_ref<Json::array_t&>();
      arr.emplace_back(std::forward<V>(v));
      return &arr.back();
    }
    *slot_ = Json(std::forward<V>(v));
    return slot_;
  }
  template <typename V>
  bool Add(V&& v) {
    Place(std::forward<V>(v));
    return true;
  }
  bool Open(Json container) {
    if (static_cast<int>(stack_.size()) > kMaxDepth) {  // same limit as Append()
      return Fail(absl::StrCat("nesting deeper than ", kMaxDepth));
    }
    stack_.push_back(Place(std::move(container)));
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  Json* root_;
  std::vector<Json*> stack_;
  Json* slot_ = nullptr;
  std::string error_;
};

}  // namespace

absl::StatusOr<Json> ParseJsonForJcs(absl::string_view json_text) {
  Json root;
  JcsDomBuilder builder(&root);
  bool ok = false;
  try {
    ok = Json::sax_parse(json_text.begin(), json_text.end(), &builder, Json::input_format_t::json,
                         /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {  // allocation failure; nothing else throws here
    return absl::ResourceExhaustedError(absl::StrCat("invalid JSON: ", e.what()));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", builder.error().empty() ? "malformed" : builder.error()));
  }
  return root;
}

absl::StatusOr<std::string> Canonicalize(absl::string_view json_text) {
  KOS_ASSIGN_OR_RETURN(Json value, ParseJsonForJcs(json_text));
  return Canonicalize(value);
}

absl::StatusOr<std::string> Canonicalize(const Json& value) {
  std::string out;
  KOS_RETURN_IF_ERROR(Append(value, &out, 0));
  return out;
}

absl::Status AppendCanonical(const Json& value, std::string* out) { return Append(value, out, 0); }

absl::StatusOr<std::string> JcsNumber(double value) {
  std::string out;
  KOS_RETURN_IF_ERROR(AppendNumber(value, &out));
  return out;
}

}  // namespace kos
