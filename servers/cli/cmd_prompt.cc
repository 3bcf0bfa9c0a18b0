// kos prompt save|render: versioned Mustache templates.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "cli.h"

namespace kos::cli {
namespace {

struct PromptArgs {
  std::string name;
  std::string file;
  std::string message;
  std::string author;
  std::vector<std::string> labels;
  std::string vars;
  std::string label;
  int64_t version = 0;
};

int RunSave(Globals& g, const PromptArgs& a) {
  auto text = ReadFile(a.file);
  if (!text.ok()) return Fail(text.status());
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  PromptContent content;
  content.text = std::move(*text);
  SavePromptOptions so;
  so.author = a.author.empty() ? "cli" : a.author;
  so.commit_message = a.message;
  so.labels = a.labels;
  auto v = (*k)->prompts()->Save(a.name, content, so);
  if (!v.ok()) return Fail(v.status(), absl::StrCat("prompt save ", a.name));
  std::printf("%s: version %lld (%s)\n", v->name.c_str(), static_cast<long long>(v->version),
              v->hash.c_str());
  return kExitOk;
}

int RunRender(Globals& g, const PromptArgs& a) {
  Json vars = Json::object();
  if (!a.vars.empty()) {
    auto j = ParseJsonArg(a.vars, "--vars");
    if (!j.ok()) return Fail(j.status());
    vars = std::move(*j);
  }
  if (a.version > 0 && !a.label.empty()) {
    return FailWith(kExitUsage, "give either --version or --label, not both");
  }
  PromptRef ref = a.version > 0     ? PromptRef::Version(a.version)
                  : a.label.empty() ? PromptRef::Latest()
                                    : PromptRef::Label(a.label);
  auto k = OpenKernel(g);
  if (!k.ok()) return Fail(k.status());
  auto r = (*k)->prompts()->Render(a.name, ref, vars, "cli");
  if (!r.ok()) return Fail(r.status(), absl::StrCat("prompt render ", a.name));
  if (r->messages.empty()) {
    std::fwrite(r->text.data(), 1, r->text.size(), stdout);
    if (r->text.empty() || r->text.back() != '\n') std::fputc('\n', stdout);
  } else {
    Json m = Json::array();
    for (const ChatMessage& c : r->messages)
      m.push_back({{"role", c.role}, {"content", c.content}});
    std::printf("%s\n", m.dump(2).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddPromptCommands(CLI::App& app, Globals& g) {
  CLI::App* prompt = app.add_subcommand("prompt", "Save and render prompt templates");
  prompt->require_subcommand(1);
  {
    auto a = std::make_shared<PromptArgs>();
    CLI::App* c = prompt->add_subcommand("save", "Save FILE as the next version of NAME");
    c->add_option("NAME", a->name, "Prompt name")->required();
    c->add_option("--file", a->file, "Template file (Mustache; - for stdin)")->required();
    c->add_option("--message", a->message, "Commit message");
    c->add_option("--author", a->author, "Author (default: cli)");
    c->add_option("--label", a->labels,
                  "Label to point at the new version (repeatable), "
                  "e.g. production");
    c->callback([&g, a] { g.exit_code = RunSave(g, *a); });
  }
  {
    auto a = std::make_shared<PromptArgs>();
    CLI::App* c = prompt->add_subcommand(
        "render",
        "Render NAME (latest version unless --version/--label); a missing variable "
        "is an error");
    c->add_option("NAME", a->name, "Prompt name")->required();
    c->add_option("--vars", a->vars, "Variables as a JSON object");
    c->add_option("--version", a->version, "Version number");
    c->add_option("--label", a->label, "Label, e.g. production");
    c->callback([&g, a] { g.exit_code = RunRender(g, *a); });
  }
}

}  // namespace kos::cli
