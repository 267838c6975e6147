// A job's whole run through a real Scheduler produces one log line per state
// change (created, each stage's choice with its LR and forecast, cooldown,
// done, a rank timeout, deleted) and none per step or per report.
#include "server/job_event_reporter.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "server/log.h"
#include "server/memory_job_store.h"
#include "server/scheduler.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::server {
namespace {

using autolrs::testing::RunAction;
using autolrs::testing::SyntheticTrainer;

// One parsed log line: its key=value fields (values here are never quoted).
using Fields = std::map<std::string, std::string>;

Fields Parse(const std::string& line) {
  Fields fields;
  for (absl::string_view part : absl::StrSplit(absl::StripSuffix(line, "\n"), ' ')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    fields[kv.first] = kv.second;
  }
  return fields;
}

class JobEventReporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](absl::string_view line) { lines_.push_back(Parse(std::string(line))); });
    scheduler_.set_observer(&reporter_);
  }
  void TearDown() override { SetLogSink(nullptr); }

  std::vector<Fields> Events(const std::string& event) const {
    std::vector<Fields> out;
    for (const Fields& f : lines_) {
      if (f.at("event") == event) out.push_back(f);
    }
    return out;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'000'000);
  MemoryJobStore store_;
  Scheduler scheduler_{&store_, [this] { return now_; }};
  JobEventReporter reporter_{nullptr};
  std::vector<Fields> lines_;
};

TEST_F(JobEventReporterTest, ARunLogsEveryStateChangeOnce) {
  v1::CreateJobRequest create;
  create.set_job_id("logged");
  v1::JobConfig& c = *create.mutable_config();
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(100);
  c.set_tau_max(200);
  c.set_probes_per_stage(3);
  c.set_total_steps(2000);
  c.set_cooldown_fraction(0.1);
  c.set_seed(7);
  ASSERT_TRUE(scheduler_.CreateJob(create).ok());

  SyntheticTrainer trainer(3);
  v1::NextActionRequest next;
  next.set_job_id("logged");
  absl::StatusOr<v1::Action> action = scheduler_.NextAction(next);
  int reports = 0;
  while (action.ok() && action->phase() != v1::PHASE_DONE) {
    action = scheduler_.ReportLosses(RunAction(*action, trainer));
    ++reports;
  }
  ASSERT_TRUE(action.ok()) << action.status();
  v1::GetScheduleRequest get;
  get.set_job_id("logged");
  const v1::Schedule schedule = *scheduler_.GetSchedule(get);
  v1::DeleteJobRequest del;
  del.set_job_id("logged");
  ASSERT_TRUE(scheduler_.DeleteJob(del).ok());

  ASSERT_EQ(Events("job_created").size(), 1u);
  EXPECT_EQ(Events("job_created")[0].at("job_id"), "logged");
  EXPECT_EQ(Events("job_created")[0].at("level"), "info");
  EXPECT_EQ(Events("job_created")[0].at("total_steps"), "2000");

  const std::vector<Fields> chosen = Events("stage_chosen");
  ASSERT_GE(schedule.stages_size(), 2);
  ASSERT_EQ(chosen.size(), static_cast<size_t>(schedule.stages_size()));
  for (int i = 0; i < schedule.stages_size(); ++i) {
    const v1::Stage& stage = schedule.stages(i);
    EXPECT_EQ(chosen[i].at("job_id"), "logged");
    EXPECT_EQ(chosen[i].at("stage"), std::to_string(stage.index()));
    // Six significant digits.
    EXPECT_NEAR(std::stod(chosen[i].at("lr")), stage.chosen_lr(), 1e-5 * stage.chosen_lr());
    if (stage.chosen_predicted_loss() == 0) {
      EXPECT_EQ(chosen[i].count("forecast"), 0u);  // Nothing forecast it.
    } else {
      EXPECT_NEAR(std::stod(chosen[i].at("forecast")), stage.chosen_predicted_loss(),
                  1e-5 * stage.chosen_predicted_loss());
    }
    EXPECT_EQ(chosen[i].at("probes"), std::to_string(stage.probes_size()));
  }
  ASSERT_EQ(Events("cooldown_started").size(), 1u);
  EXPECT_EQ(Events("cooldown_started")[0].at("steps"), std::to_string(schedule.cooldown_steps()));
  ASSERT_EQ(Events("job_done").size(), 1u);
  EXPECT_EQ(Events("job_done")[0].at("steps_spent"), "2000");
  ASSERT_EQ(Events("job_deleted").size(), 1u);
  EXPECT_EQ(Events("job_deleted")[0].at("was_done"), "true");
  // Nothing else: no line per report (there were many more).
  EXPECT_EQ(lines_.size(), 1 + chosen.size() + 1 + 1 + 1);
  EXPECT_GT(reports, static_cast<int>(lines_.size()));
}

TEST_F(JobEventReporterTest, JobDoneSaysWhenTheOverfitGuardUndidTheCooldown) {
  JobState before;
  before.mutable_job()->set_job_id("undone");
  JobState after = before;
  after.mutable_job()->set_state(v1::JOB_STATE_DONE);
  reporter_.OnJobChanged(MilestonesOf(before), after);
  after.mutable_schedule()->set_cooldown_rolled_back(true);
  reporter_.OnJobChanged(MilestonesOf(before), after);
  const std::vector<Fields> done = Events("job_done");
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].count("cooldown_rolled_back"), 0u);
  EXPECT_EQ(done[1].at("cooldown_rolled_back"), "true");
}

TEST_F(JobEventReporterTest, ARankTimeoutIsOneWarningNamingTheMissingRank) {
  v1::CreateJobRequest create;
  create.set_job_id("ranks");
  v1::JobConfig& c = *create.mutable_config();
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(100);
  c.set_num_workers(3);
  c.set_rank_timeout_seconds(5);
  ASSERT_TRUE(scheduler_.CreateJob(create).ok());
  SyntheticTrainer trainer(3);
  v1::NextActionRequest next;
  next.set_job_id("ranks");
  const v1::Action first = *scheduler_.NextAction(next);
  ASSERT_TRUE(scheduler_.ReportLosses(RunAction(first, trainer, 0)).ok());
  ASSERT_TRUE(scheduler_.ReportLosses(RunAction(first, trainer, 2)).ok());
  now_ += absl::Seconds(6);
  ASSERT_TRUE(scheduler_.NextAction(next).ok());
  ASSERT_TRUE(scheduler_.NextAction(next).ok());  // Logged once.

  const std::vector<Fields> timed_out = Events("rank_timed_out");
  ASSERT_EQ(timed_out.size(), 1u);
  EXPECT_EQ(timed_out[0].at("level"), "warning");
  EXPECT_EQ(timed_out[0].at("job_id"), "ranks");
  EXPECT_EQ(timed_out[0].at("ranks"), "1");
  EXPECT_EQ(timed_out[0].at("timeouts"), "1");
}

}  // namespace
}  // namespace autolrs::server
