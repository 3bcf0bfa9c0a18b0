// HTTPS with a self-signed Ed25519 certificate made by openssl in the test.
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http_test_util.h"

namespace kos::server {
namespace {

TEST(HttpTlsTest, ServesHttpsWithSelfSignedCertificate) {
  kos::testing::TempDir dir;
  testing::CopyDeployConfig(dir.path());
  std::string cert = dir.File("cert.pem"), key = dir.File("key.pem");
  std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey ed25519 -keyout ", key, " -out ", cert,
      " -days 1 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1",
      " >/dev/null 2>&1");
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl could not make a test certificate";
  ServerOptions o = testing::TestOptions(dir.path());
  o.tls_cert = cert;
  o.tls_key = key;
  testing::RunningServer server(o);
  ASSERT_TRUE(server.status().ok()) << server.status();
  EXPECT_TRUE(server.server()->tls());

  httplib::SSLClient cli("localhost", server.port());
  cli.set_ca_cert_path(cert.c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(5);
  auto res = cli.Get("/health");
  ASSERT_TRUE(res) << "TLS request failed: " << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "{\"status\":\"ok\"}");

  // Plain HTTP to the TLS port gets no HTTP answer.
  httplib::Client plain("127.0.0.1", server.port());
  plain.set_connection_timeout(2);
  plain.set_read_timeout(2);
  auto p = plain.Get("/health");
  EXPECT_TRUE(!p || p->status != 200);
}

TEST(HttpTlsTest, MissingKeyFileIsAClearError) {
  kos::testing::TempDir dir;
  testing::CopyDeployConfig(dir.path());
  ServerOptions o = testing::TestOptions(dir.path());
  o.tls_cert = dir.File("none.pem");
  o.tls_key = dir.File("none.key");
  auto s = HttpServer::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("TLS"), absl::string_view::npos);
}

}  // namespace
}  // namespace kos::server
