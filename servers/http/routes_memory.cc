// Memory (namespaces, records, search, recall, embeddings) and prompts.
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "http/api.h"
#include "kos/status.h"

namespace kos::server {

namespace {

// Namespaces under users/<caller id> belong to that user.
std::string NamespaceOwner(const Call& call, const std::string& ns) {
  if (!call.caller) return "";
  std::string home = absl::StrCat("users/", call.Param("caller_id"));
  if (ns == home || absl::StartsWith(ns, home + "/")) return call.Subject();
  return "";
}

Json RecordJson(const MemoryRecord& r, bool embedding) {
  Json j = {{"id", r.id},
            {"text", r.text},
            {"metadata", r.metadata},
            {"importance", r.importance},
            {"created", TimeString(r.created)},
            {"accessed", TimeString(r.accessed)},
            {"expires", TimeString(r.expires)}};
  if (embedding) j["embedding"] = r.embedding;
  return j;
}

absl::StatusOr<std::vector<float>> FloatVector(const Json& j, const char* key) {
  std::vector<float> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  if (!j[key].is_array())
    return absl::InvalidArgumentError(
        absl::StrCat("field '", key, "' must be an array of numbers"));
  for (const auto& v : j[key]) {
    if (!v.is_number())
      return absl::InvalidArgumentError(absl::StrCat("field '", key, "' must hold numbers"));
    out.push_back(v.get<float>());
  }
  return out;
}

absl::StatusOr<SearchRequest> ParseSearch(const Json& b) {
  SearchRequest s;
  s.ns = b["namespace"].get<std::string>();
  if (b.contains("text")) s.text = b["text"].get<std::string>();
  KOS_ASSIGN_OR_RETURN(s.vector, FloatVector(b, "vector"));
  if (b.contains("k")) {
    int64_t k = b["k"].get<int64_t>();
    if (k < 1 || k > 10000) return absl::InvalidArgumentError("k must be in [1, 10000]");
    s.k = static_cast<size_t>(k);
  }
  if (b.contains("filter")) s.filter = b["filter"];
  if (b.contains("hybrid")) s.hybrid = b["hybrid"].get<bool>();
  s.include_embeddings = b.value("include_embeddings", false);
  return s;
}

Json HitsJson(const std::vector<SearchHit>& hits, bool embeddings) {
  Json list = Json::array();
  for (const SearchHit& h : hits) {
    Json j = RecordJson(h.record, embeddings);
    j["score"] = h.score;
    j["similarity"] = h.similarity;
    list.push_back(std::move(j));
  }
  return list;
}

Json PromptJson(const PromptVersion& v) {
  Json vars = Json::array();
  for (const PromptVariable& p : v.content.variables) {
    Json j = {{"name", p.name},
              {"type", PromptVariableTypeName(p.type)},
              {"required", p.required},
              {"description", p.description}};
    if (p.default_value) j["default"] = *p.default_value;
    vars.push_back(j);
  }
  Json msgs = Json::array();
  for (const ChatMessage& m : v.content.messages)
    msgs.push_back({{"role", m.role}, {"content", m.content}});
  Json j = {{"name", v.name},
            {"version", v.version},
            {"variables", vars},
            {"author", v.author},
            {"commit_message", v.commit_message},
            {"created", TimeString(v.created)},
            {"hash", v.hash}};
  if (v.is_chat())
    j["messages"] = msgs;
  else
    j["text"] = v.content.text;
  return j;
}

absl::StatusOr<PromptVariableType> ParseVariableType(const std::string& t) {
  for (auto type :
       {PromptVariableType::kString, PromptVariableType::kNumber, PromptVariableType::kBoolean,
        PromptVariableType::kList, PromptVariableType::kObject}) {
    if (t == PromptVariableTypeName(type)) return type;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown variable type '", t, "'"));
}

absl::StatusOr<PromptContent> ParsePromptContent(const Json& b) {
  PromptContent c;
  if (b.contains("text")) c.text = b["text"].get<std::string>();
  if (b.contains("messages")) {
    for (const auto& m : b["messages"]) {
      if (!m.is_object() || !m.contains("role") || !m.contains("content") ||
          !m["role"].is_string() || !m["content"].is_string())
        return absl::InvalidArgumentError("messages[] need string 'role' and 'content'");
      c.messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
  }
  if (b.contains("variables")) {
    for (const auto& v : b["variables"]) {
      if (!v.is_object() || !v.contains("name") || !v["name"].is_string())
        return absl::InvalidArgumentError("variables[] need a string 'name'");
      PromptVariable pv;
      pv.name = v["name"].get<std::string>();
      if (v.contains("type") && v["type"].is_string()) {
        KOS_ASSIGN_OR_RETURN(pv.type, ParseVariableType(v["type"].get<std::string>()));
      }
      if (v.contains("required") && v["required"].is_boolean())
        pv.required = v["required"].get<bool>();
      if (v.contains("default")) pv.default_value = v["default"];
      if (v.contains("description") && v["description"].is_string())
        pv.description = v["description"].get<std::string>();
      c.variables.push_back(std::move(pv));
    }
  }
  return c;
}

absl::StatusOr<PromptRef> RefFrom(const std::string& label, const std::string& version) {
  if (!version.empty()) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(version, &v) || v < 1)
      return absl::InvalidArgumentError("version must be a positive integer");
    return PromptRef::Version(v);
  }
  return label.empty() ? PromptRef::Latest() : PromptRef::Label(label);
}

}  // namespace

void AddMemoryRoutes(Api* api, std::vector<Route>* routes) {
  Kernel* k = api->kernel;
  Route r;
  r.tag = "memory";
  OwnerFn ns_param_owner = [](Call& call) { return NamespaceOwner(call, call.Param("ns")); };
  const std::string records = "/api/v1/memory/namespaces/{ns...}/records";

  r.method = "POST";
  r.path = "/api/v1/memory/embeddings";
  r.access = "any authenticated caller";
  r.summary = "Embed texts with the kernel's embedder";
  r.request_schema = Schema("texts:[string]");
  r.response_schema = Schema("model:string, dimension:integer, embeddings:[[number]]");
  r.handler = [k](Call& call) -> absl::Status {
    std::vector<std::string> texts;
    for (const auto& t : call.body["texts"]) {
      if (!t.is_string()) return absl::InvalidArgumentError("texts must hold strings");
      texts.push_back(t.get<std::string>());
    }
    if (texts.empty() || texts.size() > 256)
      return absl::InvalidArgumentError("texts must hold 1..256 strings");
    KOS_ASSIGN_OR_RETURN(auto vectors, k->embedder()->Embed(texts));
    call.Reply({{"model", k->embedder()->model()},
                {"dimension", k->embedder()->dimension()},
                {"embeddings", vectors}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.access = "RBAC: memory:ns/<namespace> read (owners: users/<your id>/...)";
  r.path = "/api/v1/memory/search";
  r.summary = "Nearest records by text or vector, with a metadata filter; hybrid: BM25 + vector";
  r.request_schema = Schema(
      "namespace:string, text?:string, vector?:[number], k?:integer, filter?:object, "
      "hybrid?:boolean, include_embeddings?:boolean");
  r.response_schema = Schema("hits:[object]");
  r.handler = [api, k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(SearchRequest s, ParseSearch(call.body));
    KOS_RETURN_IF_ERROR(
        api->Authorize(call, absl::StrCat("memory:ns/", s.ns), "read", NamespaceOwner(call, s.ns)));
    KOS_ASSIGN_OR_RETURN(auto hits, k->memory()->Search(s));
    call.Reply({{"hits", HitsJson(hits, s.include_embeddings)}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/memory/recall";
  r.summary = "Search rescored by similarity, recency and importance (Generative Agents)";
  r.request_schema = Schema(
      "namespace:string, text?:string, vector?:[number], k?:integer, filter?:object, "
      "w_similarity?:number, w_recency?:number, w_importance?:number, "
      "half_life_seconds?:number, mmr?:boolean, expand_hops?:integer");
  r.handler = [api, k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(SearchRequest s, ParseSearch(call.body));
    KOS_RETURN_IF_ERROR(
        api->Authorize(call, absl::StrCat("memory:ns/", s.ns), "read", NamespaceOwner(call, s.ns)));
    const Json& b = call.body;
    RecallOptions ro;
    ro.w_similarity = b.value("w_similarity", ro.w_similarity);
    ro.w_recency = b.value("w_recency", ro.w_recency);
    ro.w_importance = b.value("w_importance", ro.w_importance);
    if (b.contains("half_life_seconds"))
      ro.recency_half_life = absl::Seconds(b["half_life_seconds"].get<double>());
    ro.mmr = b.value("mmr", false);
    ro.expand_hops = b.value("expand_hops", 0);
    KOS_ASSIGN_OR_RETURN(auto hits, k->memory()->Recall(s, ro));
    call.Reply({{"hits", HitsJson(hits, s.include_embeddings)}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "GET";
  r.path = "/api/v1/memory/namespaces";
  r.access = "lists the namespaces the caller may read (?prefix=)";
  r.summary = "Namespaces the caller may read";
  r.request_schema = nullptr;
  r.response_schema = Schema("namespaces:[string]");
  r.handler = [api, k](Call& call) -> absl::Status {
    Json list = Json::array();
    for (const std::string& ns : k->memory()->ListNamespaces(call.Query("prefix"))) {
      if (api->Authorize(call, absl::StrCat("memory:ns/", ns), "read", NamespaceOwner(call, ns))
              .ok())
        list.push_back(ns);
    }
    call.Reply({{"namespaces", list}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "POST";
  r.access = "RBAC: memory:ns/<name> write (owners: users/<your id>/...)";
  r.success_status = 201;
  r.summary = "Create a namespace (idempotent for the same config)";
  r.request_schema =
      Schema("name:string, dimension?:integer, metric?:string, default_ttl_seconds?:integer");
  r.response_schema = Schema("name:string, dimension:integer, metric:string");
  r.handler = [api, k](Call& call) -> absl::Status {
    NamespaceConfig c;
    c.name = call.body["name"].get<std::string>();
    KOS_RETURN_IF_ERROR(api->Authorize(call, absl::StrCat("memory:ns/", c.name), "write",
                                       NamespaceOwner(call, c.name)));
    c.dimension = call.body.value("dimension", 0);
    if (call.body.contains("metric")) {
      KOS_ASSIGN_OR_RETURN(c.metric, ParseMetric(call.body["metric"].get<std::string>()));
    }
    c.default_ttl = absl::Seconds(call.body.value("default_ttl_seconds", 0));
    KOS_RETURN_IF_ERROR(k->memory()->CreateNamespace(c));
    KOS_ASSIGN_OR_RETURN(NamespaceConfig got, k->memory()->GetNamespace(c.name));
    call.Reply(
        {{"name", got.name}, {"dimension", got.dimension}, {"metric", MetricName(got.metric)}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.success_status = 200;
  r.access.clear();

  // Record routes come before DELETE /namespaces/{ns...}, whose pattern
  // would also match them.
  r.owner = ns_param_owner;
  r.resource = "memory:ns/{ns}";
  r.action = "write";
  r.path = records;
  r.success_status = 201;
  r.summary = "Add a record (text is embedded unless an embedding is given)";
  r.request_schema = Schema(
      "id?:string, text?:string, metadata?:object, importance?:number, ttl_seconds?:integer, "
      "embedding?:[number]");
  r.response_schema = Schema("id:string");
  r.handler = [k](Call& call) -> absl::Status {
    const Json& b = call.body;
    MemoryRecord rec;
    if (b.contains("id")) rec.id = b["id"].get<std::string>();
    if (b.contains("text")) rec.text = b["text"].get<std::string>();
    if (b.contains("metadata")) rec.metadata = b["metadata"];
    rec.importance = b.value("importance", 0.0);
    if (b.contains("ttl_seconds")) rec.ttl = absl::Seconds(b["ttl_seconds"].get<int64_t>());
    KOS_ASSIGN_OR_RETURN(rec.embedding, FloatVector(b, "embedding"));
    KOS_ASSIGN_OR_RETURN(std::string id, k->memory()->Add(call.Param("ns"), std::move(rec)));
    call.Reply({{"id", id}, {"namespace", call.Param("ns")}});
    return absl::OkStatus();
  };
  routes->push_back(r);
  r.success_status = 200;

  r.method = "GET";
  r.action = "read";
  r.summary = "Page through a namespace's records in id order (?page_token=&limit=)";
  r.request_schema = nullptr;
  r.response_schema = Schema("records:[object], next_page_token:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(int64_t limit, call.QueryInt("limit", 100, 1, 1000));
    KOS_ASSIGN_OR_RETURN(ListPage page,
                         k->memory()->List(call.Param("ns"), call.Query("page_token"), limit));
    Json list = Json::array();
    for (const auto& rec : page.records) list.push_back(RecordJson(rec, false));
    call.Reply({{"records", list}, {"next_page_token", page.next_page_token}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = records + "/{id}";
  r.summary = "One record";
  r.response_schema = Schema("id:string, text:string, metadata:object");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(MemoryRecord rec, k->memory()->Get(call.Param("ns"), call.Param("id")));
    call.Reply(RecordJson(rec, call.Query("include_embedding") == "true"));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "DELETE";
  r.action = "write";
  r.summary = "Delete a record";
  r.response_schema = Schema("deleted:string");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(k->memory()->Delete(call.Param("ns"), call.Param("id")));
    call.Reply({{"deleted", call.Param("id")}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.path = "/api/v1/memory/namespaces/{ns...}";
  r.summary = "Delete a namespace and every record in it";
  r.handler = [k](Call& call) -> absl::Status {
    KOS_RETURN_IF_ERROR(k->memory()->DeleteNamespace(call.Param("ns")));
    call.Reply({{"deleted", call.Param("ns")}});
    return absl::OkStatus();
  };
  routes->push_back(r);
}

void AddPromptRoutes(Api* api, std::vector<Route>* routes) {
  Kernel* k = api->kernel;
  Route r;
  r.tag = "prompts";
  r.resource = "prompts:{name}";

  r.method = "GET";
  r.path = "/api/v1/prompts/{name}";
  r.action = "read";
  r.summary = "A template version: ?version=N or ?label=L (default: latest)";
  r.response_schema = Schema(
      "name:string, version:integer, text?:string, messages?:[object], "
      "variables:[object]");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(PromptRef ref, RefFrom(call.Query("label"), call.Query("version")));
    KOS_ASSIGN_OR_RETURN(PromptVersion v, k->prompts()->Get(call.Param("name"), ref));
    Json j = PromptJson(v);
    auto labels = k->prompts()->Labels(call.Param("name"));
    if (labels.ok()) j["labels"] = *labels;
    call.Reply(j);
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "PUT";
  r.action = "write";
  r.summary = "Save a new version (text or chat messages, declared variables, labels to move)";
  r.request_schema = Schema(
      "text?:string, messages?:[object], variables?:[object], commit_message?:string, "
      "labels?:[string], expected_latest_version?:integer");
  r.handler = [k](Call& call) -> absl::Status {
    KOS_ASSIGN_OR_RETURN(PromptContent c, ParsePromptContent(call.body));
    SavePromptOptions so;
    so.author = call.Subject();
    so.commit_message = call.body.value("commit_message", "");
    if (call.body.contains("labels"))
      for (const auto& l : call.body["labels"])
        if (l.is_string()) so.labels.push_back(l.get<std::string>());
    if (call.body.contains("expected_latest_version"))
      so.expected_latest_version = call.body["expected_latest_version"].get<int64_t>();
    KOS_ASSIGN_OR_RETURN(PromptVersion v, k->prompts()->Save(call.Param("name"), c, so));
    call.Reply(PromptJson(v));
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "GET";
  r.path = "/api/v1/prompts/{name}/history";
  r.action = "read";
  r.summary = "Render history (hashes of inputs and outputs), oldest first (?limit=&page_token=)";
  r.request_schema = nullptr;
  r.response_schema = Schema("records:[object], next_page_token:string");
  r.handler = [k](Call& call) -> absl::Status {
    PromptHistoryQuery q;
    q.name = call.Param("name");
    KOS_ASSIGN_OR_RETURN(int64_t limit, call.QueryInt("limit", 100, 1, 1000));
    q.limit = limit;
    q.page_token = call.Query("page_token");
    KOS_ASSIGN_OR_RETURN(PromptHistoryPage page, k->prompts()->History(q));
    Json list = Json::array();
    for (const RenderRecord& rec : page.records) {
      list.push_back({{"id", rec.id},
                      {"version", rec.version},
                      {"template_hash", rec.template_hash},
                      {"input_hash", rec.input_hash},
                      {"output_hash", rec.output_hash},
                      {"caller", rec.caller},
                      {"time", TimeString(rec.time)}});
    }
    call.Reply({{"records", list}, {"next_page_token", page.next_page_token}});
    return absl::OkStatus();
  };
  routes->push_back(r);

  r.method = "POST";
  r.path = "/api/v1/prompts/{name}/render";
  r.action = "read";
  r.summary = "Render with typed variables (strict: missing variables are errors)";
  r.request_schema = Schema("variables?:object, label?:string, version?:integer");
  r.response_schema = Schema(
      "name:string, version:integer, text?:string, messages?:[object], "
      "output_hash:string");
  r.handler = [k](Call& call) -> absl::Status {
    std::string version =
        call.body.contains("version") ? std::to_string(call.body["version"].get<int64_t>()) : "";
    KOS_ASSIGN_OR_RETURN(PromptRef ref, RefFrom(call.body.value("label", ""), version));
    Json vars = call.body.contains("variables") ? call.body["variables"] : Json::object();
    KOS_ASSIGN_OR_RETURN(RenderedPrompt out,
                         k->prompts()->Render(call.Param("name"), ref, vars, call.Subject()));
    Json j = {{"name", out.name},
              {"version", out.version},
              {"template_hash", out.template_hash},
              {"input_hash", out.input_hash},
              {"output_hash", out.output_hash}};
    if (!out.messages.empty()) {
      Json msgs = Json::array();
      for (const auto& m : out.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
      j["messages"] = msgs;
    } else {
      j["text"] = out.text;
    }
    call.Reply(j);
    return absl::OkStatus();
  };
  routes->push_back(r);
}

}  // namespace kos::server
