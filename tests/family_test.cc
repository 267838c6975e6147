// Families over real gRPC (JobConfig.family, GetFamily, ListFamilies,
// DeleteFamily): a finished job joins its family durably (the family and the
// next job's prior survive a server restart on SQLite); the RPCs' errors are
// the documented ones and change nothing; families never cross tenants.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::server {
namespace {

constexpr char kAlice[] = "alice-0123456789abcdef";
constexpr char kBob[] = "bob-0123456789abcdef00";

class FamilyRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/family_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/tokens") << kAlice << " alice\n" << kBob << " bob\n";
    Start();
  }

  void Start() {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.store = "sqlite:" + dir_ + "/autolrs.db";
    options.token_file = dir_ + "/tokens";
    auto server = AutoLrsServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::AutoLrsService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  void Restart() {
    server_->Shutdown();
    server_.reset();
    Start();
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return context;
  }

  static v1::JobConfig Config(const std::string& family, uint64_t seed) {
    v1::JobConfig c;
    c.set_lr_min(1e-3);
    c.set_lr_max(1.0);
    c.set_tau_initial(40);
    c.set_tau_max(80);
    c.set_probes_per_stage(4);
    c.set_total_steps(1200);
    c.set_seed(seed);
    c.set_family(family);
    return c;
  }

  // Creates job `id` of `config` as `token` and trains it to DONE on a
  // synthetic trainer; returns the job as created.
  v1::Job RunJob(const std::string& token, const std::string& id, const v1::JobConfig& config) {
    v1::CreateJobRequest create;
    create.set_job_id(id);
    *create.mutable_config() = config;
    v1::Job job;
    grpc::Status status = stub_->CreateJob(As(token).get(), create, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) return job;
    testing::SyntheticTrainer trainer(config.seed());
    v1::NextActionRequest next;
    next.set_job_id(id);
    v1::Action action;
    EXPECT_TRUE(stub_->NextAction(As(token).get(), next, &action).ok());
    for (int i = 0; i < 500 && action.phase() != v1::PHASE_DONE; ++i) {
      v1::ReportLossesRequest report = testing::RunAction(action, trainer);
      report.set_job_id(id);
      status = stub_->ReportLosses(As(token).get(), report, &action);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
    }
    EXPECT_EQ(action.phase(), v1::PHASE_DONE);
    return job;
  }

  grpc::Status GetFamily(const std::string& token, const std::string& name, v1::Family* family) {
    v1::GetFamilyRequest request;
    request.set_name(name);
    return stub_->GetFamily(As(token).get(), request, family);
  }

  std::string dir_;
  std::unique_ptr<AutoLrsServer> server_;
  std::unique_ptr<v1::AutoLrsService::Stub> stub_;
};

TEST_F(FamilyRpcTest, AFinishedJobJoinsItsFamilyAndTheNextJobStartsFromIt) {
  v1::Job first = RunJob(kAlice, "first", Config("mlp", 1));
  EXPECT_EQ(first.family_prior_runs(), 0);
  v1::Family family;
  ASSERT_TRUE(GetFamily(kAlice, "mlp", &family).ok());
  EXPECT_EQ(family.name(), "mlp");
  EXPECT_EQ(family.tenant(), "alice");
  ASSERT_EQ(family.runs_size(), 1);
  EXPECT_EQ(family.runs(0).job_id(), "first");
  EXPECT_GT(family.runs(0).stages_size(), 0);
  EXPECT_GT(family.curve_size(), 0);
  EXPECT_EQ(family.runs_recorded(), 1);

  // Durable: the family, and the prior it gives, survive a restart.
  Restart();
  v1::Family again;
  ASSERT_TRUE(GetFamily(kAlice, "mlp", &again).ok());
  EXPECT_EQ(again.SerializeAsString(), family.SerializeAsString());
  v1::Job second = RunJob(kAlice, "second", Config("mlp", 2));
  EXPECT_EQ(second.family_prior_runs(), 1);
  v1::GetScheduleRequest get;
  get.set_job_id("second");
  v1::Schedule schedule;
  ASSERT_TRUE(stub_->GetSchedule(As(kAlice).get(), get, &schedule).ok());
  EXPECT_GT(schedule.stages(0).family_lr(), 0);

  ASSERT_TRUE(GetFamily(kAlice, "mlp", &family).ok());
  ASSERT_EQ(family.runs_size(), 2);
  EXPECT_EQ(family.runs(1).job_id(), "second");
  EXPECT_EQ(family.runs(1).prior_runs(), 1);
  EXPECT_LT(family.runs(1).probe_fraction(), family.runs(0).probe_fraction());

  v1::ListFamiliesRequest list;
  v1::ListFamiliesResponse listed;
  ASSERT_TRUE(stub_->ListFamilies(As(kAlice).get(), list, &listed).ok());
  ASSERT_EQ(listed.families_size(), 1);
  EXPECT_EQ(listed.families(0).runs_size(), 2);
  EXPECT_EQ(listed.families(0).runs(0).stages_size(), 0);  // Listed without stages.
  EXPECT_GT(listed.families(0).curve_size(), 0);
}

TEST_F(FamilyRpcTest, BadRequestsGetTheDocumentedErrorsAndChangeNothing) {
  RunJob(kAlice, "first", Config("mlp", 1));
  v1::Family family;
  for (const std::string& bad :
       std::vector<std::string>{"", "Bad Name", std::string(64, 'a')}) {
    grpc::Status s = GetFamily(kAlice, bad, &family);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(s.error_message().find("name"), std::string::npos) << s.error_message();
  }
  grpc::Status s = GetFamily(kAlice, "nope", &family);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("nope"), std::string::npos) << s.error_message();

  v1::ListFamiliesRequest list;
  v1::ListFamiliesResponse listed;
  list.set_page_size(-1);
  EXPECT_EQ(stub_->ListFamilies(As(kAlice).get(), list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  list.set_page_size(1001);
  EXPECT_EQ(stub_->ListFamilies(As(kAlice).get(), list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  list.set_page_size(0);
  list.set_page_token("Not A Token");
  EXPECT_EQ(stub_->ListFamilies(As(kAlice).get(), list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::DeleteFamilyRequest del;
  v1::DeleteFamilyResponse deleted;
  del.set_name("nope");
  EXPECT_EQ(stub_->DeleteFamily(As(kAlice).get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  del.set_name("Bad Name");
  EXPECT_EQ(stub_->DeleteFamily(As(kAlice).get(), del, &deleted).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::CreateJobRequest create;
  create.set_job_id("bad-family");
  *create.mutable_config() = Config("Bad Name", 3);
  v1::Job job;
  s = stub_->CreateJob(As(kAlice).get(), create, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("config.family"), std::string::npos) << s.error_message();

  // Nothing changed: the family holds its one run.
  ASSERT_TRUE(GetFamily(kAlice, "mlp", &family).ok());
  EXPECT_EQ(family.runs_size(), 1);
}

TEST_F(FamilyRpcTest, DeletingAFamilyForgetsItsKnowledgeButNotItsJobs) {
  RunJob(kAlice, "first", Config("mlp", 1));
  v1::DeleteFamilyRequest del;
  del.set_name("mlp");
  v1::DeleteFamilyResponse deleted;
  ASSERT_TRUE(stub_->DeleteFamily(As(kAlice).get(), del, &deleted).ok());
  v1::Family family;
  EXPECT_EQ(GetFamily(kAlice, "mlp", &family).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(stub_->DeleteFamily(As(kAlice).get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::GetJobRequest get;
  get.set_job_id("first");
  v1::Job job;
  EXPECT_TRUE(stub_->GetJob(As(kAlice).get(), get, &job).ok());
  EXPECT_EQ(RunJob(kAlice, "second", Config("mlp", 2)).family_prior_runs(), 0);
}

TEST_F(FamilyRpcTest, FamiliesNeverCrossTenants) {
  RunJob(kAlice, "alices", Config("shared-name", 1));
  v1::Family family;
  EXPECT_EQ(GetFamily(kBob, "shared-name", &family).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ListFamiliesRequest list;
  v1::ListFamiliesResponse listed;
  ASSERT_TRUE(stub_->ListFamilies(As(kBob).get(), list, &listed).ok());
  EXPECT_EQ(listed.families_size(), 0);
  v1::DeleteFamilyRequest del;
  del.set_name("shared-name");
  v1::DeleteFamilyResponse deleted;
  EXPECT_EQ(stub_->DeleteFamily(As(kBob).get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Bob's job of the same name starts from nothing and makes Bob's family.
  EXPECT_EQ(RunJob(kBob, "bobs", Config("shared-name", 2)).family_prior_runs(), 0);
  ASSERT_TRUE(GetFamily(kBob, "shared-name", &family).ok());
  ASSERT_EQ(family.runs_size(), 1);
  EXPECT_EQ(family.runs(0).job_id(), "bobs");
  ASSERT_TRUE(GetFamily(kAlice, "shared-name", &family).ok());
  ASSERT_EQ(family.runs_size(), 1);
  EXPECT_EQ(family.runs(0).job_id(), "alices");
}

}  // namespace
}  // namespace autolrs::server
