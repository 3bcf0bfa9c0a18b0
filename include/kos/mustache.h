// Mustache templates (https://mustache.github.io/mustache.5.html) rendered from
// kos::Json data, compiled once and rendered many times.
//
// Semantics follow the Mustache spec v1.3 core modules (interpolation,
// sections, inverted sections, comments, partials, set delimiters) plus the
// optional inheritance ({{<parent}} / {{$block}}) and dynamic-name
// ({{>*name}}) modules. Lambdas are not supported: data is JSON.
//
// Two modes:
//  - strict (the default): a name that resolves to nothing, in an
//    interpolation, a section, an inverted section or a dynamic partial name,
//    and a partial that does not exist, fail the render with INVALID_ARGUMENT
//    naming it and its position ("missing variable 'user.name' at line 3,
//    column 7"). A name that resolves to JSON null is present (renders empty).
//  - lenient (spec semantics): missing names render as empty / falsey.
//
// Falsey values for sections: false, null, "" and []. Everything else,
// including 0 and {}, is truthy. Numbers interpolate in their shortest
// round-trip form (1.210 -> "1.21"); objects and arrays interpolate as compact
// JSON.
//
// Errors never throw: compile errors (unclosed tag or section, mismatched
// closing tag, bad delimiters, empty name) are INVALID_ARGUMENT with line and
// column; runaway recursion or output is RESOURCE_EXHAUSTED.
#ifndef KOS_MUSTACHE_H_
#define KOS_MUSTACHE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/export.h"
#include "kos/json.h"

namespace kos {

class MustacheTemplate;
namespace internal_mustache {
struct Access;
}  // namespace internal_mustache

// Source of partials ({{>name}}) and parents ({{<name}}) for a render.
// Implementations must be safe to call from the threads that render.
class KOS_EXPORT MustachePartials {
 public:
  virtual ~MustachePartials();
  // The compiled template called `name`, or nullptr if there is none (then
  // strict renders fail and lenient renders output nothing). A non-OK status
  // aborts the render with that status.
  virtual absl::StatusOr<std::shared_ptr<const MustacheTemplate>> Find(absl::string_view name) = 0;
};

// Partials held in memory, keyed by name. Not thread-safe for Add() while a
// render reads it; concurrent renders alone are safe.
class KOS_EXPORT MustachePartialMap : public MustachePartials {
 public:
  // Compiles and stores `source` as partial `name` (replacing any previous
  // one). INVALID_ARGUMENT if it does not compile.
  absl::Status Add(absl::string_view name, absl::string_view source);
  absl::StatusOr<std::shared_ptr<const MustacheTemplate>> Find(absl::string_view name) override;

 private:
  absl::flat_hash_map<std::string, std::shared_ptr<const MustacheTemplate>> partials_;
};

struct MustacheRenderOptions {
  // Missing names and partials are errors (true) or empty (false, the spec).
  bool strict = true;
  // Escape & < > " in {{name}} (the spec). {{{name}}} and {{&name}} never
  // escape. Prompts for language models usually want false.
  bool html_escape = true;
  // Where partials and parents come from. Not owned; nullptr: none exist.
  MustachePartials* partials = nullptr;
  // How deeply partials, parents and blocks may nest (recursion guard).
  int max_depth = 64;
  // Renders producing more output than this fail with RESOURCE_EXHAUSTED, so
  // a small template with nested loops cannot exhaust memory.
  size_t max_output_bytes = size_t{16} << 20;
};

// A compiled template. Immutable and thread-safe: one instance can be rendered
// from many threads at once.
class KOS_EXPORT MustacheTemplate {
 public:
  // Parses `source`. INVALID_ARGUMENT with line and column on a syntax error.
  static absl::StatusOr<std::shared_ptr<const MustacheTemplate>> Compile(absl::string_view source);

  ~MustacheTemplate();
  MustacheTemplate(const MustacheTemplate&) = delete;
  MustacheTemplate& operator=(const MustacheTemplate&) = delete;

  // Renders with `data` as the root context.
  absl::StatusOr<std::string> Render(const Json& data,
                                     const MustacheRenderOptions& options = {}) const;
  // Appends the rendering to `*out`. On error `*out` holds a partial rendering.
  absl::Status RenderTo(const Json& data, const MustacheRenderOptions& options,
                        std::string* out) const;

  // The text this template was compiled from.
  const std::string& source() const;

  struct Impl;

 private:
  friend struct internal_mustache::Access;
  explicit MustacheTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kos

#endif  // KOS_MUSTACHE_H_
