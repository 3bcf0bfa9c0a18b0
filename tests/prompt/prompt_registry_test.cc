#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kos/clock.h"
#include "kos/prompt.h"
#include "kos/store.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

PromptContent Text(std::string text, std::vector<PromptVariable> vars = {}) {
  PromptContent c;
  c.text = std::move(text);
  c.variables = std::move(vars);
  return c;
}

PromptVariable Var(std::string name, PromptVariableType type, bool required = true,
                   std::optional<Json> def = std::nullopt) {
  PromptVariable v;
  v.name = std::move(name);
  v.type = type;
  v.required = required;
  v.default_value = std::move(def);
  return v;
}

SavePromptOptions Authored(std::string author, std::string message) {
  SavePromptOptions o;
  o.author = std::move(author);
  o.commit_message = std::move(message);
  return o;
}

SavePromptOptions Labelled(std::string label) {
  SavePromptOptions o;
  o.labels = {std::move(label)};
  return o;
}

SavePromptOptions ExpectLatest(int64_t v) {
  SavePromptOptions o;
  o.expected_latest_version = v;
  return o;
}

PromptHistoryQuery Query(std::string name, absl::Time start = absl::InfinitePast(),
                         absl::Time end = absl::InfiniteFuture()) {
  PromptHistoryQuery q;
  q.name = std::move(name);
  q.start = start;
  q.end = end;
  return q;
}

class PromptRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(PromptRegistryOptions{}); }

  void Open(PromptRegistryOptions options) {
    if (store_ == nullptr) {
      auto s = OpenStore("memory:");
      ASSERT_TRUE(s.ok()) << s.status();
      store_ = std::move(*s);
    }
    options.store = store_.get();
    options.clock = &clock_;
    auto r = PromptRegistry::Open(options);
    ASSERT_TRUE(r.ok()) << r.status();
    reg_ = std::move(*r);
  }

  std::string RenderText(const std::string& name, const Json& vars,
                         PromptRef ref = PromptRef::Latest()) {
    auto out = reg_->Render(name, ref, vars, "test");
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->text : "";
  }

  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<PromptRegistry> reg_;
};

TEST_F(PromptRegistryTest, SaveMakesImmutableVersionsAndMovesLatest) {
  auto v1 = reg_->Save("greet", Text("Hello {{name}}"), Authored("ann", "first"));
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->created, clock_.Now());
  EXPECT_EQ(v1->hash.size(), 64u);
  clock_.Advance(absl::Seconds(5));
  auto v2 = reg_->Save("greet", Text("Hi {{name}}!"));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_NE(v1->hash, v2->hash);

  auto got1 = reg_->Get("greet", PromptRef::Version(1));
  ASSERT_TRUE(got1.ok()) << got1.status();
  EXPECT_EQ(got1->content.text, "Hello {{name}}");
  EXPECT_EQ(got1->author, "ann");
  EXPECT_EQ(got1->commit_message, "first");
  EXPECT_EQ(got1->hash, v1->hash);
  EXPECT_EQ(reg_->Get("greet", PromptRef::Latest())->version, 2);
  EXPECT_EQ(RenderText("greet", {{"name", "Bo"}}), "Hi Bo!");
  EXPECT_EQ(RenderText("greet", {{"name", "Bo"}}, PromptRef::Version(1)), "Hello Bo");
  EXPECT_THAT(*reg_->Labels("greet"), ElementsAre(Pair("latest", 2)));
}

TEST_F(PromptRegistryTest, LabelsPointAtVersionsAndMoveWithCas) {
  KOS_ASSERT_OK(reg_->Save("p", Text("one")));
  KOS_ASSERT_OK(reg_->Save("p", Text("two"), Labelled("staging")));
  // No production label yet: the default ref names it.
  auto none = reg_->Render("p", PromptRef{}, Json::object(), "c");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("has no label 'production'"));

  KOS_ASSERT_OK(reg_->SetLabel("p", "production", 1, /*expected_version=*/0));
  EXPECT_EQ(reg_->Get("p", PromptRef{})->content.text, "one");
  EXPECT_EQ(reg_->Get("p", PromptRef::Label("staging"))->content.text, "two");

  // CAS: a stale expectation changes nothing.
  absl::Status stale = reg_->SetLabel("p", "production", 2, /*expected_version=*/0);
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(stale.message(), HasSubstr("points at version 1, expected it to be unset"));
  EXPECT_EQ(reg_->Labels("p")->at("production"), 1);
  KOS_ASSERT_OK(reg_->SetLabel("p", "production", 2, /*expected_version=*/1));
  EXPECT_EQ(RenderText("p", Json::object(), PromptRef{}), "two");
  KOS_ASSERT_OK(reg_->SetLabel("p", "production", 1));  // unconditional rollback

  EXPECT_EQ(reg_->SetLabel("p", "production", 9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg_->SetLabel("p", "latest", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reg_->SetLabel("nope", "production", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg_->SetLabel("p", "bad label", 1).code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(reg_->DeleteLabel("p", "staging", 1).code(), absl::StatusCode::kFailedPrecondition);
  KOS_ASSERT_OK(reg_->DeleteLabel("p", "staging", 2));
  EXPECT_EQ(reg_->DeleteLabel("p", "staging").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*reg_->Labels("p"), ElementsAre(Pair("latest", 2), Pair("production", 1)));
}

TEST_F(PromptRegistryTest, ConcurrentLabelMovesWithCasHaveOneWinner) {
  KOS_ASSERT_OK(reg_->Save("p", Text("a")));
  KOS_ASSERT_OK(reg_->Save("p", Text("b")));
  KOS_ASSERT_OK(reg_->SetLabel("p", "production", 1));
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { results[i] = reg_->SetLabel("p", "production", 2, 1); });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (const auto& s : results) {
    if (s.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    }
  }
  EXPECT_EQ(ok, 1);
}

TEST_F(PromptRegistryTest, ConcurrentSavesGetDistinctVersions) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back(
        [&, i] { EXPECT_TRUE(reg_->Save("c", Text("v" + std::to_string(i))).ok()); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(reg_->Get("c", PromptRef::Latest())->version, 6);
  for (int v = 1; v <= 6; ++v) KOS_EXPECT_OK(reg_->Get("c", PromptRef::Version(v)));
}

TEST_F(PromptRegistryTest, ExpectedLatestVersionIsCas) {
  KOS_ASSERT_OK(reg_->Save("x", Text("a"), ExpectLatest(0)));
  auto again = reg_->Save("x", Text("b"), ExpectLatest(0));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("is at version 1, expected 0"));
  KOS_ASSERT_OK(reg_->Save("x", Text("b"), ExpectLatest(1)));
  EXPECT_EQ(reg_->Get("x", PromptRef::Latest())->version, 2);
}

TEST_F(PromptRegistryTest, ListNamesPaginates) {
  for (const char* n : {"b", "a", "c.d", "c-e"}) KOS_ASSERT_OK(reg_->Save(n, Text("t")));
  KOS_ASSERT_OK(reg_->Save("a", Text("t2")));
  auto p1 = reg_->ListNames("", 3);
  ASSERT_TRUE(p1.ok()) << p1.status();
  EXPECT_THAT(p1->names, ElementsAre("a", "b", "c-e"));
  ASSERT_FALSE(p1->next_page_token.empty());
  auto p2 = reg_->ListNames(p1->next_page_token, 3);
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_THAT(p2->names, ElementsAre("c.d"));
  EXPECT_EQ(reg_->ListNames("", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PromptRegistryTest, DiffIsUnified) {
  KOS_ASSERT_OK(reg_->Save("d", Text("You are a helper.\nBe brief.\nUser: {{q}}\n")));
  KOS_ASSERT_OK(
      reg_->Save("d", Text("You are a helper.\nBe brief.\nContext: {{ctx}}\nUser: {{q}}\n",
                           {Var("q", PromptVariableType::kString),
                            Var("ctx", PromptVariableType::kString, false, Json("none"))})));
  auto diff = reg_->Diff("d", 1, 2);
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_EQ(*diff,
            "--- d@1\n+++ d@2\n@@ -1,3 +1,7 @@\n You are a helper.\n Be brief.\n"
            "+Context: {{ctx}}\n User: {{q}}\n+#### variables\n+q: string (required)\n"
            "+ctx: string (optional) = \"none\"\n");
  EXPECT_EQ(*reg_->Diff("d", 2, 2), "");
  EXPECT_EQ(reg_->Diff("d", 1, 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg_->Diff("d", 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PromptRegistryTest, ChatTemplatesRenderEveryMessage) {
  PromptContent chat;
  chat.messages = {{"system", "You answer in {{lang}}."},
                   {"user", "{{#docs}}- {{title}}\n{{/docs}}Q: {{question}}"}};
  chat.variables = {Var("lang", PromptVariableType::kString, false, Json("English")),
                    Var("docs", PromptVariableType::kList, false, Json::array()),
                    Var("question", PromptVariableType::kString)};
  auto v = reg_->Save("qa", chat);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->is_chat());
  auto out = reg_->Render("qa", PromptRef::Latest(),
                          {{"question", "Why <b>?"}, {"docs", {{{"title", "A & B"}}}}}, "bot");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->messages.size(), 2u);
  EXPECT_EQ(out->messages[0], (ChatMessage{"system", "You answer in English."}));
  // Prompts are not HTML-escaped by default.
  EXPECT_EQ(out->messages[1], (ChatMessage{"user", "- A & B\nQ: Why <b>?"}));
  EXPECT_TRUE(out->text.empty());

  auto missing =
      reg_->Render("qa", PromptRef::Latest(), {{"question", "q"}, {"docs", {{{"x", 1}}}}}, "bot");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("template 'qa' version 1: message 2 (user): missing variable 'title' at "
                        "line 1, column 12"));
  EXPECT_THAT(*reg_->Diff("qa", 1, 1), "");
}

TEST_F(PromptRegistryTest, VariablesAreTypeCheckedBeforeRendering) {
  KOS_ASSERT_OK(reg_->Save(
      "t", Text("{{name}} {{age}} {{#vip}}VIP{{/vip}} {{#tags}}{{.}},{{/tags}} {{user.city}}",
                {Var("name", PromptVariableType::kString), Var("age", PromptVariableType::kNumber),
                 Var("vip", PromptVariableType::kBoolean, false, Json(false)),
                 Var("tags", PromptVariableType::kList, false),
                 Var("user", PromptVariableType::kObject)})));
  Json good = {{"name", "Al"}, {"age", 41.5}, {"tags", {"x", "y"}}, {"user", {{"city", "Oslo"}}}};
  EXPECT_EQ(RenderText("t", good), "Al 41.5  x,y, Oslo");

  struct Case {
    Json vars;
    std::string message;
  };
  std::vector<Case> cases = {
      {{{"age", 1}, {"user", Json::object()}}, "missing required variable 'name'"},
      {{{"name", 1}, {"age", 1}, {"user", Json::object()}},
       "variable 'name': expected string, got number"},
      {{{"name", "a"}, {"age", "1"}, {"user", Json::object()}},
       "variable 'age': expected number, got string"},
      {{{"name", "a"}, {"age", 1}, {"vip", "yes"}, {"user", Json::object()}},
       "variable 'vip': expected boolean, got string"},
      {{{"name", "a"}, {"age", 1}, {"tags", "x"}, {"user", Json::object()}},
       "variable 'tags': expected list, got string"},
      {{{"name", "a"}, {"age", 1}, {"user", Json::array()}},
       "variable 'user': expected object, got list"},
      {{{"name", "a"}, {"age", 1}, {"user", Json::object()}, {"nmae", "typo"}},
       "undeclared variable 'nmae'"},
      {{{"name", "a"}, {"age", 1}, {"user", Json::object()}},
       "missing variable 'user.city' at line 1, column 63"},
  };
  for (const Case& c : cases) {
    auto out = reg_->Render("t", PromptRef::Latest(), c.vars, "t");
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << c.vars;
    EXPECT_THAT(out.status().message(), HasSubstr(c.message)) << c.vars;
  }
  auto arr = reg_->Render("t", PromptRef::Latest(), Json::array(), "t");
  EXPECT_THAT(arr.status().message(), HasSubstr("variables must be a JSON object, got array"));
}

TEST_F(PromptRegistryTest, BadDeclarationsAndTemplatesAreRefusedOnSave) {
  auto expect_bad = [&](const PromptContent& c, const std::string& msg) {
    auto s = reg_->Save("bad", c);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << msg;
    EXPECT_THAT(s.status().message(), HasSubstr(msg));
  };
  expect_bad(Text("{{#a}}x"), "template: unclosed section 'a' opened at line 1, column 1");
  expect_bad(Text("ok\n{{/b}}"), "closing tag 'b' without an open section at line 2, column 1");
  expect_bad(Text("x", {Var("1a", PromptVariableType::kString)}), "must not start with a digit");
  expect_bad(
      Text("x", {Var("a", PromptVariableType::kString), Var("a", PromptVariableType::kString)}),
      "declared twice");
  expect_bad(Text("x", {Var("a", PromptVariableType::kNumber, false, Json("one"))}),
             "default is string, declared number");
  expect_bad(Text("x", {Var("a", PromptVariableType::kNumber, true, Json(1))}),
             "is required and has a default");
  expect_bad(PromptContent{}, "exactly one of");
  PromptContent both = Text("x");
  both.messages = {{"user", "y"}};
  expect_bad(both, "exactly one of");
  PromptContent badrole;
  badrole.messages = {{"us er", "y"}};
  expect_bad(badrole, "message 1: role");
  PromptContent badmsg;
  badmsg.messages = {{"user", "ok"}, {"assistant", "{{x"}};
  expect_bad(badmsg, "message 2: unclosed tag");
  expect_bad(Text("\xff\xfe"), "not valid UTF-8");
  expect_bad(Text(std::string(300 << 10, 'x')), "the limit is 262144");
  EXPECT_EQ(reg_->Save("bad", Text("x"), Labelled("latest")).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing was stored by any of the refused saves.
  EXPECT_EQ(reg_->Get("bad", PromptRef::Latest()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PromptRegistryTest, BadNamesAndSizes) {
  for (const std::string& name :
       {std::string(""), std::string(129, 'a'), std::string("a/b"), std::string("../x"),
        std::string("a b"), std::string(".hidden"), std::string("x\n"), std::string("\xc3\xa9")}) {
    auto s = reg_->Save(name, Text("x"));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(reg_->Render(name, PromptRef::Latest(), Json::object(), "c").status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(reg_->Get("missing", PromptRef::Latest()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg_->Render("missing", PromptRef::Latest(), Json::object(), "c").status().code(),
            absl::StatusCode::kNotFound);
  KOS_ASSERT_OK(reg_->Save("ok", Text("{{#v}}{{.}}{{/v}}")));
  EXPECT_EQ(reg_->Get("ok", PromptRef::Version(7)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg_->Get("ok", PromptRef::Version(-1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto big = reg_->Render("ok", PromptRef::Latest(), {{"v", std::string(2 << 20, 'x')}}, "c");
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("the limit is 1048576"));
  EXPECT_EQ(
      reg_->Render("ok", PromptRef::Latest(), {{"v", 1}}, std::string(300, 'c')).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PromptRegistry::Open(PromptRegistryOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PromptRegistryTest, PartialsComeFromTheRegistryAtProductionElseLatest) {
  KOS_ASSERT_OK(reg_->Save("footer", Text("-- v1 {{sender}}\n")));
  KOS_ASSERT_OK(reg_->Save("footer", Text("-- v2 {{sender}}\n")));
  KOS_ASSERT_OK(reg_->Save("mail", Text("Hi\n{{>footer}}\n")));
  EXPECT_EQ(RenderText("mail", {{"sender", "Al"}}), "Hi\n-- v2 Al\n");
  KOS_ASSERT_OK(reg_->SetLabel("footer", "production", 1));
  EXPECT_EQ(RenderText("mail", {{"sender", "Al"}}), "Hi\n-- v1 Al\n");

  KOS_ASSERT_OK(reg_->Save("mail2", Text("{{>nosuch}}")));
  auto missing = reg_->Render("mail2", PromptRef::Latest(), Json::object(), "c");
  EXPECT_THAT(missing.status().message(),
              HasSubstr("missing partial 'nosuch' at line 1, column 1"));
  PromptContent chat;
  chat.messages = {{"user", "x"}};
  KOS_ASSERT_OK(reg_->Save("chatty", chat));
  KOS_ASSERT_OK(reg_->Save("mail3", Text("{{>chatty}}")));
  EXPECT_THAT(reg_->Render("mail3", PromptRef::Latest(), Json::object(), "c").status().message(),
              HasSubstr("partial 'chatty' is a chat template"));
  // A template that includes itself hits the depth guard, not the stack.
  KOS_ASSERT_OK(reg_->Save("self", Text("x{{>self}}")));
  EXPECT_EQ(reg_->Render("self", PromptRef::Latest(), Json::object(), "c").status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(PromptRegistryTest, LenientModeRendersMissingAsEmpty) {
  PromptRegistryOptions o;
  o.strict = false;
  Open(o);
  KOS_ASSERT_OK(reg_->Save("l", Text("[{{a}}]")));
  EXPECT_EQ(RenderText("l", Json::object()), "[]");
}

TEST_F(PromptRegistryTest, HistoryRecordsHashesAndIsQueryableByTime) {
  KOS_ASSERT_OK(reg_->Save(
      "h", Text("Hello {{who}}", {Var("who", PromptVariableType::kString),
                                  Var("x", PromptVariableType::kNumber, false, Json(1))})));
  const absl::Time t0 = clock_.Now();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto out = reg_->Render("h", PromptRef::Latest(), {{"who", "w" + std::to_string(i)}},
                            "agent-" + std::to_string(i));
    ASSERT_TRUE(out.ok()) << out.status();
    ids.push_back(out->history_id);
    clock_.Advance(absl::Minutes(1));
  }
  // Same inputs (defaults applied canonically) give the same input hash.
  auto a = reg_->Render("h", PromptRef::Latest(), {{"who", "z"}}, "c");
  auto b = reg_->Render("h", PromptRef::Latest(), {{"x", 1}, {"who", "z"}}, "c");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->input_hash, b->input_hash);
  EXPECT_EQ(a->output_hash, b->output_hash);
  EXPECT_NE(a->history_id, b->history_id);
  // `b2sum -l 256` of "Hello z", and of the canonical inputs {"who":"z","x":1} (sorted keys,
  // default filled in).
  EXPECT_EQ(a->output_hash, "b8f224cf983f76589de50e8946e568abe41f543b8df1fcf499c94be4d7cc2d2e");
  EXPECT_EQ(a->input_hash, "74cf8ff55503581f9f3c402ef6fd7dbdbb27da6ae1f5020830ceed8d223ddfaf");

  auto all = reg_->History(Query("h"));
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->records.size(), 7u);
  EXPECT_TRUE(all->next_page_token.empty());
  const RenderRecord& r0 = all->records[0];
  EXPECT_EQ(r0.id, ids[0]);
  EXPECT_EQ(r0.name, "h");
  EXPECT_EQ(r0.version, 1);
  EXPECT_EQ(r0.caller, "agent-0");
  EXPECT_EQ(r0.time, t0);
  EXPECT_EQ(r0.input_hash.size(), 64u);
  EXPECT_EQ(r0.template_hash, reg_->Get("h", PromptRef::Version(1))->hash);
  EXPECT_FALSE(r0.output.has_value());  // outputs are not stored by default

  // [t0+1m, t0+3m): renders 1 and 2.
  auto range = reg_->History(Query("h", t0 + absl::Minutes(1), t0 + absl::Minutes(3)));
  ASSERT_TRUE(range.ok()) << range.status();
  ASSERT_EQ(range->records.size(), 2u);
  EXPECT_EQ(range->records[0].caller, "agent-1");
  EXPECT_EQ(range->records[1].caller, "agent-2");
  EXPECT_TRUE(range->next_page_token.empty());

  // Pages of 2 walk everything exactly once.
  std::vector<std::string> seen;
  PromptHistoryQuery q = Query("h");
  q.limit = 2;
  int pages = 0;
  do {
    auto page = reg_->History(q);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& r : page->records) seen.push_back(r.id);
    q.page_token = page->next_page_token;
    ASSERT_LT(++pages, 10);
  } while (!q.page_token.empty());
  ASSERT_EQ(seen.size(), 7u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(seen[i], ids[i]);

  EXPECT_TRUE(reg_->History(Query("other"))->records.empty());
  EXPECT_TRUE(reg_->History(Query("h", t0 + absl::Hours(1)))->records.empty());
  PromptHistoryQuery zero = Query("h");
  zero.limit = 0;
  EXPECT_EQ(reg_->History(zero).status().code(), absl::StatusCode::kInvalidArgument);
  PromptHistoryQuery bad_token = Query("h");
  bad_token.page_token = "zz";
  EXPECT_EQ(reg_->History(bad_token).status().code(), absl::StatusCode::kInvalidArgument);
  // Failed renders leave no history.
  EXPECT_FALSE(reg_->Render("h", PromptRef::Latest(), Json::object(), "c").ok());
  EXPECT_EQ(reg_->History(Query("h"))->records.size(), 7u);
}

TEST_F(PromptRegistryTest, HistoryCanStoreTruncatedOutputs) {
  PromptRegistryOptions o;
  o.store_outputs = true;
  o.max_stored_output_bytes = 8;
  Open(o);
  KOS_ASSERT_OK(reg_->Save("o", Text("{{s}}")));
  KOS_ASSERT_OK(reg_->Render("o", PromptRef::Latest(), {{"s", "short"}}, "c"));
  // "aaaaaaa" + "é" (2 bytes) crosses the 8-byte cut: keep whole characters.
  KOS_ASSERT_OK(reg_->Render("o", PromptRef::Latest(), {{"s", "aaaaaaa\xc3\xa9zz"}}, "c"));
  auto h = reg_->History(Query("o"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->records.size(), 2u);
  EXPECT_EQ(h->records[0].output, "short");
  EXPECT_FALSE(h->records[0].output_truncated);
  EXPECT_EQ(h->records[1].output, "aaaaaaa");
  EXPECT_TRUE(h->records[1].output_truncated);
}

TEST_F(PromptRegistryTest, HistoryCanBeTurnedOff) {
  PromptRegistryOptions o;
  o.record_history = false;
  Open(o);
  KOS_ASSERT_OK(reg_->Save("n", Text("x")));
  auto out = reg_->Render("n", PromptRef::Latest(), Json::object(), "c");
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->history_id.empty());
  EXPECT_TRUE(reg_->History(Query("n"))->records.empty());
}

TEST_F(PromptRegistryTest, CorruptStoredRecordsAreDataLoss) {
  KOS_ASSERT_OK(reg_->Save("z", Text("x")));
  KOS_ASSERT_OK(store_->Put("prompt_templates", "z", "{not json"));
  EXPECT_EQ(reg_->Get("z", PromptRef::Latest()).status().code(), absl::StatusCode::kDataLoss);
  KOS_ASSERT_OK(store_->Put("prompt_versions", "y/0000000001", "[]"));
  EXPECT_EQ(reg_->Get("y", PromptRef::Version(1)).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(PromptRegistryTest, ReopenedRegistrySeesStoredTemplates) {
  KOS_ASSERT_OK(reg_->Save("keep", Text("{{a}}", {Var("a", PromptVariableType::kNumber)}),
                           Labelled("production")));
  Open(PromptRegistryOptions{});  // fresh registry, empty cache, same store
  auto v = reg_->Get("keep", PromptRef{});
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->content.variables.size(), 1u);
  EXPECT_EQ(v->content.variables[0].type, PromptVariableType::kNumber);
  EXPECT_EQ(RenderText("keep", {{"a", 3}}, PromptRef{}), "3");
}

TEST(PromptRegistrySqliteTest, WorksOnSqliteWhenAvailable) {
  testing::TempDir dir;
  auto store = OpenStore("sqlite://" + dir.File("kos.db"));
  if (absl::IsUnimplemented(store.status())) {
    GTEST_SKIP() << "sqlite store backend not built yet: " << store.status();
  }
  ASSERT_TRUE(store.ok()) << store.status();
  FakeClock clock;
  auto reg = PromptRegistry::Open([&] {
    PromptRegistryOptions o;
    o.store = store->get();
    o.clock = &clock;
    return o;
  }());
  ASSERT_TRUE(reg.ok()) << reg.status();
  KOS_ASSERT_OK((*reg)->Save("s", Text("hi {{n}}"), Labelled("production")));
  auto out = (*reg)->Render("s", PromptRef{}, {{"n", "x"}}, "c");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->text, "hi x");
  EXPECT_EQ((*reg)->History(Query("s"))->records.size(), 1u);
}

}  // namespace
}  // namespace kos
