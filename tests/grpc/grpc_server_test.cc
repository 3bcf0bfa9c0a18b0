// The gRPC server in process on a free port, over a Kernel built from a copy
// of deploy/config: authentication, RBAC, rate limits, streaming and health.
#include <filesystem>
#include <future>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/call_context.h"
#include "grpc/server.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kos/json.h"
#include "kos/orchestrator.h"
#include "kos/signed_task.h"
#include "kos/v1/agents.grpc.pb.h"
#include "kos/v1/artifacts.grpc.pb.h"
#include "kos/v1/auth.grpc.pb.h"
#include "kos/v1/memory.grpc.pb.h"
#include "kos/v1/prompts.grpc.pb.h"
#include "kos/v1/tasks.grpc.pb.h"
#include "kos/v1/users.grpc.pb.h"
#include "kos/v1/vault.grpc.pb.h"
#include "testing/test_util.h"

namespace kos::server {
namespace {

namespace fs = std::filesystem;
namespace pb = ::kos::v1;

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(DefaultRateLimitClasses()); }

  // Each start gets directories of its own, so a test can restart the server
  // with other options and fresh state.
  void StartServer(std::vector<RateLimitClass> limits,
                   std::vector<std::string> trusted_proxies = {}) {
    const std::string root = dir_.File(absl::StrCat("run", starts_++));
    fs::create_directories(root);
    fs::copy(testing::SourcePath("deploy/config"), root + "/config", fs::copy_options::recursive);
    KernelOptions ko;
    ko.config_dir = root + "/config";
    ko.data_dir = root + "/data";
    ko.logs_dir = root + "/logs";
    ko.env = {};
    // Argon2id at libsodium's minimum cost (PasswordHasherOptions::Minimum()
    // is not exported from libkos.so).
    ko.password_hashing.ops_limit = 1;
    ko.password_hashing.mem_limit = 8192;
    ko.development_handlers = true;
    ko.rate_limits = std::move(limits);
    auto k = Kernel::Open(ko);
    ASSERT_TRUE(k.ok()) << k.status();
    kernel_ = std::move(*k);
    ASSERT_TRUE(kernel_->EnsureAdmin("admin", root + "/admin.pw").ok());
    admin_password_ = testing::ReadFileOrDie(root + "/admin.pw");
    while (!admin_password_.empty() && admin_password_.back() == '\n') admin_password_.pop_back();

    GrpcServerOptions so;
    so.port = 0;
    so.kernel = kernel_.get();
    so.trusted_proxies = std::move(trusted_proxies);
    auto s = GrpcServer::Create(so);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    KOS_ASSERT_OK(server_->Start());
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  void TearDown() override { StopServer(); }

  void StopServer() {
    channel_.reset();
    server_.reset();
    if (kernel_) KOS_EXPECT_OK(kernel_->Shutdown(absl::Seconds(5)));
    kernel_.reset();
  }

  grpc::Status Login(const std::string& user, const std::string& password, std::string* token) {
    auto stub = pb::Auth::NewStub(channel_);
    grpc::ClientContext ctx;
    pb::LoginRequest req;
    req.set_username(user);
    req.set_password(password);
    pb::TokenResponse resp;
    grpc::Status st = stub->Login(&ctx, req, &resp);
    if (st.ok()) *token = resp.access_token();
    return st;
  }

  std::string AdminToken() {
    std::string token;
    grpc::Status st = Login("admin", admin_password_, &token);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return token;
  }

  static void Bearer(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }

  // Creates a user with only the "user" role and returns its token.
  std::string UserToken(const std::string& name) {
    NewUser u;
    u.username = name;
    u.password = "correct horse battery";
    u.roles = {"user"};
    EXPECT_TRUE(kernel_->users()->Create(u).ok());
    std::string token;
    grpc::Status st = Login(name, u.password, &token);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return token;
  }

  testing::TempDir dir_;
  int starts_ = 0;
  std::unique_ptr<Kernel> kernel_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string admin_password_;
};

TEST_F(GrpcServerTest, LoginThenProfile) {
  std::string token = AdminToken();
  ASSERT_FALSE(token.empty());
  auto users = pb::Users::NewStub(channel_);
  grpc::ClientContext ctx;
  Bearer(&ctx, token);
  pb::Profile p;
  grpc::Status st = users->GetProfile(&ctx, pb::GetProfileRequest(), &p);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(p.username(), "admin");
  EXPECT_NE(std::find(p.roles().begin(), p.roles().end(), "admin"), p.roles().end());

  // Preferences merge into what is stored.
  for (const char* patch : {R"({"theme":"dark"})", R"({"lang":"en"})"}) {
    grpc::ClientContext c;
    Bearer(&c, token);
    pb::UpdatePreferencesRequest req;
    req.set_preferences_json(patch);
    req.set_merge(true);
    pb::Preferences out;
    st = users->UpdatePreferences(&c, req, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  grpc::ClientContext c2;
  Bearer(&c2, token);
  pb::Preferences prefs;
  ASSERT_TRUE(users->GetPreferences(&c2, pb::GetPreferencesRequest(), &prefs).ok());
  EXPECT_EQ(*ParseJson(prefs.preferences_json()), (Json{{"theme", "dark"}, {"lang", "en"}}));

  std::string bad;
  st = Login("admin", "wrong password", &bad);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message().find("wrong password"), std::string::npos);
}

TEST_F(GrpcServerTest, CallsWithoutAValidTokenAreUnauthenticated) {
  auto users = pb::Users::NewStub(channel_);
  pb::Profile p;
  {
    grpc::ClientContext ctx;
    grpc::Status st = users->GetProfile(&ctx, pb::GetProfileRequest(), &p);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  }
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, "not.a.jwt");
    grpc::Status st = users->GetProfile(&ctx, pb::GetProfileRequest(), &p);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  }
  {
    // After logout the same token is refused.
    std::string token = AdminToken();
    auto auth = pb::Auth::NewStub(channel_);
    grpc::ClientContext lc;
    Bearer(&lc, token);
    pb::LogoutResponse lr;
    ASSERT_TRUE(auth->Logout(&lc, pb::LogoutRequest(), &lr).ok());
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    grpc::Status st = users->GetProfile(&ctx, pb::GetProfileRequest(), &p);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  }
}

// Bad-token calls count against the client's address ("api", 2 per minute
// here). Behind a trusted proxy that address is the x-forwarded-for hop, so
// two clients have two buckets; from an untrusted peer the metadata is
// ignored and every call lands in the peer's one bucket.
TEST_F(GrpcServerTest, ForwardedForNamesTheClientOnlyBehindATrustedProxy) {
  const std::vector<RateLimitClass> limits = {{"global", 100000, absl::Hours(1), 0},
                                              {"api", 2, absl::Minutes(1), 0},
                                              {"auth", 100, absl::Minutes(1), 0}};
  auto bad_call = [&](const std::string& forwarded_for) {
    auto users = pb::Users::NewStub(channel_);
    grpc::ClientContext ctx;
    Bearer(&ctx, "not.a.jwt");
    if (!forwarded_for.empty()) ctx.AddMetadata("x-forwarded-for", forwarded_for);
    pb::Profile p;
    return users->GetProfile(&ctx, pb::GetProfileRequest(), &p).error_code();
  };
  using grpc::StatusCode;
  StopServer();
  StartServer(limits, {"127.0.0.1"});
  EXPECT_EQ(bad_call("203.0.113.7"), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(bad_call("198.51.100.1, 203.0.113.7"), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(bad_call("203.0.113.7"), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(bad_call("198.51.100.9"), StatusCode::UNAUTHENTICATED);
  // A trusted peer that forwards nothing is itself the client.
  EXPECT_EQ(bad_call(""), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(bad_call(""), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(bad_call(""), StatusCode::RESOURCE_EXHAUSTED);

  StopServer();
  StartServer(limits);
  EXPECT_EQ(bad_call("203.0.113.7"), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(bad_call("198.51.100.1"), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(bad_call("198.51.100.9"), StatusCode::RESOURCE_EXHAUSTED);
}

TEST(GrpcPeerTest, AddressOfPeerHandlesEveryForm) {
  EXPECT_EQ(grpc_impl::AddressOfPeer("ipv4:127.0.0.1:5000"), "127.0.0.1");
  EXPECT_EQ(grpc_impl::AddressOfPeer("ipv6:[::1]:5000"), "::1");
  EXPECT_EQ(grpc_impl::AddressOfPeer("ipv6:%5B::1%5D:5000"), "::1");  // gRPC 1.51's encoding
  EXPECT_EQ(grpc_impl::AddressOfPeer("ipv6:%5B::ffff:10.0.0.1%5D:443"), "::ffff:10.0.0.1");
  EXPECT_EQ(grpc_impl::AddressOfPeer("unix:/run/kos.sock"), "unknown");
  EXPECT_EQ(grpc_impl::AddressOfPeer(""), "unknown");
  EXPECT_EQ(grpc_impl::AddressOfPeer("ipv4:"), "unknown");
  EXPECT_EQ(grpc_impl::AddressOfPeer(absl::StrCat("ipv6:[", std::string(300, 'a'), "]:1")),
            "unknown");
}

TEST_F(GrpcServerTest, BadTrustedProxyEntryIsRefusedAtCreate) {
  GrpcServerOptions so;
  so.port = 0;
  so.kernel = kernel_.get();
  so.trusted_proxies = {"127.0.0.1", "10.0.0.0/33"};
  auto s = GrpcServer::Create(so);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("10.0.0.0/33"), std::string::npos) << s.status();
}

TEST_F(GrpcServerTest, UserWithoutRightsIsDenied) {
  std::string token = UserToken("bob");
  auto vault = pb::Vault::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::PutSecretRequest req;
    req.set_path("kv/team/x");
    req.set_value("v");
    pb::PutSecretResponse resp;
    grpc::Status st = vault->Put(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  }
  auto agents = pb::Agents::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::ExecuteRequest req;
    req.set_agent("kPlanner");
    pb::ExecuteResponse resp;
    grpc::Status st = agents->Execute(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  }
  {
    // The "user" role may run kCore, and read its own profile.
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::ExecuteRequest req;
    req.set_agent("kCore");
    pb::ExecuteResponse resp;
    grpc::Status st = agents->Execute(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    grpc::ClientContext pc;
    Bearer(&pc, token);
    pb::Profile p;
    st = pb::Users::NewStub(channel_)->GetProfile(&pc, pb::GetProfileRequest(), &p);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(p.username(), "bob");
  }
}

TEST_F(GrpcServerTest, ExecuteThenStreamLogsUntilTheTaskEnds) {
  std::string token = AdminToken();
  auto agents = pb::Agents::NewStub(channel_);
  grpc::ClientContext ctx;
  Bearer(&ctx, token);
  pb::ExecuteRequest req;
  req.set_agent("kCore");
  req.set_input_json(R"({"goal":"say hello"})");
  pb::ExecuteResponse resp;
  grpc::Status st = agents->Execute(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_FALSE(resp.task_id().empty());

  auto tasks = pb::Tasks::NewStub(channel_);
  grpc::ClientContext sc;
  Bearer(&sc, token);
  sc.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  pb::StreamLogsRequest sreq;
  sreq.set_task_id(resp.task_id());
  auto reader = tasks->StreamLogs(&sc, sreq);
  std::vector<pb::LogLine> lines;
  pb::LogLine line;
  while (reader->Read(&line)) lines.push_back(line);
  st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_FALSE(lines.empty());
  bool ran = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].task_id(), resp.task_id());
    if (i > 0) {
      EXPECT_GT(lines[i].seq(), lines[i - 1].seq());
    }
    if (absl::StrContains(lines[i].message(), "development handler ran")) ran = true;
  }
  EXPECT_TRUE(ran);

  // The stream ended because the task did.
  grpc::ClientContext gc;
  Bearer(&gc, token);
  pb::GetTaskRequest greq;
  greq.set_task_id(resp.task_id());
  pb::Task task;
  st = tasks->Get(&gc, greq, &task);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(task.state(), "succeeded");
  EXPECT_EQ((*ParseJson(task.output_json()))["input"]["goal"], "say hello");

  grpc::ClientContext nc;
  Bearer(&nc, token);
  greq.set_task_id("01HZZZZZZZZZZZZZZZZZZZZZZZ");
  EXPECT_EQ(tasks->Get(&nc, greq, &task).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, SignedPlanIsAcceptedOnceAndChecksEveryAgent) {
  auto sign_plan = [&](const Json& tasks) {
    TaskRequest tr;
    tr.audience = kPlanAudience;
    tr.payload = {{"tasks", tasks}};
    auto env = kernel_->task_signer()->Sign(tr);
    EXPECT_TRUE(env.ok()) << env.status();
    return env.ok() ? env->text : std::string();
  };
  const std::string a = "01J00000000000000000000011", b = "01J00000000000000000000012";
  const std::string plan_env = sign_plan(Json::array(
      {{{"agent", "kCore"}, {"id", a}}, {{"agent", "kExecutor"}, {"id", b}, {"depends_on", {a}}}}));
  auto tasks = pb::Tasks::NewStub(channel_);
  auto submit = [&](const std::string& token, const std::string& envelope,
                    pb::SubmitPlanResponse* resp) {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::SubmitPlanRequest req;
    req.set_envelope(envelope);
    return tasks->SubmitPlan(&ctx, req, resp);
  };
  // A caller who may not run the agents is refused before the envelope is
  // spent, so the owner can still submit it.
  pb::SubmitPlanResponse resp;
  EXPECT_EQ(submit(UserToken("carol"), plan_env, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const std::string admin = AdminToken();
  grpc::Status st = submit(admin, plan_env, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.plan_id().empty());
  ASSERT_EQ(resp.task_ids_size(), 2);
  EXPECT_EQ(resp.task_ids(0), a);
  EXPECT_EQ(resp.task_ids(1), b);
  pb::Task task;
  for (int i = 0; i < 3000; ++i) {
    grpc::ClientContext gc;
    Bearer(&gc, admin);
    pb::GetTaskRequest greq;
    greq.set_task_id(b);
    st = tasks->Get(&gc, greq, &task);
    ASSERT_TRUE(st.ok()) << st.error_message();
    if (task.state() == "succeeded" || task.state() == "failed") break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(task.state(), "succeeded");
  EXPECT_EQ(task.plan_id(), resp.plan_id());
  ASSERT_EQ(task.depends_on_size(), 1);
  EXPECT_EQ(task.depends_on(0), a);
  // The same envelope again is a replay.
  EXPECT_EQ(submit(admin, plan_env, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A single-task envelope is not a plan; a plan without tasks is refused.
  TaskRequest one;
  one.audience = "kCore";
  EXPECT_EQ(submit(admin, kernel_->task_signer()->Sign(one)->text, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(submit(admin, "{not json", &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(submit(admin, sign_plan(Json::array({{{"id", a}}})), &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcServerTest, MemoryAddAndFilteredSearch) {
  std::string token = AdminToken();
  auto mem = pb::Memory::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::CreateNamespaceRequest req;
    req.set_name("team/notes");
    pb::CreateNamespaceResponse resp;
    grpc::Status st = mem->CreateNamespace(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  const std::pair<const char*, const char*> records[] = {{"the cat sat on the mat", "note"},
                                                         {"cats like warm places", "note"},
                                                         {"quarterly revenue grew", "report"}};
  for (const auto& [text, kind] : records) {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::AddMemoryRequest req;
    req.set_ns("team/notes");
    req.set_text(text);
    req.set_metadata_json(DumpJson(Json{{"kind", kind}}));
    pb::AddMemoryResponse resp;
    grpc::Status st = mem->Add(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_FALSE(resp.id().empty());
  }
  grpc::ClientContext ctx;
  Bearer(&ctx, token);
  pb::SearchMemoryRequest req;
  req.set_ns("team/notes");
  req.set_text("cat");
  req.set_k(10);
  req.set_filter_json(R"({"kind":"note"})");
  pb::SearchMemoryResponse resp;
  grpc::Status st = mem->Search(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.hits_size(), 2);
  for (const auto& h : resp.hits()) EXPECT_EQ((*ParseJson(h.metadata_json()))["kind"], "note");

  grpc::ClientContext bad;
  Bearer(&bad, token);
  req.set_filter_json("{not json");
  EXPECT_EQ(mem->Search(&bad, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcServerTest, VaultAndTransitRoundTrip) {
  std::string token = AdminToken();
  auto vault = pb::Vault::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::PutSecretRequest req;
    req.set_path("kv/team/openai");
    req.set_value(std::string("sk-\0binary", 10));
    pb::PutSecretResponse resp;
    grpc::Status st = vault->Put(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.version(), 1u);
  }
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::GetSecretRequest req;
    req.set_path("kv/team/openai");
    pb::Secret s;
    grpc::Status st = vault->Get(&ctx, req, &s);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(s.value(), std::string("sk-\0binary", 10));
    grpc::ClientContext nc;
    Bearer(&nc, token);
    req.set_path("kv/team/absent");
    EXPECT_EQ(vault->Get(&nc, req, &s).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  std::string ciphertext;
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::TransitEncryptRequest req;
    req.set_key("payments");
    req.set_plaintext("4111 1111 1111 1111");
    req.set_context("order-7");
    pb::TransitEncryptResponse resp;
    grpc::Status st = vault->TransitEncrypt(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ciphertext = resp.ciphertext();
    EXPECT_EQ(ciphertext.find("4111"), std::string::npos);
  }
  grpc::ClientContext ctx;
  Bearer(&ctx, token);
  pb::TransitDecryptRequest req;
  req.set_key("payments");
  req.set_ciphertext(ciphertext);
  req.set_context("order-7");
  pb::TransitDecryptResponse resp;
  grpc::Status st = vault->TransitDecrypt(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.plaintext(), "4111 1111 1111 1111");
}

TEST_F(GrpcServerTest, ArtifactUploadAndDownloadStream) {
  std::string token = AdminToken();
  auto arts = pb::Artifacts::NewStub(channel_);
  std::string content;
  for (int i = 0; i < 200'000; ++i) content.push_back(static_cast<char>('a' + (i * 7) % 26));

  pb::ArtifactMetadata meta;
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    auto writer = arts->Upload(&ctx, &meta);
    pb::UploadRequest msg;
    msg.mutable_info()->set_name("notes.txt");
    msg.mutable_info()->set_content_type("text/plain");
    ASSERT_TRUE(writer->Write(msg));
    // Uneven chunks, crossing the server's 64 KiB content chunks.
    for (size_t off = 0, n = 70'001; off < content.size(); off += n) {
      msg.Clear();
      msg.set_data(content.substr(off, n));
      ASSERT_TRUE(writer->Write(msg));
    }
    ASSERT_TRUE(writer->WritesDone());
    grpc::Status st = writer->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(meta.size(), content.size());
  EXPECT_EQ(meta.info().name(), "notes.txt");
  EXPECT_FALSE(meta.id().empty());

  grpc::ClientContext ctx;
  Bearer(&ctx, token);
  pb::DownloadRequest req;
  req.set_id(meta.id());
  auto reader = arts->Download(&ctx, req);
  pb::DownloadResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_TRUE(msg.has_metadata());
  EXPECT_EQ(msg.metadata().size(), content.size());
  std::string got;
  int chunks = 0;
  while (reader->Read(&msg)) {
    ASSERT_TRUE(msg.has_data());
    got += msg.data();
    ++chunks;
  }
  grpc::Status st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(got, content);
  EXPECT_GT(chunks, 1);

  // An upload that does not start with info is refused and stores nothing.
  grpc::ClientContext bc;
  Bearer(&bc, token);
  pb::ArtifactMetadata none;
  auto writer = arts->Upload(&bc, &none);
  pb::UploadRequest data;
  data.set_data("x");
  writer->Write(data);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcServerTest, HealthCheckIsServing) {
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  // HealthCheckRequest{service: ""} encodes to zero bytes (one empty slice:
  // a ByteBuffer without slices is not a message).
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status st = done.get_future().get();
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{status: SERVING (1)}: field 1, varint 1.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(GrpcServerTest, PromptSaveAndRender) {
  std::string token = AdminToken();
  auto prompts = pb::Prompts::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    Bearer(&ctx, token);
    pb::SavePromptRequest req;
    req.set_name("greeting");
    req.set_text("Hello {{name}}!");
    req.set_variables_json(R"([{"name":"name","type":"string"}])");
    req.add_labels("production");
    pb::PromptVersion v;
    grpc::Status st = prompts->Save(&ctx, req, &v);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(v.version(), 1);
  }
  grpc::ClientContext ctx;
  Bearer(&ctx, token);
  pb::RenderPromptRequest req;
  req.set_name("greeting");
  req.set_variables_json(R"({"name":"Ada"})");
  pb::RenderedPrompt r;
  grpc::Status st = prompts->Render(&ctx, req, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.text(), "Hello Ada!");
  grpc::ClientContext bc;
  Bearer(&bc, token);
  req.set_variables_json("{}");
  EXPECT_EQ(prompts->Render(&bc, req, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(GrpcServerOptionsTest, TlsNeedsCertAndKey) {
  GrpcServerOptions o;
  o.tls_cert_file = "/nonexistent/cert.pem";
  auto s = GrpcServer::Create(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos::server
