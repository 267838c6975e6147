// End to end: autolrs_server is killed with SIGKILL while the real
// Fashion-MNIST `train` binary runs an AutoLRS job, and restarted on the same
// SQLite file and the same port. The trainer's Client reconnects by itself;
// the trainer finishes, the job spent exactly its budget, the schedule has no
// gap (every stage complete, every action run once, the trainer's steps
// match the schedule), and it is the very schedule of an uninterrupted run
// with the same seed (training is deterministic for a seed and one thread).
#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autolrs/v1/job.pb.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "testing/server_process.h"
#include "tests/train_e2e_util.h"

namespace autolrs::e2e {
namespace {

using autolrs::testing::ServerProcess;

// Stages of 50, 100, then 200 steps with 3 probes of tau/10: the kill lands
// around the third stage; the last stage's exploitation is cut by the budget.
constexpr int64_t kTotalSteps = 2000;
constexpr int64_t kKillAfterSteps = 500;
constexpr absl::Duration kTrainTimeout = absl::Seconds(150);

std::vector<std::string> TrainArgs(const std::string& address, const std::string& job_id,
                                   const std::string& csv) {
  return {kTrainBinary, "--schedule=autolrs", "--server=" + address, "--job_id=" + job_id,
          "--model=mlp", "--optimizer=sgd", absl::StrCat("--total_steps=", kTotalSteps),
          "--tau_initial=50", "--tau_max=200", "--probes_per_stage=3", "--lr_min=1e-3",
          "--lr_max=1", "--seed=5", "--threads=1", "--csv=" + csv};
}

std::unique_ptr<Client> Connect(const std::string& address) {
  ClientOptions options;
  options.target = address;
  options.deadline = absl::Seconds(5);
  auto client = Client::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

struct Finished {
  v1::Job job;
  v1::Schedule schedule;
};

// Fetches the finished job and checks it, its schedule and the trainer's
// CSV and final line for completeness.
void CheckFinished(Client& client, const std::string& job_id, const std::string& csv,
                   const std::string& out, Finished* finished) {
  v1::GetJobRequest get;
  get.set_job_id(job_id);
  absl::StatusOr<v1::Job> job = client.GetJob(get);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(job->steps_spent(), kTotalSteps);
  v1::GetScheduleRequest get_schedule;
  get_schedule.set_job_id(job_id);
  absl::StatusOr<v1::Schedule> schedule = client.GetSchedule(get_schedule);
  ASSERT_TRUE(schedule.ok()) << schedule.status();

  const FinalLine final_line = ParseFinalLine(ReadFile(out));
  ASSERT_TRUE(final_line.found) << ReadFile(out);
  EXPECT_EQ(final_line.steps, kTotalSteps);
  EXPECT_GT(final_line.test_accuracy, 0.5);

  int64_t actions = 0;
  absl::StatusOr<std::vector<ExpectedStep>> expected =
      ExpectedSteps(job->config(), *schedule, &actions);
  ASSERT_TRUE(expected.ok()) << expected.status() << "\n" << schedule->DebugString();
  EXPECT_EQ(job->current_action_id() - job->first_action_id(), actions)
      << "action ids are not contiguous: an action was issued but not run, or run twice";

  absl::StatusOr<std::vector<CsvRow>> rows = ReadStepCsv(csv);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), expected->size()) << "the trainer ran another number of steps";
  int mismatches = 0;
  for (size_t i = 0; i < rows->size() && mismatches < 5; ++i) {
    const CsvRow& row = (*rows)[i];
    const ExpectedStep& want = (*expected)[i];
    const bool ok = row.step == static_cast<int64_t>(i) + 1 && row.phase == want.phase &&
                    std::fabs(row.lr - want.lr) <= 1e-9 * want.lr;
    if (!ok) ++mismatches;
    EXPECT_TRUE(ok) << "CSV row " << i + 1 << ": step " << row.step << " " << row.phase << " lr "
                    << row.lr << "; the schedule says " << want.phase << " lr " << want.lr
                    << " (stage " << want.stage << ")";
  }
  finished->job = *job;
  finished->schedule = *schedule;
}

TEST(TrainServerRestartTest, SigkillDuringTrainingThenRestartOnTheSamePort) {
  const std::string dir = ::testing::TempDir();
  const std::string db = "sqlite:" + dir + "/restart.db";
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::vector<std::string> listen = {absl::StrCat("--listen=127.0.0.1:", *port)};
  auto started = ServerProcess::Start(kServerBinary, db, listen);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ServerProcess> server = *std::move(started);
  ASSERT_EQ(server->port(), *port);
  const std::string address = server->address();
  std::unique_ptr<Client> client = Connect(address);
  ASSERT_NE(client, nullptr);

  // The reference: the same job, uninterrupted.
  Finished clean;
  {
    absl::StatusOr<pid_t> trainer =
        Spawn(TrainArgs(address, "clean", dir + "/clean.csv"), dir + "/clean.out",
              dir + "/clean.err");
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    absl::StatusOr<int> exit_code = WaitFor(*trainer, kTrainTimeout);
    ASSERT_TRUE(exit_code.ok()) << exit_code.status() << "\n" << ReadFile(dir + "/clean.err");
    ASSERT_EQ(*exit_code, 0) << ReadFile(dir + "/clean.err");
    ASSERT_NO_FATAL_FAILURE(
        CheckFinished(*client, "clean", dir + "/clean.csv", dir + "/clean.out", &clean));
  }

  // The same job again, with the server killed in the middle.
  absl::StatusOr<pid_t> trainer =
      Spawn(TrainArgs(address, "crashed", dir + "/crashed.csv"), dir + "/crashed.out",
            dir + "/crashed.err");
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  int64_t steps_at_kill = -1;
  const absl::Time give_up = absl::Now() + kTrainTimeout;
  v1::GetJobRequest get;
  get.set_job_id("crashed");
  while (absl::Now() < give_up) {
    absl::StatusOr<v1::Job> job = client->GetJob(get);  // NOT_FOUND until created.
    if (job.ok() && job->steps_spent() >= kKillAfterSteps) {
      steps_at_kill = job->steps_spent();
      break;
    }
    int status;
    if (waitpid(*trainer, &status, WNOHANG) == *trainer) {
      FAIL() << "the trainer exited (status " << status << ") before the kill:\n"
             << ReadFile(dir + "/crashed.err");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GE(steps_at_kill, kKillAfterSteps) << "the job never got that far";
  const int kill_status = server->Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(kill_status) && WTERMSIG(kill_status) == SIGKILL) << kill_status;
  // The trainer keeps training and then has to wait for the server.
  absl::SleepFor(absl::Seconds(1));
  started = ServerProcess::Start(kServerBinary, db, listen);
  ASSERT_TRUE(started.ok()) << started.status();
  server = *std::move(started);
  ASSERT_EQ(server->port(), *port);

  absl::StatusOr<int> exit_code = WaitFor(*trainer, kTrainTimeout);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << "\n" << ReadFile(dir + "/crashed.err");
  ASSERT_EQ(*exit_code, 0) << ReadFile(dir + "/crashed.err");
  EXPECT_LT(steps_at_kill, kTotalSteps) << "the job had finished before the kill";

  Finished crashed;
  ASSERT_NO_FATAL_FAILURE(
      CheckFinished(*client, "crashed", dir + "/crashed.csv", dir + "/crashed.out", &crashed));
  EXPECT_EQ(crashed.job.model_steps(), clean.job.model_steps());
  v1::Schedule expected = clean.schedule;
  expected.set_job_id("crashed");
  EXPECT_EQ(crashed.schedule.SerializeAsString(), expected.SerializeAsString())
      << "uninterrupted:\n" << expected.DebugString() << "\nwith the kill:\n"
      << crashed.schedule.DebugString();
  EXPECT_EQ(ReadFile(dir + "/crashed.csv"), ReadFile(dir + "/clean.csv"))
      << "the trainer's steps differ from the uninterrupted run's";

  const int status = server->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace autolrs::e2e
