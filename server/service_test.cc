// The service over real gRPC (in-process server on loopback): every bad input
// gets the right status code and a message naming what was wrong, and nothing
// is lost or applied twice.
#include <memory>
#include <string>

#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "server/job_config.h"
#include "server/server.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::server {
namespace {

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(""); }

  void StartServer(const std::string& token) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.store = "memory:";
    options.auth_token = token;
    options.max_message_bytes = 1 << 20;
    auto server = AutoLrsServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::AutoLrsService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  v1::JobConfig Config() {
    v1::JobConfig c;
    c.set_lr_min(1e-3);
    c.set_lr_max(1.0);
    c.set_tau_initial(100);
    c.set_tau_max(200);
    c.set_probes_per_stage(3);
    return c;
  }

  grpc::Status Create(const std::string& job_id, const v1::JobConfig& config, v1::Job* job,
                      const std::string& request_id = "") {
    grpc::ClientContext ctx;
    v1::CreateJobRequest req;
    req.set_job_id(job_id);
    *req.mutable_config() = config;
    req.set_request_id(request_id);
    return stub_->CreateJob(&ctx, req, job);
  }

  grpc::Status Next(const std::string& job_id, int rank, v1::Action* action) {
    grpc::ClientContext ctx;
    v1::NextActionRequest req;
    req.set_job_id(job_id);
    req.set_worker_rank(rank);
    return stub_->NextAction(&ctx, req, action);
  }

  grpc::Status Report(const v1::ReportLossesRequest& req, v1::Action* next) {
    grpc::ClientContext ctx;
    return stub_->ReportLosses(&ctx, req, next);
  }

  std::unique_ptr<AutoLrsServer> server_;
  std::unique_ptr<v1::AutoLrsService::Stub> stub_;
};

void ExpectError(const grpc::Status& s, grpc::StatusCode code, const std::string& text) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_NE(s.error_message().find(text), std::string::npos)
      << "'" << s.error_message() << "' does not mention '" << text << "'";
}

TEST_F(ServiceTest, CreateJobValidatesTheConfigNamingTheField) {
  v1::Job job;
  struct Case {
    std::function<void(v1::JobConfig&)> mutate;
    std::string field;
  } cases[] = {
      {[](v1::JobConfig& c) { c.set_lr_min(0); }, "config.lr_min"},
      {[](v1::JobConfig& c) { c.set_lr_min(-1e-3); }, "config.lr_min"},
      {[](v1::JobConfig& c) { c.set_lr_max(1e-3); }, "config.lr_max"},
      {[](v1::JobConfig& c) { c.set_lr_max(std::nan("")); }, "config.lr_max"},
      {[](v1::JobConfig& c) { c.set_tau_initial(3); }, "config.tau_initial"},
      {[](v1::JobConfig& c) { c.set_tau_initial(2'000'000'000); }, "config.tau_initial"},
      {[](v1::JobConfig& c) { c.set_probe_ratio(2); }, "config.probe_ratio"},
      {[](v1::JobConfig& c) { c.set_probes_per_stage(1); }, "config.probes_per_stage"},
      {[](v1::JobConfig& c) { c.set_num_workers(-2); }, "config.num_workers"},
  };
  for (const Case& c : cases) {
    v1::JobConfig config = Config();
    c.mutate(config);
    ExpectError(Create("", config, &job), grpc::StatusCode::INVALID_ARGUMENT, c.field);
  }
  ExpectError(Create("Bad Id!", Config(), &job), grpc::StatusCode::INVALID_ARGUMENT, "job_id");
  ExpectError(Create("", Config(), &job, std::string(200, 'r')), grpc::StatusCode::INVALID_ARGUMENT,
              "request_id");
  // Nothing was created.
  grpc::ClientContext ctx;
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(&ctx, v1::ListJobsRequest(), &list).ok());
  EXPECT_EQ(list.jobs_size(), 0);
}

TEST_F(ServiceTest, CreateJobIsIdempotentByRequestId) {
  v1::Job first, again, other;
  ASSERT_TRUE(Create("", Config(), &first, "req-1").ok());
  ASSERT_TRUE(Create("", Config(), &again, "req-1").ok());
  EXPECT_EQ(first.job_id(), again.job_id());
  ASSERT_TRUE(Create("", Config(), &other, "req-2").ok());
  EXPECT_NE(first.job_id(), other.job_id());
  ASSERT_TRUE(Create("mine", Config(), &other).ok());
  ExpectError(Create("mine", Config(), &other), grpc::StatusCode::ALREADY_EXISTS, "mine");
  EXPECT_EQ(first.config().tau_initial(), 100);
  EXPECT_EQ(first.config().probes_per_stage(), 3);
  EXPECT_EQ(first.state(), v1::JOB_STATE_RUNNING);
  EXPECT_GT(first.create_time().seconds(), 0);
}

TEST_F(ServiceTest, UnknownJobsAreNotFound) {
  v1::Action action;
  ExpectError(Next("nope", 0, &action), grpc::StatusCode::NOT_FOUND, "nope");
  v1::ReportLossesRequest req;
  req.set_job_id("nope");
  req.set_action_id(1);
  ExpectError(Report(req, &action), grpc::StatusCode::NOT_FOUND, "nope");
  grpc::ClientContext c1, c2, c3;
  v1::GetJobRequest get;
  get.set_job_id("nope");
  v1::Job job;
  ExpectError(stub_->GetJob(&c1, get, &job), grpc::StatusCode::NOT_FOUND, "nope");
  v1::DeleteJobRequest del;
  del.set_job_id("nope");
  v1::DeleteJobResponse deleted;
  ExpectError(stub_->DeleteJob(&c2, del, &deleted), grpc::StatusCode::NOT_FOUND, "nope");
  v1::GetScheduleRequest sched;
  v1::Schedule schedule;
  ExpectError(stub_->GetSchedule(&c3, sched, &schedule), grpc::StatusCode::INVALID_ARGUMENT,
              "job_id is required");
  EXPECT_EQ(server_->scheduler().cached_jobs(), 0u);
}

TEST_F(ServiceTest, ReportsThatDoNotMatchTheActionAreRejectedAndChangeNothing) {
  v1::JobConfig config = Config();
  config.set_num_workers(2);
  v1::Job job;
  ASSERT_TRUE(Create("j", config, &job).ok());
  v1::Action action, next;
  ASSERT_TRUE(Next("j", 0, &action).ok());
  ASSERT_EQ(action.steps(), 10);

  v1::ReportLossesRequest req;
  req.set_job_id("j");
  req.set_action_id(action.action_id());
  for (int i = 0; i < 9; ++i) req.add_losses(1.0);
  ExpectError(Report(req, &next), grpc::StatusCode::INVALID_ARGUMENT, "expected 10 losses, got 9");
  req.add_losses(1.0);
  req.add_eval_losses(0.5);
  ExpectError(Report(req, &next), grpc::StatusCode::INVALID_ARGUMENT,
              "asks for 0 validation losses, got 1");
  req.clear_eval_losses();
  req.set_action_id(action.action_id() + 5);
  ExpectError(Report(req, &next), grpc::StatusCode::FAILED_PRECONDITION, "has not been issued");
  req.set_action_id(action.action_id());
  req.set_worker_rank(2);
  ExpectError(Report(req, &next), grpc::StatusCode::INVALID_ARGUMENT, "worker_rank");
  ExpectError(Next("j", -1, &next), grpc::StatusCode::INVALID_ARGUMENT, "worker_rank");

  // The valid report still applies, once per rank.
  req.set_worker_rank(0);
  ASSERT_TRUE(Report(req, &next).ok());
  EXPECT_EQ(next.phase(), v1::PHASE_WAIT);
  ASSERT_TRUE(Report(req, &next).ok());  // Retry: same answer.
  EXPECT_EQ(next.phase(), v1::PHASE_WAIT);
  req.set_worker_rank(1);
  ASSERT_TRUE(Report(req, &next).ok());
  EXPECT_EQ(next.phase(), v1::PHASE_PROBE);
  EXPECT_EQ(next.action_id(), action.action_id() + 1);
  // A stale report is answered with the current action and applies nothing.
  v1::Action stale;
  ASSERT_TRUE(Report(req, &stale).ok());
  EXPECT_EQ(stale.action_id(), next.action_id());
  grpc::ClientContext ctx;
  v1::GetScheduleRequest sreq;
  sreq.set_job_id("j");
  v1::Schedule schedule;
  ASSERT_TRUE(stub_->GetSchedule(&ctx, sreq, &schedule).ok());
  ASSERT_EQ(schedule.stages_size(), 1);
  EXPECT_EQ(schedule.stages(0).probes_size(), 1);
}

TEST_F(ServiceTest, OversizedRequestsAreRejected) {
  v1::Job job;
  ASSERT_TRUE(Create("big", Config(), &job).ok());
  v1::ReportLossesRequest req;
  req.set_job_id("big");
  req.set_action_id(job.current_action_id());
  for (int i = 0; i < 200'000; ++i) req.add_losses(1.0);  // 1.6 MB > 1 MiB.
  v1::Action next;
  EXPECT_EQ(Report(req, &next).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::Action action;
  ASSERT_TRUE(Next("big", 0, &action).ok());
  EXPECT_EQ(action.action_id(), job.current_action_id());
}

TEST_F(ServiceTest, ListPaginatesAndDeleteRemoves) {
  v1::Job job;
  for (const char* id : {"a", "b", "c", "d", "e"}) ASSERT_TRUE(Create(id, Config(), &job).ok());
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    v1::ListJobsRequest req;
    req.set_page_size(2);
    req.set_page_token(token);
    v1::ListJobsResponse resp;
    ASSERT_TRUE(stub_->ListJobs(&ctx, req, &resp).ok());
    for (const v1::Job& j : resp.jobs()) seen.push_back(j.job_id());
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(pages, 3);
  {
    grpc::ClientContext ctx;
    v1::ListJobsRequest req;
    req.set_page_size(5000);
    v1::ListJobsResponse resp;
    ExpectError(stub_->ListJobs(&ctx, req, &resp), grpc::StatusCode::INVALID_ARGUMENT, "page_size");
  }
  grpc::ClientContext ctx;
  v1::DeleteJobRequest del;
  del.set_job_id("c");
  v1::DeleteJobResponse resp;
  ASSERT_TRUE(stub_->DeleteJob(&ctx, del, &resp).ok());
  v1::Action action;
  ExpectError(Next("c", 0, &action), grpc::StatusCode::NOT_FOUND, "c");
}

TEST_F(ServiceTest, AWholeJobRunsOverGrpc) {
  v1::JobConfig config = Config();
  config.set_total_steps(700);
  v1::Job job;
  ASSERT_TRUE(Create("whole", config, &job).ok());
  autolrs::testing::SyntheticTrainer trainer(1);
  v1::Action action;
  ASSERT_TRUE(Next("whole", 0, &action).ok());
  int actions = 0;
  while (action.phase() != v1::PHASE_DONE && actions < 100) {
    ASSERT_TRUE(Report(autolrs::testing::RunAction(action, trainer), &action).ok());
    ++actions;
  }
  EXPECT_EQ(action.phase(), v1::PHASE_DONE);
  grpc::ClientContext ctx;
  v1::GetJobRequest get;
  get.set_job_id("whole");
  ASSERT_TRUE(stub_->GetJob(&ctx, get, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(job.steps_spent(), 700);
}

TEST_F(ServiceTest, AuthTokenIsRequiredWhenConfigured) {
  StartServer("s3cret");
  v1::Job job;
  ExpectError(Create("", Config(), &job), grpc::StatusCode::UNAUTHENTICATED, "authorization");
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer s3cret");
  v1::CreateJobRequest req;
  *req.mutable_config() = Config();
  EXPECT_TRUE(stub_->CreateJob(&ctx, req, &job).ok());
}

}  // namespace
}  // namespace autolrs::server

namespace autolrs::server {
namespace {

// Bytes that are no protobuf message (a field key with wire type 7) answer
// INVALID_ARGUMENT, as any other bad input does, not INTERNAL.
TEST_F(ServiceTest, UndecodableRequestBytesAreInvalidArgument) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                     grpc::InsecureChannelCredentials());
  for (const char* method :
       {"/autolrs.v1.AutoLrsService/ReportLosses", "/autolrs.v1.AutoLrsService/CreateJob",
        "/autolrs.v1.AutoLrsService/GetJob"}) {
    const grpc::internal::RpcMethod rpc(method, grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::Slice garbage(std::string("\x0f\xff\xff\xff"));
    grpc::ByteBuffer request(&garbage, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    const grpc::Status s = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel.get(), rpc, &ctx, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << s.error_message();
  }
  // Well-formed calls still work through the same registration.
  v1::Job job;
  EXPECT_TRUE(Create("after-garbage", Config(), &job).ok());
}

TEST(ConstantTimeEqualsTest, ComparesLikeEquality) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("Bearer abc", "Bearer abc"));
  EXPECT_FALSE(ConstantTimeEquals("Bearer abd", "Bearer abc"));
  EXPECT_FALSE(ConstantTimeEquals("Bearer ab", "Bearer abc"));
  EXPECT_FALSE(ConstantTimeEquals("Bearer abcd", "Bearer abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "Bearer abc"));
  EXPECT_FALSE(ConstantTimeEquals("x", ""));
}

TEST(ServiceLimitsTest, ACallWhoseDeadlinePassedWhileQueuedIsRefusedWithoutWork) {
  const auto now = std::chrono::system_clock::now();
  const absl::Status expired = CheckNotExpired(now - std::chrono::milliseconds(1), now);
  EXPECT_TRUE(absl::IsDeadlineExceeded(expired)) << expired;
  EXPECT_NE(expired.message().find("overloaded"), std::string::npos) << expired;
  EXPECT_TRUE(CheckNotExpired(now, now).ok());
  EXPECT_TRUE(CheckNotExpired(now + std::chrono::seconds(5), now).ok());
  // A call without a deadline has the largest one.
  EXPECT_TRUE(CheckNotExpired(std::chrono::system_clock::time_point::max(), now).ok());
}

TEST(ServiceLimitsTest, TheLargestActionsReportFitsTheDefaultRequestLimit) {
  v1::ReportLossesRequest report;
  report.set_job_id(std::string(63, 'j'));
  report.set_action_id(INT64_MAX);
  report.set_worker_rank(kMaxWorkers - 1);
  for (int64_t i = 0; i < kMaxActionSteps; ++i) report.add_losses(1.0 / 3);
  for (int i = 0; i < kMaxEvalPoints; ++i) report.add_eval_losses(1.0 / 3);
  EXPECT_LE(report.ByteSizeLong(), static_cast<size_t>(kDefaultMaxMessageBytes));
}

}  // namespace
}  // namespace autolrs::server
