#include "kos/mustache.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "kos/status.h"

namespace kos {
namespace {

// Deep enough for any hand-written template; shallow enough that the
// recursive renderer cannot overflow the stack.
constexpr int kMaxSectionNesting = 100;
// Indented copies of a partial are cached per indentation; hostile templates
// must not be able to grow the cache without bound.
constexpr size_t kMaxIndentedVariants = 32;

enum class NodeType { kText, kVariable, kSection, kInverted, kPartial, kBlock, kParent };

struct Node {
  NodeType type = NodeType::kText;
  std::string text;               // kText: the text; otherwise the tag name as written
  std::vector<std::string> path;  // dotted name split; empty for "."
  bool escape = true;             // kVariable
  bool dynamic = false;           // kPartial / kParent named by data
  std::string indent;             // standalone kPartial / kParent
  int line = 0;
  int column = 0;
  std::vector<Node> children;
};

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string Position(int line, int column) {
  return absl::StrCat("line ", line, ", column ", column);
}

std::vector<std::string> SplitPath(absl::string_view name) {
  if (name == ".") return {};
  return absl::StrSplit(name, '.');
}

// A lexical unit. Text tokens never contain a newline except as their last
// character, so tokens group into source lines for standalone detection.
struct Token {
  bool is_tag = false;
  absl::string_view text;  // text token
  char sigil = 0;          // tag: 0 (variable), '&', '{', '#', '^', '/', '!', '>', '=', '$', '<'
  std::string name;
  int line = 0;
  int column = 0;
};

absl::Status ParseError(absl::string_view what, int line, int column) {
  return absl::InvalidArgumentError(absl::StrCat(what, " at ", Position(line, column)));
}

absl::Status ValidateName(absl::string_view name, char sigil, int line, int column) {
  if (name.empty()) return ParseError("empty tag name", line, column);
  for (char c : name) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return ParseError(absl::StrCat("tag name '", name, "' contains whitespace"), line, column);
    }
  }
  if (name != "." &&
      (name.front() == '.' || name.back() == '.' || name.find("..") != absl::string_view::npos)) {
    if (!((sigil == '>' || sigil == '<') && name.front() == '*')) {
      return ParseError(absl::StrCat("malformed dotted name '", name, "'"), line, column);
    }
  }
  return absl::OkStatus();
}

class Tokenizer {
 public:
  explicit Tokenizer(absl::string_view src) : src_(src) {}

  absl::StatusOr<std::vector<Token>> Run() {
    std::vector<Token> tokens;
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t open = src_.find(open_, pos);
      size_t text_end = open == absl::string_view::npos ? src_.size() : open;
      EmitText(pos, text_end, &tokens);
      if (open == absl::string_view::npos) break;
      const int tag_line = line_;
      const int tag_column = static_cast<int>(open - line_start_) + 1;
      size_t p = open + open_.size();
      char sigil = p < src_.size() ? src_[p] : 0;
      Token tok;
      tok.is_tag = true;
      tok.line = tag_line;
      tok.column = tag_column;
      absl::string_view close = close_;
      std::string triple_close;
      switch (sigil) {
        case '{':
          triple_close = absl::StrCat("}", close_);
          close = triple_close;
          ++p;
          break;
        case '&':
        case '#':
        case '^':
        case '/':
        case '!':
        case '>':
        case '=':
        case '$':
        case '<':
          ++p;
          break;
        default:
          sigil = 0;
      }
      std::string eq_close;
      if (sigil == '=') {
        eq_close = absl::StrCat("=", close_);
        close = eq_close;
      }
      size_t end = src_.find(close, p);
      if (end == absl::string_view::npos) {
        return ParseError(absl::StrCat("unclosed tag '", open_, "'"), tag_line, tag_column);
      }
      absl::string_view inner = src_.substr(p, end - p);
      Advance(open, end + close.size());
      pos = end + close.size();
      tok.sigil = sigil;
      if (sigil == '!') {
        tokens.push_back(std::move(tok));
        continue;
      }
      inner = absl::StripAsciiWhitespace(inner);
      if (sigil == '=') {
        std::vector<absl::string_view> parts =
            absl::StrSplit(inner, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
        if (parts.size() != 2 || parts[0].find('=') != absl::string_view::npos ||
            parts[1].find('=') != absl::string_view::npos) {
          return ParseError(absl::StrCat("bad delimiter tag '", inner,
                                         "': expected two delimiters without '=' or spaces"),
                            tag_line, tag_column);
        }
        open_ = std::string(parts[0]);
        close_ = std::string(parts[1]);
        tokens.push_back(std::move(tok));
        continue;
      }
      if ((sigil == '>' || sigil == '<') && absl::StartsWith(inner, "*")) {
        // Dynamic names may be padded after the '*' ("{{>* name}}").
        inner.remove_prefix(1);
        inner = absl::StripLeadingAsciiWhitespace(inner);
        tok.name = absl::StrCat("*", inner);
        if (inner.empty()) return ParseError("empty dynamic name", tag_line, tag_column);
      } else {
        tok.name = std::string(inner);
      }
      KOS_RETURN_IF_ERROR(ValidateName(tok.name, sigil, tag_line, tag_column));
      tokens.push_back(std::move(tok));
    }
    return tokens;
  }

 private:
  void EmitText(size_t begin, size_t end, std::vector<Token>* tokens) {
    while (begin < end) {
      size_t nl = src_.find('\n', begin);
      size_t stop = (nl == absl::string_view::npos || nl >= end) ? end : nl + 1;
      Token t;
      t.text = src_.substr(begin, stop - begin);
      tokens->push_back(t);
      if (stop == nl + 1 && nl < end) {
        ++line_;
        line_start_ = stop;
      }
      begin = stop;
    }
  }

  // Tracks line numbers across a tag's own text (comments may span lines).
  void Advance(size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      if (src_[i] == '\n') {
        ++line_;
        line_start_ = i + 1;
      }
    }
  }

  absl::string_view src_;
  std::string open_ = "{{";
  std::string close_ = "}}";
  int line_ = 1;
  size_t line_start_ = 0;
};

bool CanStandalone(char sigil) {
  switch (sigil) {
    case '#':
    case '^':
    case '/':
    case '!':
    case '>':
    case '=':
    case '$':
    case '<':
      return true;
    default:
      return false;
  }
}

// True if a text token holds only blanks and at most a trailing (CR)LF.
bool IsBlankText(absl::string_view t) {
  if (absl::EndsWith(t, "\r\n")) {
    t.remove_suffix(2);
  } else if (absl::EndsWith(t, "\n")) {
    t.remove_suffix(1);
  }
  for (char c : t) {
    if (!IsBlank(c)) return false;
  }
  return true;
}

// Removes the whitespace and line ending around standalone tags (tags alone
// on their line), as the spec requires; partials and parents keep the removed
// indentation so every line they render can be indented with it.
std::vector<Token> StripStandalone(std::vector<Token> tokens, std::vector<std::string>* indents) {
  std::vector<Token> out;
  out.reserve(tokens.size());
  indents->clear();
  size_t i = 0;
  while (i < tokens.size()) {
    size_t j = i;  // one past the line's last token
    while (j < tokens.size()) {
      const Token& t = tokens[j++];
      if (!t.is_tag && !t.text.empty() && t.text.back() == '\n') break;
    }
    std::vector<size_t> tags;
    bool blank = true;
    for (size_t k = i; k < j; ++k) {
      if (tokens[k].is_tag) {
        tags.push_back(k);
      } else if (!IsBlankText(tokens[k].text)) {
        blank = false;
      }
    }
    // Like mustache.js: a line holding only standalone-capable tags and
    // blanks is dropped entirely (this covers "{{<parent}}{{/parent}}").
    bool standalone = blank && !tags.empty();
    for (size_t k : tags) standalone = standalone && CanStandalone(tokens[k].sigil);
    if (standalone) {
      std::string indent;
      if (!tokens[i].is_tag) indent = std::string(tokens[i].text);
      for (size_t k : tags) {
        out.push_back(std::move(tokens[k]));
        indents->resize(out.size());
        // Only the line's first tag sits at the indentation.
        if (k == tags[0] && (out.back().sigil == '>' || out.back().sigil == '<')) {
          indents->back() = indent;
        }
      }
    } else {
      for (size_t k = i; k < j; ++k) out.push_back(std::move(tokens[k]));
    }
    i = j;
  }
  indents->resize(out.size());
  return out;
}

absl::StatusOr<std::vector<Node>> BuildTree(std::vector<Token> tokens,
                                            const std::vector<std::string>& indents) {
  std::vector<Node> root;
  // Open sections: the node being filled and where its children go.
  std::vector<Node> open;
  auto current = [&]() -> std::vector<Node>& { return open.empty() ? root : open.back().children; };
  for (size_t i = 0; i < tokens.size(); ++i) {
    Token& t = tokens[i];
    std::vector<Node>& cur = current();
    if (!t.is_tag) {
      if (!cur.empty() && cur.back().type == NodeType::kText) {
        cur.back().text.append(t.text.data(), t.text.size());
      } else {
        Node n;
        n.text = std::string(t.text);
        cur.push_back(std::move(n));
      }
      continue;
    }
    if (t.sigil == '!' || t.sigil == '=') continue;
    Node n;
    n.line = t.line;
    n.column = t.column;
    n.text = t.name;
    switch (t.sigil) {
      case 0:
      case '&':
      case '{':
        n.type = NodeType::kVariable;
        n.escape = t.sigil == 0;
        n.path = SplitPath(t.name);
        cur.push_back(std::move(n));
        break;
      case '>':
      case '<':
      case '#':
      case '^':
      case '$': {
        n.type = t.sigil == '>'   ? NodeType::kPartial
                 : t.sigil == '<' ? NodeType::kParent
                 : t.sigil == '#' ? NodeType::kSection
                 : t.sigil == '^' ? NodeType::kInverted
                                  : NodeType::kBlock;
        n.indent = indents[i];
        if ((t.sigil == '>' || t.sigil == '<') && absl::StartsWith(t.name, "*")) {
          // The whole dotted name is resolved first; its value names the partial.
          n.dynamic = true;
          n.path = SplitPath(absl::string_view(t.name).substr(1));
        } else {
          n.path = SplitPath(t.name);
        }
        if (t.sigil == '>') {
          cur.push_back(std::move(n));
        } else {
          if (open.size() >= static_cast<size_t>(kMaxSectionNesting)) {
            return ParseError(absl::StrCat("sections nested deeper than ", kMaxSectionNesting),
                              t.line, t.column);
          }
          open.push_back(std::move(n));
        }
        break;
      }
      case '/': {
        if (open.empty()) {
          return ParseError(absl::StrCat("closing tag '", t.name, "' without an open section"),
                            t.line, t.column);
        }
        if (open.back().text != t.name) {
          return ParseError(
              absl::StrCat("closing tag '", t.name, "' does not match section '", open.back().text,
                           "' opened at ", Position(open.back().line, open.back().column)),
              t.line, t.column);
        }
        Node done = std::move(open.back());
        open.pop_back();
        current().push_back(std::move(done));
        break;
      }
    }
  }
  if (!open.empty()) {
    return ParseError(absl::StrCat("unclosed section '", open.back().text, "' opened"),
                      open.back().line, open.back().column);
  }
  return root;
}

// Prefixes every non-empty line of `src` with `indent`.
std::string IndentSource(absl::string_view src, absl::string_view indent) {
  std::string out;
  out.reserve(src.size() + indent.size() * 8);
  bool at_start = true;
  for (char c : src) {
    if (at_start && c != '\n') out.append(indent.data(), indent.size());
    out.push_back(c);
    at_start = c == '\n';
  }
  return out;
}

}  // namespace

struct MustacheTemplate::Impl {
  std::string source;
  std::vector<Node> nodes;
  mutable absl::Mutex mu;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const MustacheTemplate>> indented
      ABSL_GUARDED_BY(mu);
};

namespace internal_mustache {
struct Access {
  static const MustacheTemplate::Impl& Get(const MustacheTemplate& t) { return *t.impl_; }
  static std::shared_ptr<const MustacheTemplate> Make(std::unique_ptr<MustacheTemplate::Impl> i) {
    return std::shared_ptr<const MustacheTemplate>(new MustacheTemplate(std::move(i)));
  }
};
}  // namespace internal_mustache

namespace {

// Key lookup tuned for prompt data: small objects (loop items) are scanned
// comparing lengths first, which beats the tree walk's string compares.
const Json* FindKey(const Json& obj, const std::string& key) {
  const Json::object_t& m = obj.get_ref<const Json::object_t&>();
  if (m.size() <= 8) {
    for (const auto& kv : m) {
      if (kv.first.size() == key.size() &&
          std::memcmp(kv.first.data(), key.data(), key.size()) == 0) {
        return &kv.second;
      }
    }
    return nullptr;
  }
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

// Shortest round-trip form, as JSON serializers (and Python) print doubles:
// 1.21, 19.0, 1e+20.
void AppendDouble(double d, std::string* out) {
  if (!std::isfinite(d)) {
    out->append(DumpJson(Json(d)));
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  if (ec != std::errc()) {
    out->append(DumpJson(Json(d)));
    return;
  }
  out->append(buf, end - buf);
  if (std::find_if(buf, end, [](char c) { return c == '.' || c == 'e'; }) == end) {
    out->append(".0");
  }
}

// One in-flight render. Not shared between threads.
class Renderer {
 public:
  Renderer(const MustacheRenderOptions& options, std::string* out) : opt_(options), out_(out) {}

  absl::Status Render(const std::vector<Node>& nodes, const Json& root) {
    stack_.push_back(&root);
    absl::Status s = RenderNodes(nodes);
    stack_.pop_back();
    return s;
  }

 private:
  // A found value or nullptr. `*missing_at` is set when the name is absent.
  const Json* Lookup(const std::vector<std::string>& path) const {
    if (path.empty()) return stack_.back();
    const Json* found = nullptr;
    for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
      const Json* ctx = *it;
      if (!ctx->is_object()) continue;
      found = FindKey(*ctx, path[0]);
      if (found != nullptr) break;
    }
    // Only the first part searches the stack: "a.b" never finds b elsewhere.
    for (size_t i = 1; found != nullptr && i < path.size(); ++i) {
      if (!found->is_object()) return nullptr;
      found = FindKey(*found, path[i]);
    }
    return found;
  }

  absl::Status Missing(absl::string_view what, const Node& n) const {
    return absl::InvalidArgumentError(
        absl::StrCat("missing ", what, " '", n.text, "' at ", Position(n.line, n.column), where_));
  }

  absl::Status CheckSize() const {
    if (out_->size() > opt_.max_output_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("rendered output exceeds ", opt_.max_output_bytes, " bytes"));
    }
    return absl::OkStatus();
  }

  void Append(absl::string_view s, bool escape) {
    if (!escape) {
      out_->append(s.data(), s.size());
      return;
    }
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const char* rep;
      switch (s[i]) {
        case '&':
          rep = "&amp;";
          break;
        case '<':
          rep = "&lt;";
          break;
        case '>':
          rep = "&gt;";
          break;
        case '"':
          rep = "&quot;";
          break;
        default:
          continue;
      }
      out_->append(s.data() + start, i - start);
      out_->append(rep);
      start = i + 1;
    }
    out_->append(s.data() + start, s.size() - start);
  }

  void AppendValue(const Json& v, bool escape) {
    switch (v.type()) {
      case Json::value_t::string: {
        const std::string& s = v.get_ref<const std::string&>();
        Append(s, escape);
        break;
      }
      case Json::value_t::null:
        break;
      case Json::value_t::boolean:
        Append(v.get<bool>() ? "true" : "false", false);
        break;
      case Json::value_t::number_integer:
        absl::StrAppend(out_, v.get<int64_t>());
        break;
      case Json::value_t::number_unsigned:
        absl::StrAppend(out_, v.get<uint64_t>());
        break;
      case Json::value_t::number_float:
        AppendDouble(v.get<double>(), out_);
        break;
      default:
        // Objects and arrays as compact JSON.
        Append(DumpJson(v), escape);
    }
  }

  static bool Truthy(const Json& v) {
    switch (v.type()) {
      case Json::value_t::null:
        return false;
      case Json::value_t::boolean:
        return v.get<bool>();
      case Json::value_t::string:
        return !v.get_ref<const std::string&>().empty();
      case Json::value_t::array:
        return !v.empty();
      default:
        return true;
    }
  }

  absl::Status RenderNodes(const std::vector<Node>& nodes) {
    for (const Node& n : nodes) KOS_RETURN_IF_ERROR(RenderNode(n));
    return absl::OkStatus();
  }

  absl::Status RenderNode(const Node& n) {
    switch (n.type) {
      case NodeType::kText:
        out_->append(n.text);
        return CheckSize();
      case NodeType::kVariable: {
        const Json* v = Lookup(n.path);
        if (v == nullptr) return opt_.strict ? Missing("variable", n) : absl::OkStatus();
        AppendValue(*v, n.escape && opt_.html_escape);
        return CheckSize();
      }
      case NodeType::kSection: {
        const Json* v = Lookup(n.path);
        if (v == nullptr) return opt_.strict ? Missing("section", n) : absl::OkStatus();
        if (!Truthy(*v)) return absl::OkStatus();
        if (v->is_array()) {
          for (const Json& item : *v) {
            stack_.push_back(&item);
            absl::Status s = RenderNodes(n.children);
            stack_.pop_back();
            KOS_RETURN_IF_ERROR(s);
          }
          return absl::OkStatus();
        }
        stack_.push_back(v);
        absl::Status s = RenderNodes(n.children);
        stack_.pop_back();
        return s;
      }
      case NodeType::kInverted: {
        const Json* v = Lookup(n.path);
        if (v == nullptr && opt_.strict) return Missing("section", n);
        if (v != nullptr && Truthy(*v)) return absl::OkStatus();
        return RenderNodes(n.children);
      }
      case NodeType::kBlock: {
        // The outermost override wins: a child template overrides its parents.
        for (const Node* o : overrides_) {
          if (o->text == n.text) return Nested(o->children);
        }
        return Nested(n.children);
      }
      case NodeType::kPartial:
      case NodeType::kParent:
        return RenderPartial(n);
    }
    return absl::OkStatus();
  }

  absl::Status Nested(const std::vector<Node>& nodes) {
    if (++depth_ > opt_.max_depth) {
      return absl::ResourceExhaustedError(
          absl::StrCat("partials/blocks nested deeper than ", opt_.max_depth));
    }
    absl::Status s = RenderNodes(nodes);
    --depth_;
    return s;
  }

  // "" when a dynamic name does not resolve to a string.
  std::string PartialName(const Node& n) const {
    if (!n.dynamic) return n.text;
    const Json* v = Lookup(n.path);
    if (v == nullptr || !v->is_string()) return std::string();
    return v->get<std::string>();
  }

  absl::Status RenderPartial(const Node& n) {
    const std::string name = PartialName(n);
    std::shared_ptr<const MustacheTemplate> tmpl;
    if (!name.empty() && opt_.partials != nullptr) {
      KOS_ASSIGN_OR_RETURN(tmpl, opt_.partials->Find(name));
    }
    if (tmpl == nullptr) {
      if (!opt_.strict) return absl::OkStatus();
      if (n.dynamic && name.empty()) return Missing("dynamic partial name", n);
      return absl::InvalidArgumentError(
          absl::StrCat("missing partial '", name, "' at ", Position(n.line, n.column), where_));
    }
    if (!n.indent.empty()) {
      KOS_ASSIGN_OR_RETURN(tmpl, Indented(tmpl, n.indent));
    }
    size_t pushed = 0;
    if (n.type == NodeType::kParent) {
      // Blocks declared inside the parent tag override the parent's blocks;
      // everything else inside the tag is ignored.
      for (const Node& c : n.children) {
        if (c.type == NodeType::kBlock) {
          overrides_.push_back(&c);
          ++pushed;
        }
      }
    }
    std::string saved_where = where_;
    where_ = absl::StrCat(" in partial '", name, "'", saved_where);
    absl::Status s = Nested(internal_mustache::Access::Get(*tmpl).nodes);
    where_ = std::move(saved_where);
    overrides_.resize(overrides_.size() - pushed);
    return s;
  }

  static absl::StatusOr<std::shared_ptr<const MustacheTemplate>> Indented(
      const std::shared_ptr<const MustacheTemplate>& tmpl, const std::string& indent);

  const MustacheRenderOptions& opt_;
  std::string* out_;
  std::vector<const Json*> stack_;
  std::vector<const Node*> overrides_;
  std::string where_;
  int depth_ = 0;
};

absl::StatusOr<std::shared_ptr<const MustacheTemplate>> Renderer::Indented(
    const std::shared_ptr<const MustacheTemplate>& tmpl, const std::string& indent) {
  const MustacheTemplate::Impl& impl = internal_mustache::Access::Get(*tmpl);
  {
    absl::MutexLock lock(&impl.mu);
    auto it = impl.indented.find(indent);
    if (it != impl.indented.end()) return it->second;
  }
  KOS_ASSIGN_OR_RETURN(std::shared_ptr<const MustacheTemplate> indented,
                       MustacheTemplate::Compile(IndentSource(impl.source, indent)));
  absl::MutexLock lock(&impl.mu);
  if (impl.indented.size() < kMaxIndentedVariants) impl.indented.emplace(indent, indented);
  return indented;
}

}  // namespace

MustachePartials::~MustachePartials() = default;

absl::Status MustachePartialMap::Add(absl::string_view name, absl::string_view source) {
  KOS_ASSIGN_OR_RETURN(auto tmpl, MustacheTemplate::Compile(source));
  partials_[std::string(name)] = std::move(tmpl);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const MustacheTemplate>> MustachePartialMap::Find(
    absl::string_view name) {
  auto it = partials_.find(name);
  if (it == partials_.end()) return std::shared_ptr<const MustacheTemplate>();
  return it->second;
}

MustacheTemplate::MustacheTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MustacheTemplate::~MustacheTemplate() = default;

absl::StatusOr<std::shared_ptr<const MustacheTemplate>> MustacheTemplate::Compile(
    absl::string_view source) {
  auto impl = std::make_unique<Impl>();
  impl->source = std::string(source);
  Tokenizer tokenizer(impl->source);
  KOS_ASSIGN_OR_RETURN(std::vector<Token> tokens, tokenizer.Run());
  std::vector<std::string> indents;
  tokens = StripStandalone(std::move(tokens), &indents);
  KOS_ASSIGN_OR_RETURN(impl->nodes, BuildTree(std::move(tokens), indents));
  return internal_mustache::Access::Make(std::move(impl));
}

absl::StatusOr<std::string> MustacheTemplate::Render(const Json& data,
                                                     const MustacheRenderOptions& options) const {
  std::string out;
  out.reserve(impl_->source.size() + impl_->source.size() / 2);
  KOS_RETURN_IF_ERROR(RenderTo(data, options, &out));
  return out;
}

absl::Status MustacheTemplate::RenderTo(const Json& data, const MustacheRenderOptions& options,
                                        std::string* out) const {
  Renderer r(options, out);
  return r.Render(impl_->nodes, data);
}

const std::string& MustacheTemplate::source() const { return impl_->source; }

}  // namespace kos
