// The real autolrs_server's stderr while a job runs: one structured line per
// state change (created, each stage's choice, cooldown, done, deleted) and
// per failed call, none per report; --log_level filters them.
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "testing/action_runner.h"
#include "testing/server_process.h"
#include "testing/synthetic_trainer.h"

namespace autolrs {
namespace {

using autolrs::testing::ServerProcess;

constexpr char kServer[] = "server/autolrs_server";

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// The structured lines (those starting with "ts=") of a file.
std::vector<std::string> LogLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "ts=")) lines.push_back(line);
  }
  return lines;
}

int Count(const std::vector<std::string>& lines, const std::string& needle) {
  int n = 0;
  for (const std::string& line : lines) n += absl::StrContains(line, needle) ? 1 : 0;
  return n;
}

// Runs job `job_id` to its end and deletes it, then asks for a missing job.
// Returns the number of stages and of reports.
std::pair<int, int> RunJob(const ServerProcess& server, const std::string& job_id) {
  auto stub = v1::AutoLrsService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  v1::CreateJobRequest create;
  create.set_job_id(job_id);
  v1::JobConfig& c = *create.mutable_config();
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(100);
  c.set_tau_max(200);
  c.set_probes_per_stage(3);
  c.set_total_steps(1500);
  c.set_cooldown_fraction(0.1);
  {
    grpc::ClientContext ctx;
    v1::Job job;
    EXPECT_TRUE(stub->CreateJob(&ctx, create, &job).ok());
  }
  v1::Action action;
  {
    grpc::ClientContext ctx;
    v1::NextActionRequest next;
    next.set_job_id(job_id);
    EXPECT_TRUE(stub->NextAction(&ctx, next, &action).ok());
  }
  testing::SyntheticTrainer trainer(9);
  int reports = 0;
  while (action.phase() != v1::PHASE_DONE && reports < 500) {
    grpc::ClientContext ctx;
    v1::ReportLossesRequest report = testing::RunAction(action, trainer);
    if (!stub->ReportLosses(&ctx, report, &action).ok()) {
      ADD_FAILURE() << "report failed";
      break;
    }
    ++reports;
  }
  v1::Schedule schedule;
  {
    grpc::ClientContext ctx;
    v1::GetScheduleRequest get;
    get.set_job_id(job_id);
    EXPECT_TRUE(stub->GetSchedule(&ctx, get, &schedule).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteJobRequest del;
    del.set_job_id(job_id);
    v1::DeleteJobResponse response;
    EXPECT_TRUE(stub->DeleteJob(&ctx, del, &response).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::GetJobRequest get;
    get.set_job_id("never-made");
    v1::Job job;
    EXPECT_EQ(stub->GetJob(&ctx, get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  return {schedule.stages_size(), reports};
}

TEST(ServerLogTest, AJobsRunIsOneLinePerStateChange) {
  const std::string log = TempPath("server_info.log");
  testing::ChildOptions child;
  child.stderr_path = log;
  auto server = ServerProcess::Start(kServer, "memory:", {}, absl::Seconds(30), child);
  ASSERT_TRUE(server.ok()) << server.status();
  const auto [stages, reports] = RunJob(**server, "logged-job");
  ASSERT_EQ((*server)->Stop(SIGTERM), 0);

  const std::vector<std::string> lines = LogLines(log);
  EXPECT_EQ(Count(lines, "level=info event=job_created job_id=logged-job "), 1);
  EXPECT_EQ(Count(lines, "level=info event=stage_chosen job_id=logged-job "), stages);
  EXPECT_EQ(Count(lines, " lr="), stages + 2);  // Stages, cooldown, done.
  EXPECT_EQ(Count(lines, "level=info event=cooldown_started job_id=logged-job "), 1);
  EXPECT_EQ(Count(lines, "level=info event=job_done job_id=logged-job "), 1);
  EXPECT_EQ(Count(lines, "level=info event=job_deleted job_id=logged-job was_done=true"), 1);
  EXPECT_EQ(Count(lines,
                  "level=warning event=rpc_error method=GetJob job_id=never-made "
                  "code=NOT_FOUND error=\"job 'never-made' does not exist\""),
            1);
  // Nothing else: no line per report.
  EXPECT_EQ(static_cast<int>(lines.size()), stages + 5);
  EXPECT_GT(reports, stages + 5);
  for (const std::string& line : lines) {
    // ts, level and event first; every field key=value.
    const std::vector<std::string> fields = absl::StrSplit(line, ' ');
    EXPECT_TRUE(absl::StartsWith(fields[1], "level=")) << line;
    EXPECT_TRUE(absl::StartsWith(fields[2], "event=")) << line;
  }
}

TEST(ServerLogTest, TheLogLevelFiltersLines) {
  const std::string log = TempPath("server_warning.log");
  testing::ChildOptions child;
  child.stderr_path = log;
  auto server =
      ServerProcess::Start(kServer, "memory:", {"--log_level=warning"}, absl::Seconds(30), child);
  ASSERT_TRUE(server.ok()) << server.status();
  RunJob(**server, "quiet-job");
  ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  const std::vector<std::string> lines = LogLines(log);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(absl::StrContains(lines[0], "level=warning event=rpc_error")) << lines[0];
}

TEST(ServerLogTest, ABadLogLevelIsRefusedAtStart) {
  auto result = ServerProcess::RunToExit(kServer, {"--store=memory:", "--log_level=loud"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(WIFEXITED(result->wait_status) && WEXITSTATUS(result->wait_status) == 2);
  EXPECT_TRUE(absl::StrContains(result->stderr_text,
                                "log level must be debug, info, warning or error, got 'loud'"))
      << result->stderr_text;
}

}  // namespace
}  // namespace autolrs
