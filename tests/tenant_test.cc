// Tenants over real gRPC: every job belongs to the tenant whose token
// created it; to every other tenant it does not exist (NOT_FOUND on every
// RPC, with the message a missing job gets, and nothing changes); ListJobs
// lists only the caller's jobs; an admin sees all; request ids are per
// tenant; tokens reload; a server without tokens listens on loopback only.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/memory_job_store.h"
#include "server/scheduler.h"
#include "server/server.h"

namespace autolrs::server {
namespace {

constexpr char kAlice[] = "alice-0123456789abcdef";
constexpr char kBob[] = "bob-0123456789abcdef00";
constexpr char kAdmin[] = "admin-0123456789abcdef";

class TenantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_file_ = ::testing::TempDir() + "/tokens_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name();
    WriteTokens(absl::StrCat(kAlice, " alice\n", kBob, " bob\n", kAdmin, " ops admin\n"));
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.store = "memory:";
    options.token_file = token_file_;
    auto server = AutoLrsServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::AutoLrsService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  void WriteTokens(const std::string& text) { std::ofstream(token_file_) << text; }

  // A context carrying `token` (none when empty).
  std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return context;
  }

  grpc::Status Create(const std::string& token, const std::string& job_id, v1::Job* job,
                      const std::string& request_id = "") {
    v1::CreateJobRequest request;
    request.set_job_id(job_id);
    request.set_request_id(request_id);
    request.mutable_config()->set_lr_min(1e-3);
    request.mutable_config()->set_lr_max(1.0);
    request.mutable_config()->set_tau_initial(20);
    request.mutable_config()->set_tau_max(40);
    request.mutable_config()->set_probes_per_stage(2);
    return stub_->CreateJob(As(token).get(), request, job);
  }

  std::vector<std::string> List(const std::string& token, int page_size = 0) {
    std::vector<std::string> ids;
    v1::ListJobsRequest request;
    request.set_page_size(page_size);
    for (;;) {
      v1::ListJobsResponse response;
      const grpc::Status status = stub_->ListJobs(As(token).get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const v1::Job& job : response.jobs()) ids.push_back(job.job_id());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return ids;
  }

  // Every RPC on `job_id` as `token`: their statuses, in a fixed order.
  std::vector<grpc::Status> EveryRpc(const std::string& token, const std::string& job_id,
                                     int64_t action_id) {
    std::vector<grpc::Status> statuses;
    v1::Job job;
    v1::GetJobRequest get;
    get.set_job_id(job_id);
    statuses.push_back(stub_->GetJob(As(token).get(), get, &job));
    v1::NextActionRequest next;
    next.set_job_id(job_id);
    v1::Action action;
    statuses.push_back(stub_->NextAction(As(token).get(), next, &action));
    v1::ReportLossesRequest report;
    report.set_job_id(job_id);
    report.set_action_id(action_id);
    report.add_losses(1.0);
    statuses.push_back(stub_->ReportLosses(As(token).get(), report, &action));
    v1::GetScheduleRequest schedule_request;
    schedule_request.set_job_id(job_id);
    v1::Schedule schedule;
    statuses.push_back(stub_->GetSchedule(As(token).get(), schedule_request, &schedule));
    v1::DeleteJobRequest del;
    del.set_job_id(job_id);
    v1::DeleteJobResponse deleted;
    statuses.push_back(stub_->DeleteJob(As(token).get(), del, &deleted));
    return statuses;
  }

  std::string token_file_;
  std::unique_ptr<AutoLrsServer> server_;
  std::unique_ptr<v1::AutoLrsService::Stub> stub_;
};

TEST_F(TenantTest, AnotherTenantsJobDoesNotExistForAnyRpc) {
  v1::Job alices;
  ASSERT_TRUE(Create(kAlice, "shared-name", &alices).ok());
  EXPECT_EQ(alices.tenant(), "alice");
  v1::Action action;
  v1::NextActionRequest next;
  next.set_job_id("shared-name");
  ASSERT_TRUE(stub_->NextAction(As(kAlice).get(), next, &action).ok());

  // Bob gets what a missing job gets, message included, on every RPC.
  const std::vector<grpc::Status> foreign = EveryRpc(kBob, "shared-name", action.action_id());
  const std::vector<grpc::Status> missing = EveryRpc(kBob, "no-such-job", action.action_id());
  ASSERT_EQ(foreign.size(), missing.size());
  for (size_t i = 0; i < foreign.size(); ++i) {
    EXPECT_EQ(foreign[i].error_code(), grpc::StatusCode::NOT_FOUND) << i;
    EXPECT_EQ(foreign[i].error_message(),
              absl::StrReplaceAll(missing[i].error_message(), {{"no-such-job", "shared-name"}}))
        << i;
  }
  // Nothing changed: Alice's job is still there, at the same action.
  v1::Job after;
  v1::GetJobRequest get;
  get.set_job_id("shared-name");
  ASSERT_TRUE(stub_->GetJob(As(kAlice).get(), get, &after).ok());
  EXPECT_EQ(after.current_action_id(), alices.current_action_id());
  EXPECT_EQ(after.steps_spent(), 0);

  // Alice can use every RPC on it (the report is the wrong length: her own
  // job answers INVALID_ARGUMENT, not NOT_FOUND), the delete last.
  const std::vector<grpc::Status> own = EveryRpc(kAlice, "shared-name", action.action_id());
  EXPECT_TRUE(own[0].ok());
  EXPECT_TRUE(own[1].ok());
  EXPECT_EQ(own[2].error_code(), grpc::StatusCode::INVALID_ARGUMENT) << own[2].error_message();
  EXPECT_TRUE(own[3].ok());
  EXPECT_TRUE(own[4].ok());
}

TEST_F(TenantTest, ListJobsListsOnlyTheCallersJobsAndAdminsSeeAll) {
  v1::Job job;
  for (const char* id : {"a1", "a2", "a3"}) ASSERT_TRUE(Create(kAlice, id, &job).ok());
  for (const char* id : {"a15", "b1", "b2"}) ASSERT_TRUE(Create(kBob, id, &job).ok());
  ASSERT_TRUE(Create(kAdmin, "o1", &job).ok());
  EXPECT_EQ(job.tenant(), "ops");

  EXPECT_EQ(List(kAlice), (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_EQ(List(kAlice, 1), (std::vector<std::string>{"a1", "a2", "a3"}));  // Paginated.
  EXPECT_EQ(List(kAlice, 2), (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_EQ(List(kBob, 1), (std::vector<std::string>{"a15", "b1", "b2"}));
  EXPECT_EQ(List(kAdmin), (std::vector<std::string>{"a1", "a15", "a2", "a3", "b1", "b2", "o1"}));

  // The admin sees and uses another tenant's job.
  v1::GetJobRequest get;
  get.set_job_id("b1");
  ASSERT_TRUE(stub_->GetJob(As(kAdmin).get(), get, &job).ok());
  EXPECT_EQ(job.tenant(), "bob");
  v1::DeleteJobRequest del;
  del.set_job_id("b1");
  v1::DeleteJobResponse deleted;
  EXPECT_TRUE(stub_->DeleteJob(As(kAdmin).get(), del, &deleted).ok());
  EXPECT_EQ(List(kBob), (std::vector<std::string>{"a15", "b2"}));
}

TEST_F(TenantTest, RequestIdsArePerTenant) {
  v1::Job alices, bobs, again;
  ASSERT_TRUE(Create(kAlice, "", &alices, "same-request").ok());
  ASSERT_TRUE(Create(kBob, "", &bobs, "same-request").ok());
  EXPECT_NE(bobs.job_id(), alices.job_id());
  EXPECT_EQ(bobs.tenant(), "bob");
  ASSERT_TRUE(Create(kAlice, "", &again, "same-request").ok());  // A retry.
  EXPECT_EQ(again.job_id(), alices.job_id());
}

TEST_F(TenantTest, CallsNeedAKnownTokenAndTokensReload) {
  v1::Job job;
  EXPECT_EQ(Create("", "x", &job).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Create("not-a-known-token-at-all", "x", &job).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Create(kBob, "b", &job).ok());

  // Bob's token is revoked, a new one issued for him.
  const std::string renewed = "bob-renewed-0123456789";
  WriteTokens(absl::StrCat(kAlice, " alice\n", renewed, " bob\n"));
  ASSERT_TRUE(server_->Reload().ok());
  EXPECT_EQ(Create(kBob, "b2", &job).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(List(renewed), (std::vector<std::string>{"b"}));

  // A broken file keeps the tokens in use.
  WriteTokens("broken\n");
  const absl::Status broken = server_->Reload();
  EXPECT_TRUE(absl::IsInvalidArgument(broken)) << broken;
  EXPECT_EQ(List(renewed), (std::vector<std::string>{"b"}));
}

TEST(TenantListTest, PagesThroughManyBatchesOfOtherTenantsJobs) {
  MemoryJobStore store;
  Scheduler scheduler(&store);
  const Caller alice{"alice", false}, bob{"bob", false};
  v1::CreateJobRequest request;
  request.mutable_config()->set_lr_min(1e-3);
  request.mutable_config()->set_lr_max(1.0);
  std::vector<std::string> alices;
  for (int i = 0; i < 1300; ++i) {  // Alice holds every 4th: batches of 256 hold ~64.
    request.set_job_id(absl::StrFormat("j%05d", i));
    ASSERT_TRUE(scheduler.CreateJob(request, i % 4 == 0 ? alice : bob).ok());
    if (i % 4 == 0) alices.push_back(request.job_id());
  }
  for (int page_size : {0, 7, 325, 1000}) {
    std::vector<std::string> listed;
    v1::ListJobsRequest list;
    list.set_page_size(page_size);
    for (;;) {
      auto page = scheduler.ListJobs(list, alice);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const v1::Job& job : page->jobs()) listed.push_back(job.job_id());
      if (page->next_page_token().empty()) break;
      ASSERT_LE(listed.size(), alices.size());
      list.set_page_token(page->next_page_token());
    }
    EXPECT_EQ(listed, alices) << "page_size " << page_size;
  }
}

TEST(LoopbackTest, ServerWithoutTokensListensOnLoopbackOnly) {
  EXPECT_EQ(LoopbackAddress("0.0.0.0:50051"), "127.0.0.1:50051");
  EXPECT_EQ(LoopbackAddress("[::]:50051"), "127.0.0.1:50051");
  EXPECT_EQ(LoopbackAddress("10.1.2.3:7"), "127.0.0.1:7");
  EXPECT_EQ(LoopbackAddress("127.0.0.1:7"), "127.0.0.1:7");
  EXPECT_EQ(LoopbackAddress("[::1]:7"), "[::1]:7");
  EXPECT_EQ(LoopbackAddress("localhost:7"), "localhost:7");
  EXPECT_EQ(LoopbackAddress("bad.invalid:port"), "bad.invalid:port");

  ServerOptions options;
  options.listen_address = "0.0.0.0:0";
  options.store = "memory:";
  auto open = AutoLrsServer::Start(options);
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_EQ((*open)->listen_address(), "127.0.0.1:0");
  options.allow_remote_without_auth = true;
  auto allowed = AutoLrsServer::Start(options);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ((*allowed)->listen_address(), "0.0.0.0:0");
  options.allow_remote_without_auth = false;
  options.auth_token = "legacy";
  auto authenticated = AutoLrsServer::Start(options);
  ASSERT_TRUE(authenticated.ok()) << authenticated.status();
  EXPECT_EQ((*authenticated)->listen_address(), "0.0.0.0:0");
  options.token_file = "/nonexistent";
  EXPECT_TRUE(absl::IsInvalidArgument(AutoLrsServer::Start(options).status()));  // Both.
}

}  // namespace
}  // namespace autolrs::server
