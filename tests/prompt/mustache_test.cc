// Strict mode, compile errors and limits of the Mustache engine (the spec
// conformance cases live in mustache_spec_test.cc).
#include "kos/mustache.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const MustacheTemplate> MustCompile(const std::string& src) {
  auto t = MustacheTemplate::Compile(src);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : nullptr;
}

absl::Status CompileError(const std::string& src) {
  return MustacheTemplate::Compile(src).status();
}

TEST(MustacheStrictTest, MissingVariableNamesItAndItsLine) {
  auto t = MustCompile("Hello\n\nDear {{user.title}} {{user.name}},\n");
  auto out = t->Render(Json{{"user", {{"title", "Dr"}}}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(),
              HasSubstr("missing variable 'user.name' at line 3, column 21"));
}

TEST(MustacheStrictTest, LenientRendersMissingAsEmpty) {
  auto t = MustCompile("[{{a}}|{{#b}}x{{/b}}|{{^c}}y{{/c}}|{{>p}}]");
  MustacheRenderOptions lenient;
  lenient.strict = false;
  auto out = t->Render(Json::object(), lenient);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "[||y|]");
}

TEST(MustacheStrictTest, MissingSectionInvertedAndPartialAreErrors) {
  EXPECT_THAT(MustCompile("{{#items}}x{{/items}}")->Render(Json::object()).status().message(),
              HasSubstr("missing section 'items' at line 1, column 1"));
  EXPECT_THAT(MustCompile("ok\n {{^flag}}x{{/flag}}")->Render(Json::object()).status().message(),
              HasSubstr("missing section 'flag' at line 2, column 2"));
  EXPECT_THAT(MustCompile("{{>footer}}")->Render(Json::object()).status().message(),
              HasSubstr("missing partial 'footer' at line 1, column 1"));
}

TEST(MustacheStrictTest, NullAndFalseArePresent) {
  auto t = MustCompile("[{{n}}|{{#f}}x{{/f}}{{^f}}no{{/f}}|{{#e}}x{{/e}}]");
  auto out = t->Render(Json{{"n", nullptr}, {"f", false}, {"e", ""}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "[|no|]");
}

TEST(MustacheStrictTest, NamesResolveThroughSectionContexts) {
  auto t = MustCompile("{{#items}}{{name}} of {{shop}};{{/items}}");
  auto out = t->Render(Json{{"shop", "S"}, {"items", {{{"name", "a"}}, {{"name", "b"}}}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "a of S;b of S;");
  // A miss inside a loop names the variable.
  auto bad = t->Render(Json{{"shop", "S"}, {"items", {{{"nam", "a"}}}}});
  EXPECT_THAT(bad.status().message(), HasSubstr("missing variable 'name'"));
}

TEST(MustacheStrictTest, MissInsidePartialSaysWhichPartial) {
  MustachePartialMap partials;
  KOS_ASSERT_OK(partials.Add("footer", "bye\n{{sender}}"));
  MustacheRenderOptions o;
  o.partials = &partials;
  auto out = MustCompile("hi\n{{>footer}}")->Render(Json::object(), o);
  EXPECT_THAT(out.status().message(),
              HasSubstr("missing variable 'sender' at line 2, column 1 in partial 'footer'"));
}

TEST(MustacheCompileTest, ErrorsCarryLineAndColumn) {
  EXPECT_THAT(CompileError("a\n{{#s}}\nb").message(),
              HasSubstr("unclosed section 's' opened at line 2, column 1"));
  EXPECT_THAT(CompileError("{{#a}}{{#b}}\n  {{/a}}{{/b}}").message(),
              HasSubstr("closing tag 'a' does not match section 'b' opened at line 1, column 7 "
                        "at line 2, column 3"));
  EXPECT_THAT(CompileError("x {{/a}}").message(),
              HasSubstr("closing tag 'a' without an open section at line 1, column 3"));
  EXPECT_THAT(CompileError("ab\ncd {{name").message(),
              HasSubstr("unclosed tag '{{' at line 2, column 4"));
  EXPECT_THAT(CompileError("{{=<% %> x=}}").message(), HasSubstr("bad delimiter tag"));
  EXPECT_THAT(CompileError("{{=<%=}}").message(), HasSubstr("bad delimiter tag"));
  EXPECT_THAT(CompileError("{{}}").message(), HasSubstr("empty tag name at line 1, column 1"));
  EXPECT_THAT(CompileError("{{a b}}").message(), HasSubstr("contains whitespace"));
  EXPECT_THAT(CompileError("{{a..b}}").message(), HasSubstr("malformed dotted name"));
  EXPECT_THAT(CompileError("{{{x}}").message(), HasSubstr("unclosed tag"));
  for (const char* bad : {"{{#a}}", "{{/a}}", "{{", "{{{", "{{=", "{{! never closed"}) {
    absl::Status s = CompileError(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << s;
  }
}

TEST(MustacheCompileTest, CustomDelimitersReportTheirOwnOpener) {
  EXPECT_THAT(CompileError("{{=<% %>=}}\n<%name").message(),
              HasSubstr("unclosed tag '<%' at line 2, column 1"));
}

TEST(MustacheCompileTest, DeepNestingIsRefused) {
  std::string src;
  for (int i = 0; i < 200; ++i) src += "{{#a}}";
  for (int i = 0; i < 200; ++i) src += "{{/a}}";
  EXPECT_THAT(CompileError(src).message(), HasSubstr("nested deeper than"));
}

TEST(MustacheRenderTest, CompileOnceRenderManyAndConcurrently) {
  auto t = MustCompile("{{#xs}}{{.}},{{/xs}}{{n}}");
  std::vector<std::thread> threads;
  std::vector<std::string> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 200; ++k) {
        auto out = t->Render(Json{{"xs", {1, 2.5, "s"}}, {"n", i}});
        results[i] = out.ok() ? *out : out.status().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(results[i], "1,2.5,s," + std::to_string(i));
}

TEST(MustacheRenderTest, EscapingCanBeTurnedOffAndValuesFormat) {
  auto t = MustCompile("{{s}} {{{s}}} {{o}} {{b}} {{f}}");
  Json data = {{"s", "<a & \"b\">"}, {"o", {{"k", 1}}}, {"b", true}, {"f", 0.1}};
  EXPECT_EQ(*t->Render(data),
            "&lt;a &amp; &quot;b&quot;&gt; <a & \"b\"> {&quot;k&quot;:1} true 0.1");
  MustacheRenderOptions raw;
  raw.html_escape = false;
  EXPECT_EQ(*t->Render(data, raw), "<a & \"b\"> <a & \"b\"> {\"k\":1} true 0.1");
}

TEST(MustacheRenderTest, DoublesUseShortestRoundTripForm) {
  // The same text Python's str() and JSON serializers give.
  auto t = MustCompile("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}}");
  Json data = {{"a", 19.0}, {"b", 1e20}, {"c", 1.21}, {"d", -0.5}, {"e", 0.1 + 0.2}, {"f", 7}};
  EXPECT_EQ(*t->Render(data), "19.0 1e+20 1.21 -0.5 0.30000000000000004 7");
}

TEST(MustacheRenderTest, OutputLimitStopsBlowUp) {
  auto t = MustCompile("{{#a}}{{#a}}{{#a}}{{s}}{{/a}}{{/a}}{{/a}}");
  Json a = Json::array();
  for (int i = 0; i < 100; ++i) a.push_back(i);
  MustacheRenderOptions o;
  o.max_output_bytes = 1 << 20;
  auto out = t->Render(Json{{"a", a}, {"s", std::string(100, 'x')}}, o);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted) << out.status();
}

TEST(MustacheRenderTest, UnboundedPartialRecursionIsRefused) {
  MustachePartialMap partials;
  KOS_ASSERT_OK(partials.Add("loop", "x{{>loop}}"));
  MustacheRenderOptions o;
  o.partials = &partials;
  auto out = MustCompile("{{>loop}}")->Render(Json::object(), o);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted) << out.status();
  // A self-overriding block cannot recurse forever either.
  KOS_ASSERT_OK(partials.Add("p", "{{$b}}d{{/b}}"));
  auto blocks = MustCompile("{{<p}}{{$b}}{{$b}}x{{/b}}{{/b}}{{/p}}")->Render(Json::object(), o);
  EXPECT_EQ(blocks.status().code(), absl::StatusCode::kResourceExhausted) << blocks.status();
}

TEST(MustacheRenderTest, NonObjectRootAndHostileBytesDoNotCrash) {
  auto t = MustCompile("{{.}}|{{a.b}}");
  MustacheRenderOptions lenient;
  lenient.strict = false;
  EXPECT_EQ(*t->Render(Json(42), lenient), "42|");
  EXPECT_EQ(*t->Render(Json::array({1}), lenient), "[1]|");
  std::string junk;
  for (int i = 0; i < 2000; ++i) junk.push_back(static_cast<char>((i * 37) % 256));
  auto c = MustacheTemplate::Compile(junk + "{{" + junk);
  EXPECT_FALSE(c.ok());
}

}  // namespace
}  // namespace kos
