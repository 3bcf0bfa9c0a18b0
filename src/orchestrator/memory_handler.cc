// The kMemory agent's handler: add, search and recall over kos::Memory, each
// authorized against the running agent's permissions first.
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "kos/agent_handlers.h"
#include "kos/memory.h"
#include "kos/status.h"

namespace kos {
namespace {

absl::Status Bad(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("memory task: ", field, ": ", what));
}

absl::StatusOr<std::string> RequiredString(const Json& in, const char* field) {
  auto it = in.find(field);
  if (it == in.end() || !it->is_string() || it->get<std::string>().empty()) {
    return Bad(field, "expected a non-empty string");
  }
  return it->get<std::string>();
}

Json HitToJson(const SearchHit& h) {
  return {{"id", h.record.id},
          {"text", h.record.text},
          {"metadata", h.record.metadata},
          {"importance", h.record.importance},
          {"score", h.score},
          {"similarity", h.similarity}};
}

class MemoryHandler {
 public:
  MemoryHandler(Memory* memory, MemoryHandlerOptions options)
      : memory_(memory), options_(std::move(options)) {}

  absl::StatusOr<Json> operator()(TaskContext& ctx) const {
    const Json& in = ctx.input();
    if (!in.is_object()) return Bad("(input)", "expected an object");
    static const std::set<std::string> kKeys = {"op",     "namespace", "text",       "k",
                                                "filter", "metadata",  "importance", "id"};
    for (auto it = in.begin(); it != in.end(); ++it) {
      if (!kKeys.count(it.key())) return Bad(it.key(), "unknown field");
    }
    KOS_ASSIGN_OR_RETURN(std::string op, RequiredString(in, "op"));
    KOS_ASSIGN_OR_RETURN(std::string ns, RequiredString(in, "namespace"));
    KOS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
    const bool write = op == "add";
    if (!write && op != "search" && op != "recall") {
      return Bad("op",
                 absl::StrCat("expected add, search or recall, got '", op.substr(0, 32), "'"));
    }
    // The same resource names Memory::As() checks, so one policy serves both.
    KOS_RETURN_IF_ERROR(ctx.Authorize(absl::StrCat("memory:ns/", ns), write ? "write" : "read"));
    KOS_ASSIGN_OR_RETURN(std::string text, RequiredString(in, "text"));
    if (write) return Add(ctx, in, ns, std::move(text));
    return Search(ctx, in, op == "recall", ns, std::move(text));
  }

 private:
  absl::StatusOr<Json> Add(TaskContext& ctx, const Json& in, const std::string& ns,
                           std::string text) const {
    for (const char* f : {"k", "filter"}) {
      if (in.contains(f)) return Bad(f, "not used by add");
    }
    MemoryRecord r;
    r.text = std::move(text);
    if (auto it = in.find("id"); it != in.end()) {
      if (!it->is_string()) return Bad("id", "expected a string");
      r.id = it->get<std::string>();
    }
    if (auto it = in.find("metadata"); it != in.end()) {
      if (!it->is_object()) return Bad("metadata", "expected an object");
      r.metadata = *it;
    }
    if (auto it = in.find("importance"); it != in.end()) {
      if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1) {
        return Bad("importance", "expected a number 0..1");
      }
      r.importance = it->get<double>();
    }
    auto id = memory_->Add(ns, r);
    if (absl::IsNotFound(id.status()) && options_.create_namespaces &&
        !memory_->GetNamespace(ns).ok()) {
      NamespaceConfig nc;
      nc.name = ns;
      absl::Status created = memory_->CreateNamespace(nc);
      if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
      ctx.Log(LogLevel::kInfo, "memory namespace created", {{"namespace", ns}});
      id = memory_->Add(ns, std::move(r));
    }
    KOS_RETURN_IF_ERROR(id.status());
    return Json{{"id", *id}, {"namespace", ns}};
  }

  absl::StatusOr<Json> Search(TaskContext&, const Json& in, bool recall, const std::string& ns,
                              std::string text) const {
    for (const char* f : {"metadata", "importance", "id"}) {
      if (in.contains(f)) return Bad(f, absl::StrCat("not used by ", recall ? "recall" : "search"));
    }
    SearchRequest req;
    req.ns = ns;
    req.text = std::move(text);
    req.k = options_.default_k;
    if (auto it = in.find("k"); it != in.end()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 ||
          it->get<int64_t>() > static_cast<int64_t>(options_.max_k)) {
        return Bad("k", absl::StrCat("expected an integer 1..", options_.max_k));
      }
      req.k = static_cast<size_t>(it->get<int64_t>());
    }
    if (auto it = in.find("filter"); it != in.end() && !it->is_null()) {
      absl::Status valid = ValidateFilter(*it);
      if (!valid.ok()) return Bad("filter", valid.message());
      req.filter = *it;
    }
    auto hits = recall ? memory_->Recall(req, options_.recall) : memory_->Search(req);
    KOS_RETURN_IF_ERROR(hits.status());
    Json out = Json::array();
    for (const SearchHit& h : *hits) out.push_back(HitToJson(h));
    return Json{{"hits", std::move(out)}, {"namespace", ns}};
  }

  Memory* memory_;
  MemoryHandlerOptions options_;
};

}  // namespace

absl::StatusOr<AgentHandler> MakeMemoryHandler(Memory* memory, MemoryHandlerOptions options) {
  if (memory == nullptr) return absl::InvalidArgumentError("MakeMemoryHandler needs a Memory");
  if (options.max_k < 1 || options.max_k > 10000) {
    return absl::InvalidArgumentError("MemoryHandlerOptions.max_k must be 1..10000");
  }
  if (options.default_k < 1 || options.default_k > options.max_k) {
    return absl::InvalidArgumentError("MemoryHandlerOptions.default_k must be 1..max_k");
  }
  MemoryHandler h(memory, std::move(options));
  return AgentHandler([h](TaskContext& ctx) { return h(ctx); });
}

}  // namespace kos
