// X-Forwarded-For is believed only from configured proxies, and only as far
// as the chain of trusted hops reaches.
#include "common/client_address.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kos::server {
namespace {

using ::testing::HasSubstr;

TrustedProxies Make(const std::vector<std::string>& entries) {
  auto p = TrustedProxies::Parse(entries);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : TrustedProxies();
}

TEST(TrustedProxiesTest, AddressesAndCidrBlocksMatchByPrefix) {
  TrustedProxies p = Make({"127.0.0.1", "10.0.0.0/8", "192.168.1.128/25", "fd00::/8", "::1"});
  EXPECT_TRUE(p.Contains("127.0.0.1"));
  EXPECT_FALSE(p.Contains("127.0.0.2"));
  EXPECT_TRUE(p.Contains("10.255.3.4"));
  EXPECT_FALSE(p.Contains("11.0.0.1"));
  EXPECT_TRUE(p.Contains("192.168.1.200"));
  EXPECT_FALSE(p.Contains("192.168.1.127"));
  EXPECT_TRUE(p.Contains("fd12::7"));
  EXPECT_FALSE(p.Contains("fe80::1"));
  EXPECT_TRUE(p.Contains("::1"));
  // An IPv4 block never matches an IPv6 address and the other way round.
  EXPECT_FALSE(Make({"0.0.0.0/0"}).Contains("::1"));
  EXPECT_TRUE(Make({"0.0.0.0/0"}).Contains("8.8.8.8"));
  // A dual-stack socket's IPv4 peer matches the IPv4 entry, and a mapped
  // entry matches plain IPv4.
  EXPECT_TRUE(p.Contains("::ffff:127.0.0.1"));
  EXPECT_TRUE(p.Contains("::ffff:10.9.8.7"));
  EXPECT_FALSE(p.Contains("::ffff:127.0.0.2"));
  EXPECT_TRUE(Make({"::ffff:192.0.2.1"}).Contains("192.0.2.1"));
  EXPECT_TRUE(Make({"::ffff:10.0.0.0/104"}).Contains("10.200.0.1"));
  EXPECT_FALSE(Make({"::ffff:10.0.0.0/104"}).Contains("11.0.0.1"));
  EXPECT_EQ(Make({"127.0.0.1"}).ClientAddress("::ffff:127.0.0.1", "203.0.113.7"), "203.0.113.7");
  EXPECT_FALSE(p.Contains("not-an-ip"));
  EXPECT_FALSE(p.Contains(""));
}

TEST(TrustedProxiesTest, BadEntriesAreRefusedByName) {
  for (const char* bad : {"", "localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/-1", "10.0.0.0/x",
                          "10.0.0.0/", "1.2.3.4.5", "10.0.0.0/8/8"}) {
    auto p = TrustedProxies::Parse({"127.0.0.1", bad});
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr("trusted proxy"));
  }
}

TEST(TrustedProxiesTest, ForwardedForIsIgnoredFromAnUntrustedPeer) {
  TrustedProxies p = Make({"127.0.0.1"});
  EXPECT_EQ(p.ClientAddress("198.51.100.9", "203.0.113.7"), "198.51.100.9");
  EXPECT_EQ(TrustedProxies().ClientAddress("127.0.0.1", "203.0.113.7"), "127.0.0.1");
  EXPECT_EQ(p.ClientAddress("127.0.0.1", ""), "127.0.0.1");
}

TEST(TrustedProxiesTest, RightMostUntrustedHopIsTheClient) {
  TrustedProxies p = Make({"127.0.0.1", "10.0.0.0/8"});
  EXPECT_EQ(p.ClientAddress("127.0.0.1", "203.0.113.7"), "203.0.113.7");
  // The client wrote the left-most entry itself: it proves nothing.
  EXPECT_EQ(p.ClientAddress("127.0.0.1", "1.1.1.1, 203.0.113.7"), "203.0.113.7");
  // Trusted hops on the right are skipped.
  EXPECT_EQ(p.ClientAddress("127.0.0.1", "1.1.1.1, 203.0.113.7, 10.1.2.3"), "203.0.113.7");
  // All hops trusted: the left-most one.
  EXPECT_EQ(p.ClientAddress("127.0.0.1", "10.0.0.5,10.1.2.3"), "10.0.0.5");
  EXPECT_EQ(p.ClientAddress("127.0.0.1", " 2001:db8::1 "), "2001:db8::1");
}

TEST(TrustedProxiesTest, GarbageHopStopsTheWalkAtTheLastGoodAddress) {
  TrustedProxies p = Make({"127.0.0.1", "10.0.0.0/8"});
  EXPECT_EQ(p.ClientAddress("127.0.0.1", "evil"), "127.0.0.1");
  EXPECT_EQ(p.ClientAddress("127.0.0.1", "203.0.113.7, 10.0.0.1, evil"), "127.0.0.1");
  EXPECT_EQ(p.ClientAddress("127.0.0.1", "evil, 10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(p.ClientAddress("127.0.0.1", ",,"), "127.0.0.1");
  EXPECT_EQ(p.ClientAddress("127.0.0.1", std::string(10000, '1')), "127.0.0.1");
}

}  // namespace
}  // namespace kos::server
