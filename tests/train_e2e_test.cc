// End to end: the real autolrs_server and the real Fashion-MNIST `train`
// binary. The AutoLRS run must finish its budget exactly, and every step the
// trainer ran (its --csv) must use the phase and LR the server's schedule
// says (probe LRs, then the stage's chosen LR), with the reported losses and
// requested validation losses being the ones the trainer logged.
#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "autolrs/v1/job.pb.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "testing/server_process.h"
#include "tests/train_e2e_util.h"

namespace autolrs::e2e {
namespace {

using autolrs::testing::ServerProcess;

constexpr int64_t kTotalSteps = 540;
constexpr absl::Duration kTrainTimeout = absl::Seconds(150);

bool Near(double a, double b, double rel) {
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

TEST(TrainE2eTest, AutoLrsRunFollowsTheServersSchedule) {
  const std::string dir = ::testing::TempDir();
  auto server = ServerProcess::Start(kServerBinary, "sqlite:" + dir + "/e2e.db");
  ASSERT_TRUE(server.ok()) << server.status();

  const std::string csv = dir + "/autolrs.csv", out = dir + "/autolrs.out",
                    err = dir + "/autolrs.err";
  // Stages: 50 steps (probes of 5, then confirmations of 20), then 100
  // (probes of 10, the second with the validation-loss objective); of the
  // 432 steps before the cooldown, the last 67 cannot pay for a search
  // (30 + 50) and keep the last LR.
  absl::StatusOr<pid_t> trainer = Spawn(
      {kTrainBinary, "--schedule=autolrs", "--server=" + (*server)->address(), "--job_id=e2e",
       "--model=mlp", "--optimizer=sgd", absl::StrCat("--total_steps=", kTotalSteps),
       "--tau_initial=50", "--tau_max=100", "--probes_per_stage=3", "--lr_min=1e-3", "--lr_max=1",
       "--seed=3", "--threads=1", "--csv=" + csv, "--job_config=first_stage_confirmation: 4"},
      out, err);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  absl::StatusOr<int> exit_code = WaitFor(*trainer, kTrainTimeout);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << "\n" << ReadFile(err);
  ASSERT_EQ(*exit_code, 0) << ReadFile(err);

  ClientOptions options;
  options.target = (*server)->address();
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  v1::GetJobRequest get;
  get.set_job_id("e2e");
  absl::StatusOr<v1::Job> job = (*client)->GetJob(get);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(job->steps_spent(), kTotalSteps);
  EXPECT_EQ(job->config().total_steps(), kTotalSteps);
  v1::GetScheduleRequest get_schedule;
  get_schedule.set_job_id("e2e");
  absl::StatusOr<v1::Schedule> schedule = (*client)->GetSchedule(get_schedule);
  ASSERT_TRUE(schedule.ok()) << schedule.status();

  const FinalLine final_line = ParseFinalLine(ReadFile(out));
  ASSERT_TRUE(final_line.found) << ReadFile(out);
  EXPECT_EQ(final_line.steps, kTotalSteps);
  EXPECT_EQ(final_line.model_steps, job->model_steps());
  EXPECT_LT(job->model_steps(), kTotalSteps);  // The probes were rolled back.
  // 540 steps of an MLP learn something whatever the LRs (chance: 0.1).
  EXPECT_GT(final_line.test_accuracy, 0.5);
  EXPECT_LE(final_line.test_accuracy, 1.0);
  EXPECT_GT(final_line.test_loss, 0);

  int64_t actions = 0;
  absl::StatusOr<std::vector<ExpectedStep>> expected =
      ExpectedSteps(job->config(), *schedule, &actions);
  ASSERT_TRUE(expected.ok()) << expected.status() << "\n" << schedule->DebugString();
  EXPECT_EQ(job->current_action_id() - job->first_action_id(), actions)
      << "the DONE action follows the last one";
  // The configuration exercised what it should.
  ASSERT_GE(schedule->stages_size(), 3);
  EXPECT_GE(schedule->stages(0).confirmations_size(), 2);
  EXPECT_TRUE(schedule->stages(schedule->stages_size() - 1).search_skipped());
  bool validation_stage = false;
  for (const v1::Stage& s : schedule->stages()) {
    validation_stage |= s.objective() == v1::OBJECTIVE_VALIDATION_LOSS;
  }
  EXPECT_TRUE(validation_stage);

  absl::StatusOr<std::vector<CsvRow>> rows = ReadStepCsv(csv);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), expected->size());
  int mismatches = 0;
  for (size_t i = 0; i < rows->size() && mismatches < 5; ++i) {
    const CsvRow& row = (*rows)[i];
    const ExpectedStep& want = (*expected)[i];
    const bool ok = row.step == static_cast<int64_t>(i) + 1 && row.phase == want.phase &&
                    Near(row.lr, want.lr, 1e-9);
    if (!ok) ++mismatches;
    EXPECT_TRUE(ok) << "CSV row " << i + 1 << ": step " << row.step << " " << row.phase << " lr "
                    << row.lr << "; the schedule says " << want.phase << " lr " << want.lr
                    << " (stage " << want.stage << ")";
  }

  // The losses the server summarized are the ones the trainer logged, and
  // validation losses were evaluated exactly where the actions asked.
  size_t at = 0;
  for (const v1::Stage& stage : schedule->stages()) {
    const bool validation = stage.objective() == v1::OBJECTIVE_VALIDATION_LOSS;
    auto check_series = [&](const v1::LossSummary& train, const v1::LossSummary& val,
                            const std::string& what) {
      const size_t n = static_cast<size_t>(train.count());
      ASSERT_LE(at + n, rows->size());
      if (n == 0) {  // A last stage overfit_guard undid: nothing ran after it.
        EXPECT_EQ(val.count(), 0) << what;
        return;
      }
      EXPECT_TRUE(Near((*rows)[at].loss, train.first(), 1e-6)) << what;
      EXPECT_TRUE(Near((*rows)[at + n - 1].loss, train.last(), 1e-6)) << what;
      int evaluated = 0;
      double last_val = NAN;
      for (size_t i = at; i < at + n; ++i) {
        if ((*rows)[i].has_val_loss) {
          ++evaluated;
          last_val = (*rows)[i].val_loss;
        }
      }
      // Probes evaluate only for the validation objective; exploitations
      // also for overfit_guard (on by default): every evaluation the trainer
      // made is one the server summarized.
      EXPECT_EQ(evaluated, val.count()) << what;
      if (evaluated > 0) {
        EXPECT_TRUE(Near(last_val, val.last(), 1e-6)) << what;
      }
      at += n;
    };
    for (int p = 0; p < stage.probes_size(); ++p) {
      check_series(stage.probes(p).training_loss(), stage.probes(p).validation_loss(),
                   absl::StrCat("stage ", stage.index(), " probe ", p));
      if (!validation) {
        EXPECT_EQ(stage.probes(p).validation_loss().count(), 0);
      }
    }
    for (int p = 0; p < stage.confirmations_size(); ++p) {
      check_series(stage.confirmations(p).training_loss(), stage.confirmations(p).validation_loss(),
                   absl::StrCat("stage ", stage.index(), " confirmation ", p));
    }
    // Exploitations a guard rolled back ran first; the schedule keeps only
    // their LRs.
    for (double lr : stage.rolled_back_lrs()) {
      while (at < rows->size() && (*rows)[at].phase == "exploit" &&
             Near((*rows)[at].lr, lr, 1e-9)) {
        ++at;
      }
    }
    check_series(stage.training_loss(), stage.validation_loss(),
                 absl::StrCat("stage ", stage.index(), " exploitation"));
    if (validation) {
      EXPECT_TRUE((*rows)[at - 1].has_val_loss)
          << "stage " << stage.index() << ": no validation loss at the end of the stage";
    }
  }

  const int status = (*server)->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(TrainE2eTest, BaselineScheduleAndEvalEvery) {
  const std::string dir = ::testing::TempDir();
  const std::string csv = dir + "/cosine.csv", out = dir + "/cosine.out", err = dir + "/cosine.err";
  absl::StatusOr<pid_t> trainer =
      Spawn({kTrainBinary, "--schedule=cosine", "--lr=0.1", "--total_steps=200", "--eval_every=50",
             "--seed=3", "--threads=1", "--csv=" + csv},
            out, err);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  absl::StatusOr<int> exit_code = WaitFor(*trainer, kTrainTimeout);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << "\n" << ReadFile(err);
  ASSERT_EQ(*exit_code, 0) << ReadFile(err);

  const FinalLine final_line = ParseFinalLine(ReadFile(out));
  ASSERT_TRUE(final_line.found) << ReadFile(out);
  EXPECT_EQ(final_line.steps, 200);
  EXPECT_EQ(final_line.model_steps, 200);
  EXPECT_GT(final_line.test_accuracy, 0.5);

  absl::StatusOr<std::vector<CsvRow>> rows = ReadStepCsv(csv);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 200u);
  for (int t = 0; t < 200; ++t) {
    const CsvRow& row = (*rows)[t];
    EXPECT_EQ(row.step, t + 1);
    EXPECT_EQ(row.phase, "train");
    EXPECT_TRUE(Near(row.lr, 0.05 * (1 + std::cos(M_PI * t / 200.0)), 1e-9))
        << "step " << t + 1 << " lr " << row.lr;
    EXPECT_EQ(row.has_val_loss, (t + 1) % 50 == 0) << "step " << t + 1;
  }
}

TEST(TrainE2eTest, BadFlagsFail) {
  const std::string dir = ::testing::TempDir();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {kTrainBinary, "--schedule=linear"},
           {kTrainBinary, "--schedule=constant", "--total_steps=0"},
           {kTrainBinary, "--schedule=autolrs", "--preset=fastest"},
       }) {
    absl::StatusOr<pid_t> trainer = Spawn(args, dir + "/bad.out", dir + "/bad.err");
    ASSERT_TRUE(trainer.ok());
    absl::StatusOr<int> exit_code = WaitFor(*trainer, kTrainTimeout);
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    EXPECT_EQ(*exit_code, 1) << args[1];
    EXPECT_FALSE(ParseFinalLine(ReadFile(dir + "/bad.out")).found);
  }
}

}  // namespace
}  // namespace autolrs::e2e
