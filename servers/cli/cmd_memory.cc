// kos memory add|search|import: text memory with the kernel's built-in
// hashing embedder. Namespaces are created on first write.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli.h"

namespace kos::cli {
namespace {

struct MemoryArgs {
  std::string ns;
  std::string text;
  std::string meta;
  std::string id;
  std::string query;
  std::string filter;
  std::string file;
  size_t k = 10;
  size_t batch = 500;
  bool hybrid = false;
  bool json = false;
};

absl::Status EnsureNamespace(Memory* m, const std::string& ns) {
  if (m->GetNamespace(ns).ok()) return absl::OkStatus();
  NamespaceConfig c;
  c.name = ns;  // dimension 0: the embedder's
  absl::Status s = m->CreateNamespace(c);
  return absl::IsAlreadyExists(s) ? absl::OkStatus() : s;
}

int RunAdd(Globals& g, const MemoryArgs& a) {
  MemoryRecord r;
  r.text = a.text;
  r.id = a.id;
  if (!a.meta.empty()) {
    auto m = ParseJsonArg(a.meta, "--meta");
    if (!m.ok()) return Fail(m.status());
    if (!m->is_object()) return FailWith(kExitUsage, "--meta must be a JSON object");
    r.metadata = std::move(*m);
  }
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  Memory* mem = (*k)->memory();
  if (auto s = EnsureNamespace(mem, a.ns); !s.ok())
    return Fail(s, absl::StrCat("namespace ", a.ns));
  auto id = mem->Add(a.ns, std::move(r));
  if (!id.ok()) return Fail(id.status(), "memory add");
  std::printf("%s\n", id->c_str());
  return kExitOk;
}

int RunSearch(Globals& g, const MemoryArgs& a) {
  SearchRequest req;
  req.ns = a.ns;
  req.text = a.query;
  req.k = a.k;
  req.hybrid = a.hybrid;
  if (!a.filter.empty()) {
    auto f = ParseJsonArg(a.filter, "--filter");
    if (!f.ok()) return Fail(f.status());
    req.filter = std::move(*f);
  }
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto hits = (*k)->memory()->Search(req);
  if (!hits.ok()) return Fail(hits.status(), "memory search");
  for (const SearchHit& h : *hits) {
    if (a.json) {
      Json j{{"id", h.record.id},
             {"similarity", h.similarity},
             {"score", h.score},
             {"text", h.record.text},
             {"metadata", h.record.metadata}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%.4f  %s  %s\n", h.similarity, h.record.id.c_str(), h.record.text.c_str());
    }
  }
  return kExitOk;
}

void Progress(size_t done, size_t total, absl::Duration elapsed) {
  double secs = absl::ToDoubleSeconds(elapsed);
  double rate = secs > 0 ? done / secs : 0;
  std::string rate_s =
      rate >= 1000 ? absl::StrFormat("%.1fk", rate / 1000) : absl::StrFormat("%.0f", rate);
  if (total > 0) {
    int pct = static_cast<int>(100.0 * done / total);
    int filled = pct / 10;
    std::fprintf(stderr, "\r[%s%s] %3d%% %zu/%zu %s rec/s", std::string(filled, '#').c_str(),
                 std::string(10 - filled, ' ').c_str(), pct, done, total, rate_s.c_str());
  } else {
    std::fprintf(stderr, "\r%zu records %s rec/s", done, rate_s.c_str());
  }
  std::fflush(stderr);
}

int RunImport(Globals& g, const MemoryArgs& a) {
  std::ifstream in(a.file, std::ios::binary);
  if (!in) return FailWith(kExitNotFound, absl::StrCat("cannot read '", a.file, "'"));
  // Lines counted first, so the progress bar has a total (a cheap pass).
  size_t total = 0;
  {
    std::string line;
    while (std::getline(in, line)) {
      if (!absl::StripAsciiWhitespace(line).empty()) ++total;
    }
    in.clear();
    in.seekg(0);
  }
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  Memory* mem = (*k)->memory();
  if (auto s = EnsureNamespace(mem, a.ns); !s.ok())
    return Fail(s, absl::StrCat("namespace ", a.ns));
  const bool tty = ::isatty(STDERR_FILENO);
  const absl::Time start = absl::Now();
  absl::Time last_draw = absl::InfinitePast();
  std::vector<MemoryRecord> batch;
  size_t done = 0, line_no = 0, batch_first_line = 0;
  auto flush = [&]() -> int {
    if (batch.empty()) return kExitOk;
    size_t n = batch.size();
    auto ids = mem->AddBatch(a.ns, std::move(batch));
    batch.clear();
    if (!ids.ok()) {
      if (tty) std::fputc('\n', stderr);
      Fail(ids.status(), absl::StrCat(a.file, ": batch starting at line ", batch_first_line, " (",
                                      done, " records imported before it)"));
      return ExitCodeFor(ids.status());
    }
    done += n;
    if (tty && (absl::Now() - last_draw > absl::Milliseconds(100) || done == total)) {
      Progress(done, total, absl::Now() - start);
      last_draw = absl::Now();
    }
    return kExitOk;
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    auto j = ParseJson(line);
    auto bad = [&](absl::string_view why) {
      if (tty) std::fputc('\n', stderr);
      return FailWith(kExitUsage, absl::StrCat(a.file, ":", line_no, ": ", why, " (", done,
                                               " records imported before it)"));
    };
    if (!j.ok()) return bad(j.status().message());
    if (!j->is_object() || !j->contains("text") || !(*j)["text"].is_string()) {
      return bad("each line must be an object with a string \"text\"");
    }
    MemoryRecord r;
    r.text = (*j)["text"].get<std::string>();
    if (j->contains("metadata")) {
      if (!(*j)["metadata"].is_object()) return bad("\"metadata\" must be an object");
      r.metadata = (*j)["metadata"];
    }
    if (j->contains("id")) {
      if (!(*j)["id"].is_string()) return bad("\"id\" must be a string");
      r.id = (*j)["id"].get<std::string>();
    }
    if (batch.empty()) batch_first_line = line_no;
    batch.push_back(std::move(r));
    if (batch.size() >= a.batch) {
      if (int rc = flush(); rc != kExitOk) return rc;
    }
  }
  if (int rc = flush(); rc != kExitOk) return rc;
  if (tty) {
    Progress(done, total, absl::Now() - start);
    std::fputc('\n', stderr);
  }
  std::printf("imported %zu records into %s in %.2f s\n", done, a.ns.c_str(),
              absl::ToDoubleSeconds(absl::Now() - start));
  return kExitOk;
}

}  // namespace

void AddMemoryCommands(CLI::App& app, Globals& g) {
  CLI::App* memory = app.add_subcommand("memory", "Add, search and import text memory");
  memory->require_subcommand(1);
  {
    auto a = std::make_shared<MemoryArgs>();
    CLI::App* c = memory->add_subcommand("add", "Add one record; prints its id");
    c->add_option("NS", a->ns, "Namespace, e.g. shared/notes (created if absent)")->required();
    c->add_option("TEXT", a->text, "Text to embed and store")->required();
    c->add_option("--meta", a->meta, "Metadata JSON object");
    c->add_option("--id", a->id, "Record id (default: a new ULID)");
    c->callback([&g, a] { g.exit_code = RunAdd(g, *a); });
  }
  {
    auto a = std::make_shared<MemoryArgs>();
    CLI::App* c = memory->add_subcommand("search", "Nearest records to QUERY");
    c->add_option("NS", a->ns, "Namespace")->required();
    c->add_option("QUERY", a->query, "Query text")->required();
    c->add_option("-k", a->k, "Number of results")->check(CLI::Range(1, 1000));
    c->add_option("--filter", a->filter, "Metadata filter JSON, e.g. {\"lang\":\"en\"}");
    c->add_flag("--hybrid", a->hybrid, "Combine vector and keyword (FTS) ranking");
    c->add_flag("--json", a->json, "One JSON object per hit");
    c->callback([&g, a] { g.exit_code = RunSearch(g, *a); });
  }
  {
    auto a = std::make_shared<MemoryArgs>();
    CLI::App* c = memory->add_subcommand(
        "import", "Import JSON Lines ({\"text\",\"metadata\"?,\"id\"?} per line) in batches");
    c->add_option("NS", a->ns, "Namespace (created if absent)")->required();
    c->add_option("FILE", a->file, "JSONL file")->required();
    c->add_option("--batch", a->batch, "Records per AddBatch")->check(CLI::Range(1, 100000));
    c->callback([&g, a] { g.exit_code = RunImport(g, *a); });
  }
}

}  // namespace kos::cli
