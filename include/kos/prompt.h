// Prompt registry: versioned, labelled Mustache prompt templates kept in a
// kos::Store, strict rendering with typed input variables, and a render
// history that records hashes of what went in and came out.
//
// Model (after Langfuse / PromptLayer prompt management):
//  - A template has a name and immutable versions 1, 2, ...; every Save makes
//    a new version holding either a text template or chat messages (each
//    message's content is a template), plus declared input variables.
//  - Labels ("production", "staging", custom) point at versions and move
//    with compare-and-set; "latest" is maintained by Save and cannot be set.
//  - {{>name}} partials name other templates in the registry and resolve to
//    their "production" version, or their latest if they have none.
//  - Render type-checks the variables against the declarations, fills in
//    defaults, renders (strict: a missing variable is INVALID_ARGUMENT naming
//    it and its line), and appends a history record: template name, version
//    and hash, BLAKE2b-256 of the canonical inputs and of the output, caller,
//    time, and optionally the output itself.
//
// Store layout: collections `<prefix>_templates` (one record per name: latest
// version and labels), `<prefix>_versions` (`name/0000000001`), and
// `<prefix>_history` (`name/<20-digit unix micros>/<ulid>`).
#ifndef KOS_PROMPT_H_
#define KOS_PROMPT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"
#include "kos/id.h"
#include "kos/json.h"
#include "kos/store.h"

namespace kos {

class MustacheTemplate;

enum class PromptVariableType { kString, kNumber, kBoolean, kList, kObject };

// "string", "number", "boolean", "list", "object".
KOS_EXPORT const char* PromptVariableTypeName(PromptVariableType type);

// A declared input of a template.
struct PromptVariable {
  // 1..64 chars of [A-Za-z0-9_], not starting with a digit.
  std::string name;
  PromptVariableType type = PromptVariableType::kString;
  // Required variables must be passed to Render. Optional ones take
  // `default_value`, or null when it is unset (falsey in sections, empty when
  // interpolated).
  bool required = true;
  // Optional variables only; must have the declared type.
  std::optional<Json> default_value;
  // Free text for people; not interpreted.
  std::string description;
};

struct ChatMessage {
  // 1..64 chars of [A-Za-z0-9_-], e.g. "system", "user", "assistant".
  std::string role;
  // A Mustache template (for a template) or rendered text (for a render).
  std::string content;

  bool operator==(const ChatMessage& o) const { return role == o.role && content == o.content; }
};

// What Save stores: exactly one of `text` (non-empty) or `messages`.
struct PromptContent {
  std::string text;
  std::vector<ChatMessage> messages;
  // Declared inputs. When non-empty, Render refuses undeclared variables.
  // When empty, Render passes any variables through unchecked.
  std::vector<PromptVariable> variables;
};

// One stored, immutable version of a template.
struct PromptVersion {
  std::string name;
  int64_t version = 0;
  PromptContent content;
  std::string author;          // from SavePromptOptions
  std::string commit_message;  // from SavePromptOptions
  absl::Time created = absl::InfinitePast();
  // BLAKE2b-256 (hex) of the canonical JSON of `content`.
  std::string hash;
  bool is_chat() const { return !content.messages.empty(); }
};

struct SavePromptOptions {
  // Recorded with the version. Up to 256 bytes.
  std::string author;
  // Recorded with the version. Up to 4096 bytes.
  std::string commit_message;
  // Labels to point at the new version in the same atomic write.
  std::vector<std::string> labels;
  // Compare-and-set on the template: fail with FAILED_PRECONDITION unless the
  // current latest version is this (0: the template must not exist yet).
  // Unset: always append.
  std::optional<int64_t> expected_latest_version;
};

// Which version of a template: `version` when > 0, otherwise `label`.
struct PromptRef {
  std::string label = "production";
  int64_t version = 0;

  static PromptRef Label(std::string l) { return PromptRef{std::move(l), 0}; }
  static PromptRef Version(int64_t v) { return PromptRef{"", v}; }
  static PromptRef Latest() { return PromptRef{"latest", 0}; }
};

struct RenderedPrompt {
  std::string name;
  int64_t version = 0;
  std::string text;                   // text templates
  std::vector<ChatMessage> messages;  // chat templates
  std::string template_hash;          // PromptVersion::hash
  // BLAKE2b-256 (hex) of the canonical JSON (sorted keys, compact) of the
  // variables after defaults were applied.
  std::string input_hash;
  // BLAKE2b-256 (hex) of `text`, or of the canonical JSON of `messages`.
  std::string output_hash;
  std::string history_id;  // "" when history is off
};

// One render, as recorded in the history.
struct RenderRecord {
  std::string id;  // ULID
  std::string name;
  int64_t version = 0;
  std::string template_hash;  // BLAKE2b-256 hex, as in RenderedPrompt
  std::string input_hash;
  std::string output_hash;
  std::string caller;
  absl::Time time = absl::InfinitePast();
  // The output (text, or the messages as JSON) when the registry stores
  // outputs; cut to max_stored_output_bytes (at a UTF-8 boundary) if longer.
  std::optional<std::string> output;
  bool output_truncated = false;
};

struct PromptHistoryQuery {
  std::string name;                         // required
  absl::Time start = absl::InfinitePast();  // inclusive
  absl::Time end = absl::InfiniteFuture();  // exclusive
  size_t limit = 100;                       // 1..1000 records per page
  // From a previous page of the same query; "" for the first page.
  std::string page_token;
};

struct PromptHistoryPage {
  std::vector<RenderRecord> records;  // oldest first
  std::string next_page_token;        // "" when there are no more
};

struct PromptNamePage {
  std::vector<std::string> names;  // ascending
  std::string next_page_token;     // "" when there are no more
};

struct PromptRegistryOptions {
  // Where templates, labels and history live. Required; not owned; must
  // outlive the registry.
  Store* store = nullptr;
  // Time of versions and history records. Not owned. Default: the real clock.
  Clock* clock = Clock::Real();
  // Collection name prefix (see the file comment). Default "prompt".
  std::string collection_prefix = "prompt";
  // Missing variables/partials fail the render (true) or render empty.
  bool strict = true;
  // HTML-escape {{name}} as the Mustache spec says. Default false: prompts are
  // not HTML, and escaping quotes or '<' would change what the model reads.
  bool html_escape = false;
  // Append a history record for every successful render.
  bool record_history = true;
  // Keep the rendered output in the history record (it may hold user data).
  bool store_outputs = false;
  // Longer outputs are stored cut to this many bytes (flagged truncated).
  size_t max_stored_output_bytes = 64 << 10;
  // How long history records live (0: forever).
  absl::Duration history_ttl = absl::ZeroDuration();
  // Largest template (text plus all message contents), in bytes.
  size_t max_template_bytes = 256 << 10;
  // Largest variables object (as compact JSON), in bytes.
  size_t max_variables_bytes = 1 << 20;
  // Largest rendered output, in bytes (RESOURCE_EXHAUSTED beyond).
  size_t max_output_bytes = 4 << 20;
  // Compiled versions kept in memory (versions are immutable, so this never
  // serves stale data).
  size_t compiled_cache_size = 1024;
};

// Registry of prompt templates. Thread-safe; several registries (or
// processes) may share one Store, since every write is compare-and-set.
class KOS_EXPORT PromptRegistry {
 public:
  using Options = PromptRegistryOptions;

  // INVALID_ARGUMENT if options.store is null or the prefix is not a valid
  // collection name.
  static absl::StatusOr<std::unique_ptr<PromptRegistry>> Open(const Options& options);
  ~PromptRegistry();

  // Stores `content` as the next version of `name` (1 for a new name) and
  // moves "latest" (and options.labels) to it. INVALID_ARGUMENT for a bad
  // name, label, variable declaration, oversized or non-UTF-8 content, or a
  // template that does not compile (with line and column).
  absl::StatusOr<PromptVersion> Save(absl::string_view name, const PromptContent& content,
                                     const SavePromptOptions& options = {});

  // NOT_FOUND for an unknown name, version or label.
  absl::StatusOr<PromptVersion> Get(absl::string_view name, const PromptRef& ref);

  // Points `label` at `version`. With `expected_version`, only if the label
  // currently points there (0: the label must not exist); otherwise
  // FAILED_PRECONDITION. "latest" cannot be set.
  absl::Status SetLabel(absl::string_view name, absl::string_view label, int64_t version,
                        std::optional<int64_t> expected_version = std::nullopt);
  // Removes `label` (same CAS rule). NOT_FOUND if it does not exist.
  absl::Status DeleteLabel(absl::string_view name, absl::string_view label,
                           std::optional<int64_t> expected_version = std::nullopt);
  // Every label of `name` and the version it points at (including "latest").
  absl::StatusOr<std::map<std::string, int64_t>> Labels(absl::string_view name);

  // Template names in ascending order, `limit` (1..1000) per page.
  absl::StatusOr<PromptNamePage> ListNames(absl::string_view page_token = "", size_t limit = 100);

  // Unified diff (3 lines of context) from version `from` to `to`. Chat
  // templates are compared in a line form ("### role" headers); variable
  // declarations are compared as one line each.
  absl::StatusOr<std::string> Diff(absl::string_view name, int64_t from, int64_t to);

  // Renders `name` at `ref` with `variables` (a JSON object; null means {}).
  // INVALID_ARGUMENT for undeclared, missing required or mistyped variables,
  // oversized variables, and (strict) missing names in the template.
  // `caller` (up to 256 bytes) is recorded in the history.
  absl::StatusOr<RenderedPrompt> Render(absl::string_view name, const PromptRef& ref,
                                        const Json& variables, absl::string_view caller);

  // Render history of one template in time order.
  absl::StatusOr<PromptHistoryPage> History(const PromptHistoryQuery& query);

  struct Compiled;

 private:
  class Partials;
  explicit PromptRegistry(const Options& options);

  absl::StatusOr<Record> GetMeta(absl::string_view name);
  absl::StatusOr<int64_t> Resolve(absl::string_view name, const PromptRef& ref);
  absl::StatusOr<std::shared_ptr<const Compiled>> Load(absl::string_view name, int64_t version);
  absl::Status MutateLabel(absl::string_view name, absl::string_view label,
                           std::optional<int64_t> version, std::optional<int64_t> expected);

  const Options options_;
  const std::string templates_collection_;
  const std::string versions_collection_;
  const std::string history_collection_;
  IdGenerator ids_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Compiled>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kos

#endif  // KOS_PROMPT_H_
