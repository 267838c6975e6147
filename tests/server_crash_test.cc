// The real autolrs_server binary is killed with SIGKILL in the middle of a
// stage and restarted on the same SQLite file: the job finishes with exactly
// the schedule of an uninterrupted run with the same seed and losses, and a
// report acknowledged before the kill is never applied twice.
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <string>

#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "testing/action_runner.h"
#include "testing/server_process.h"
#include "testing/synthetic_trainer.h"

namespace autolrs {
namespace {

using autolrs::testing::RunAction;
using autolrs::testing::ServerProcess;
using autolrs::testing::SyntheticTrainer;

constexpr char kServer[] = "server/autolrs_server";

std::unique_ptr<v1::AutoLrsService::Stub> Connect(const ServerProcess& server) {
  return v1::AutoLrsService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
}

v1::JobConfig Config() {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(100);
  c.set_tau_max(200);
  c.set_probes_per_stage(4);
  c.set_total_steps(1500);
  c.set_seed(42);
  return c;
}

std::unique_ptr<ServerProcess> StartServer(const std::string& db) {
  auto server = ServerProcess::Start(kServer, "sqlite:" + db);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

v1::Action CreateJob(v1::AutoLrsService::Stub& stub) {
  grpc::ClientContext ctx;
  v1::CreateJobRequest req;
  req.set_job_id("crash");
  *req.mutable_config() = Config();
  v1::Job job;
  EXPECT_TRUE(stub.CreateJob(&ctx, req, &job).ok());
  grpc::ClientContext next_ctx;
  v1::NextActionRequest next;
  next.set_job_id("crash");
  v1::Action action;
  EXPECT_TRUE(stub.NextAction(&next_ctx, next, &action).ok());
  return action;
}

grpc::Status Report(v1::AutoLrsService::Stub& stub, const v1::ReportLossesRequest& req,
                    v1::Action* next) {
  grpc::ClientContext ctx;
  return stub.ReportLosses(&ctx, req, next);
}

v1::Schedule GetSchedule(v1::AutoLrsService::Stub& stub) {
  grpc::ClientContext ctx;
  v1::GetScheduleRequest req;
  req.set_job_id("crash");
  v1::Schedule schedule;
  EXPECT_TRUE(stub.GetSchedule(&ctx, req, &schedule).ok());
  return schedule;
}

// Runs the job to DONE; with `kill_after` >= 0, SIGKILLs the server right
// after that many acknowledged reports, restarts it and resends the last
// report as a client that never saw the answer would.
v1::Schedule RunJob(const std::string& db, int kill_after, int* actions_run) {
  std::unique_ptr<ServerProcess> server = StartServer(db);
  if (server == nullptr) return {};
  auto stub = Connect(*server);
  SyntheticTrainer trainer(5);
  v1::Action action = CreateJob(*stub);
  int reports = 0;
  while (action.phase() != v1::PHASE_DONE && reports < 200) {
    const v1::ReportLossesRequest report = RunAction(action, trainer);
    v1::Action next;
    EXPECT_TRUE(Report(*stub, report, &next).ok());
    ++reports;
    if (reports == kill_after) {
      const int status = server->Stop(SIGKILL);
      EXPECT_TRUE(WIFSIGNALED(status));
      server = StartServer(db);
      if (server == nullptr) return {};
      stub = Connect(*server);
      v1::Action replayed;
      EXPECT_TRUE(Report(*stub, report, &replayed).ok());
      EXPECT_EQ(replayed.SerializeAsString(), next.SerializeAsString())
          << "the acknowledged report was lost or applied twice";
    }
    action = next;
  }
  *actions_run = reports;
  EXPECT_EQ(action.phase(), v1::PHASE_DONE);
  return GetSchedule(*stub);
}

TEST(ServerCrashTest, SigkillMidStageThenRestartGivesTheUninterruptedSchedule) {
  const std::string dir = ::testing::TempDir();
  int uninterrupted_actions = 0, crashed_actions = 0;
  const v1::Schedule expected = RunJob(dir + "/clean.db", -1, &uninterrupted_actions);
  // Report 6 is the second probe of stage 1: mid-stage, mid-search.
  const v1::Schedule actual = RunJob(dir + "/crashed.db", 6, &crashed_actions);
  ASSERT_GT(expected.stages_size(), 2);
  EXPECT_EQ(crashed_actions, uninterrupted_actions);
  EXPECT_EQ(actual.SerializeAsString(), expected.SerializeAsString())
      << "expected:\n"
      << expected.DebugString() << "\nactual:\n"
      << actual.DebugString();
}

TEST(ServerCrashTest, SigtermStopsCleanly) {
  std::unique_ptr<ServerProcess> server = StartServer(::testing::TempDir() + "/term.db");
  ASSERT_NE(server, nullptr);
  const int status = server->Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace autolrs
