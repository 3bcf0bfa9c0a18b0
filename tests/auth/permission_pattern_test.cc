#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kos/rbac.h"

namespace kos {
namespace {

using ::testing::HasSubstr;

PermissionPattern P(const std::string& text) {
  auto p = PermissionPattern::Parse(text);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

TEST(PermissionPatternTest, LiteralMatchesExactlyOneResourceAndAction) {
  PermissionPattern p = P("agents:kPlanner:execute");
  EXPECT_TRUE(p.Matches("agents:kPlanner", "execute"));
  EXPECT_FALSE(p.Matches("agents:kPlanner", "read"));
  EXPECT_FALSE(p.Matches("agents:kPlanne", "execute"));
  EXPECT_FALSE(p.Matches("agents:kPlannerX", "execute"));
  EXPECT_FALSE(p.Matches("agents:kPlanner:sub", "execute"));  // segment count differs
  EXPECT_FALSE(p.Matches("agents", "execute"));
  EXPECT_FALSE(p.Matches("Agents:kPlanner", "execute"));  // case-sensitive
  EXPECT_EQ(p.resource_type(), "agents");
  EXPECT_EQ(p.text(), "agents:kPlanner:execute");
}

TEST(PermissionPatternTest, StarMatchesWithinOneComponentOnly) {
  PermissionPattern p = P("memory:ns/alice/*:read");
  EXPECT_TRUE(p.Matches("memory:ns/alice/notes", "read"));
  EXPECT_TRUE(p.Matches("memory:ns/alice/x", "read"));
  EXPECT_FALSE(p.Matches("memory:ns/alice", "read"));             // '*' needs a component
  EXPECT_FALSE(p.Matches("memory:ns/alice/notes/2024", "read"));  // '*' never crosses '/'
  EXPECT_FALSE(p.Matches("memory:ns/alicex/notes", "read"));
  EXPECT_FALSE(p.Matches("memory:ns/bob/notes", "read"));
}

TEST(PermissionPatternTest, StarInsideComponent) {
  PermissionPattern p = P("agents:k*er:execute");
  EXPECT_TRUE(p.Matches("agents:kPlanner", "execute"));
  EXPECT_TRUE(p.Matches("agents:kReviewer", "execute"));
  EXPECT_TRUE(p.Matches("agents:ker", "execute"));  // '*' may be empty
  EXPECT_FALSE(p.Matches("agents:kCore", "execute"));
  EXPECT_FALSE(p.Matches("agents:xker", "execute"));
  PermissionPattern multi = P("files:*.tar.*:read");
  EXPECT_TRUE(multi.Matches("files:backup.tar.gz", "read"));
  EXPECT_FALSE(multi.Matches("files:backup.tgz", "read"));
  PermissionPattern overlap = P("x:ab*ba:read");
  EXPECT_FALSE(overlap.Matches("x:aba", "read"));  // prefix and suffix may not overlap
  EXPECT_TRUE(overlap.Matches("x:abba", "read"));
  PermissionPattern mid = P("x:a*b*c:read");
  EXPECT_TRUE(mid.Matches("x:axxbyyc", "read"));
  EXPECT_TRUE(mid.Matches("x:abc", "read"));
  EXPECT_FALSE(mid.Matches("x:acb", "read"));
}

TEST(PermissionPatternTest, DoubleStarComponentMatchesSubtreeIncludingItsRoot) {
  PermissionPattern p = P("vault:kv/team/**:*");
  EXPECT_TRUE(p.Matches("vault:kv/team", "read"));
  EXPECT_TRUE(p.Matches("vault:kv/team/db", "write"));
  EXPECT_TRUE(p.Matches("vault:kv/team/db/password", "delete"));
  EXPECT_FALSE(p.Matches("vault:kv/teamx/db", "read"));
  EXPECT_FALSE(p.Matches("vault:kv", "read"));
  // '**' inside a segment does not cross ':'.
  EXPECT_FALSE(p.Matches("vault:kv/team:extra", "read"));
}

TEST(PermissionPatternTest, DoubleStarSegment) {
  PermissionPattern tail = P("memory:**:read");
  EXPECT_TRUE(tail.Matches("memory:ns", "read"));
  EXPECT_TRUE(tail.Matches("memory:ns/a/b/c", "read"));
  EXPECT_TRUE(tail.Matches("memory:ns/a:more:segments", "read"));  // last '**' spans segments
  EXPECT_FALSE(tail.Matches("memory", "read"));                    // needs one segment at least
  EXPECT_FALSE(tail.Matches("vault:ns", "read"));
  EXPECT_EQ(tail.resource_type(), "memory");

  PermissionPattern all = P("**:*");
  EXPECT_TRUE(all.Matches("anything", "x"));
  EXPECT_TRUE(all.Matches("a:b/c:d", "execute"));
  EXPECT_EQ(all.resource_type(), "");

  PermissionPattern middle = P("a:**:c:read");  // not last: exactly one segment
  EXPECT_TRUE(middle.Matches("a:x/y/z:c", "read"));
  EXPECT_FALSE(middle.Matches("a:x:y:c", "read"));
}

TEST(PermissionPatternTest, ActionWildcardAndLiterals) {
  PermissionPattern any = P("agents:kPlanner:*");
  EXPECT_TRUE(any.Matches("agents:kPlanner", "read"));
  EXPECT_TRUE(any.Matches("agents:kPlanner", "execute"));
  PermissionPattern star_seg = P("agents:*:read");
  EXPECT_TRUE(star_seg.Matches("agents:kCore", "read"));
  EXPECT_FALSE(star_seg.Matches("agents:a/b", "read"));  // '*' is one component
}

TEST(PermissionPatternTest, InvalidPatternsNameTheProblem) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"", "pattern is empty"},
      {"x", "expected 'resource:action' (no ':' found)"},
      {"memory::read", "segment 2 is empty"},
      {":read", "segment 1 is empty"},
      {"memory:ns:", "segment 3 is empty"},
      {"memory:ns//a:read", "has an empty path component"},
      {"memory:/ns:read", "has an empty path component"},
      {"memory:ns/:read", "has an empty path component"},
      {"memory:ns/**/x:read", "'**' is only allowed as the last component"},
      {"memory:a**:read", "'**' must be a whole component"},
      {"memory:***:read", "'**' must be a whole component"},
      {"memory:ns:re*d", "action 're*d' must be '*' or letters"},
      {"memory:ns:read/write", "action 'read/write' must be '*' or letters"},
      {"memory:n?s:read", "contains '?' at offset 8"},
      {"memory:n[a]:read", "contains '['"},
      {"memory:a b:read", "contains byte 0x20"},
      {"memory:a\tb:read", "contains byte 0x9"},
      {std::string("memory:a\0b:read", 15), "contains byte 0x0"},
      {"memory:\xff:read", "not valid UTF-8"},
      {"m:*a*b*c*d*e*f*g*h*i*:read", "more than 8 '*'"},
  };
  for (const Case& c : cases) {
    auto p = PermissionPattern::Parse(c.text);
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(std::string(p.status().message()), HasSubstr("invalid permission pattern"));
  }
}

TEST(PermissionPatternTest, HugeAndDeepPatternsAreRefusedWithBoundedMessages) {
  std::string huge = "memory:" + std::string(100000, 'a') + ":read";
  auto p = PermissionPattern::Parse(huge);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("the limit is 1024"));
  EXPECT_LT(p.status().message().size(), 300u);  // the input is not echoed whole

  std::string segs = "a";
  for (int i = 0; i < 17; ++i) segs += ":a";
  EXPECT_THAT(std::string(PermissionPattern::Parse(segs + ":read").status().message()),
              HasSubstr("more than 16 resource segments"));
  std::string comps = "m:a";
  for (int i = 0; i < 64; ++i) comps += "/a";
  EXPECT_THAT(std::string(PermissionPattern::Parse(comps + ":read").status().message()),
              HasSubstr("more than 64 components"));
}

TEST(PermissionPatternTest, InvalidResourcesAndActionsNeverMatch) {
  PermissionPattern all = P("**:*");
  EXPECT_FALSE(all.Matches("", "read"));
  EXPECT_FALSE(all.Matches("a", ""));
  EXPECT_FALSE(all.Matches("a::b", "read"));
  EXPECT_FALSE(all.Matches("a/", "read"));
  EXPECT_FALSE(all.Matches("a:*", "read"));  // a resource is concrete
  EXPECT_FALSE(all.Matches("a", "re ad"));
}

TEST(PermissionPatternTest, ValidatorsExplain) {
  EXPECT_TRUE(ValidateResource("memory:ns/alice/notes").ok());
  EXPECT_THAT(std::string(ValidateResource("memory:ns/*").message()),
              HasSubstr("wildcards are only allowed in patterns"));
  EXPECT_THAT(std::string(ValidateResource("memory:").message()), HasSubstr("ends with ':'"));
  EXPECT_THAT(std::string(ValidateResource(std::string(5000, 'a')).message()),
              HasSubstr("the limit is 4096"));
  EXPECT_TRUE(ValidateAction("execute").ok());
  EXPECT_FALSE(ValidateAction("*").ok());
  EXPECT_TRUE(ValidateSubject("user:alice@example.com").ok());
  EXPECT_TRUE(ValidateSubject("agent:kPlanner").ok());
  EXPECT_TRUE(ValidateSubject("service:gateway").ok());
  EXPECT_THAT(std::string(ValidateSubject("").message()), HasSubstr("subject is empty"));
  EXPECT_THAT(std::string(ValidateSubject("alice").message()), HasSubstr("must be user:<name>"));
  EXPECT_THAT(std::string(ValidateSubject("group:x").message()), HasSubstr("must be user:<name>"));
  EXPECT_THAT(std::string(ValidateSubject("user:").message()), HasSubstr("has no name"));
  EXPECT_FALSE(ValidateSubject("user:a:b").ok());
  EXPECT_FALSE(ValidateSubject("user:*").ok());
  EXPECT_FALSE(ValidateSubject("user:a b").ok());
}

}  // namespace
}  // namespace kos
