#include "server/family.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/family_prior.h"
#include "server/job.h"
#include "server/job_test_util.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::server {
namespace {

// A budgeted family job: total 6000 steps, tau 200 doubling to 800, k = 6,
// cooldown 20%.
v1::JobConfig FamilyConfig(uint64_t seed, const std::string& family = "fam") {
  v1::JobConfig c = SmallConfig();
  c.set_tau_initial(200);
  c.set_tau_max(800);
  c.set_probes_per_stage(6);
  c.set_total_steps(6000);
  c.set_cooldown_fraction(0.2);  // Room for several stages.
  c.set_seed(seed);
  c.set_family(family);
  return c;
}

// Runs a job of `config` with `origin`'s family runs to DONE on a synthetic
// trainer (lr_scale: see SyntheticTrainer) and returns its final state.
JobState RunToDone(const v1::JobConfig& config, const FamilyRuns& family_runs,
                   double lr_scale = 1, const std::string& id = "job") {
  Job::Origin origin;
  origin.family_runs = family_runs;
  absl::StatusOr<Job> job = Job::Create(id, config, origin);
  EXPECT_TRUE(job.ok()) << job.status();
  if (!job.ok()) return JobState();
  testing::SyntheticTrainer trainer(config.seed(), 0.8, lr_scale);
  Drive(*job, trainer, 1000);
  EXPECT_EQ(job->job().state(), v1::JOB_STATE_DONE);
  return job->state();
}

double FinalLoss(const JobState& s) { return s.schedule().cooldown_training_loss().tail_mean(); }

double ProbeShare(const JobState& s) {
  return double(s.job().steps_spent() - s.job().model_steps()) / s.job().config().total_steps();
}

// The family after `n` runs of FamilyConfig (seeds 1..n), each with the prior
// of the runs before it.
v1::Family Grow(int n, double lr_scale = 1) {
  v1::Family family;
  for (int i = 1; i <= n; ++i) {
    JobState done =
        RunToDone(FamilyConfig(i), family.runs(), lr_scale, "run-" + std::to_string(i));
    AddRun(SummarizeRun(done), family);
  }
  DeriveCurve(family);
  return family;
}

TEST(FamilyNameTest, FollowsJobIdRules) {
  EXPECT_TRUE(ValidateName("resnet50_imagenet-v2", "family").ok());
  for (const std::string& bad : std::vector<std::string>{"", "Upper", "has space", std::string(64, 'a')}) {
    absl::Status s = ValidateName(bad, "family");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("family"), std::string::npos) << s;
  }
}

TEST(FamilyConfigTest, BadFamilyFieldsAreRefusedNamingTheField) {
  v1::JobConfig c = FamilyConfig(1, "Bad Name");
  absl::StatusOr<Job> job = Job::Create("j", c);
  ASSERT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(job.status().message().find("config.family"), std::string::npos) << job.status();

  c = FamilyConfig(1);
  c.set_total_steps(0);
  c.set_cooldown_fraction(0);
  job = Job::Create("j", c);
  ASSERT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(job.status().message().find("total_steps"), std::string::npos) << job.status();

  c = FamilyConfig(1);
  c.set_family_probes(7);  // > probes_per_stage
  job = Job::Create("j", c);
  ASSERT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(job.status().message().find("family_probes"), std::string::npos) << job.status();
}

TEST(FamilyRunTest, SummarizesAFinishedJob) {
  JobState done = RunToDone(FamilyConfig(1), {});
  v1::FamilyRun run = SummarizeRun(done);
  EXPECT_EQ(run.job_id(), "job");
  EXPECT_EQ(run.seed(), 1u);
  EXPECT_EQ(run.total_steps(), 6000);
  EXPECT_DOUBLE_EQ(run.cooldown_fraction(), 0.2);
  ASSERT_GE(run.stages_size(), 3);
  double previous_end = 0;
  for (const v1::FamilyStage& s : run.stages()) {
    EXPECT_GE(s.start_progress(), previous_end - 1e-12);
    EXPECT_GT(s.end_progress(), s.start_progress());
    EXPECT_LE(s.end_progress(), 0.8 + 1e-12);  // Stages end where the cooldown starts.
    EXPECT_GT(s.lr(), 0);
    previous_end = s.end_progress();
  }
  EXPECT_NEAR(run.stages(run.stages_size() - 1).end_progress(), 0.8, 1e-12);
  // Stage 0 searched from initialization: its probes promised a large drop.
  EXPECT_GT(run.stages(0).checkpoint_loss(), 1.0);
  EXPECT_GT(run.stages(0).forecast_decrease(), 0.3);
  EXPECT_NEAR(run.stages(0).forecast(), done.schedule().stages(0).chosen_predicted_loss(), 1e-12);
  EXPECT_DOUBLE_EQ(run.final_training_loss(), FinalLoss(done));
  EXPECT_NEAR(run.probe_fraction(), ProbeShare(done), 1e-12);
  EXPECT_EQ(run.prior_runs(), 0);
}

TEST(FamilyRunTest, ACooldownTheOverfitGuardUndidDoesNotCountAsTheFinalLoss) {
  JobState done = RunToDone(FamilyConfig(1), {});
  v1::Schedule* schedule = done.mutable_schedule();
  v1::Stage* last = schedule->mutable_stages(schedule->stages_size() - 1);
  last->mutable_validation_loss()->set_count(1);
  last->mutable_validation_loss()->set_last(0.5);
  schedule->mutable_cooldown_validation_loss()->set_count(1);
  schedule->mutable_cooldown_validation_loss()->set_last(0.9);
  EXPECT_DOUBLE_EQ(SummarizeRun(done).final_validation_loss(), 0.9);
  EXPECT_DOUBLE_EQ(SummarizeRun(done).final_training_loss(), FinalLoss(done));
  // DONE restored the state from before the cooldown: the last stage's.
  schedule->set_cooldown_rolled_back(true);
  const v1::FamilyRun run = SummarizeRun(done);
  EXPECT_DOUBLE_EQ(run.final_validation_loss(), 0.5);
  EXPECT_DOUBLE_EQ(run.final_training_loss(), last->training_loss().tail_mean());
}

TEST(FamilyRunTest, AddRunReplacesTheSameJobAndKeepsTheLatestRuns) {
  v1::Family family;
  v1::FamilyRun run;
  run.set_job_id("a");
  AddRun(run, family);
  run.set_seed(9);
  AddRun(run, family);  // The same job again (a retried record).
  ASSERT_EQ(family.runs_size(), 1);
  EXPECT_EQ(family.runs(0).seed(), 9u);
  EXPECT_EQ(family.runs_recorded(), 1);
  for (int i = 0; i < kMaxFamilyRuns + 3; ++i) {
    run.set_job_id("r" + std::to_string(i));
    AddRun(run, family);
  }
  EXPECT_EQ(family.runs_size(), kMaxFamilyRuns);
  EXPECT_EQ(family.runs_recorded(), kMaxFamilyRuns + 4);
  EXPECT_EQ(family.runs(kMaxFamilyRuns - 1).job_id(), "r" + std::to_string(kMaxFamilyRuns + 2));
}

v1::FamilyRun TwoStageRun(double lr0, double lr1, double d0) {
  v1::FamilyRun run;
  v1::FamilyStage* s = run.add_stages();
  s->set_start_progress(0);
  s->set_end_progress(0.4);
  s->set_lr(lr0);
  s->set_checkpoint_loss(2);
  s->set_forecast_decrease(d0);
  s->set_forecast(2 * (1 - d0));
  s = run.add_stages();
  s->set_start_progress(0.4);
  s->set_end_progress(0.8);
  s->set_lr(lr1);
  return run;
}

TEST(FamilyPriorTest, MedianAndRangeOfTheRunsAtAProgress) {
  FamilyRuns runs;
  *runs.Add() = TwoStageRun(0.1, 0.01, 0.5);
  *runs.Add() = TwoStageRun(0.4, 0.02, 0.6);
  *runs.Add() = TwoStageRun(0.2, 0.04, 0.4);
  std::optional<PriorPoint> p = PriorAt(runs, 0.1);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->runs, 3);
  EXPECT_NEAR(p->lr, 0.2, 1e-12);
  EXPECT_NEAR(p->lr_low, 0.1, 1e-12);
  EXPECT_NEAR(p->lr_high, 0.4, 1e-12);
  EXPECT_NEAR(p->spread_decades(), std::log10(4.0), 1e-12);
  EXPECT_EQ(p->forecast_runs, 3);
  EXPECT_DOUBLE_EQ(p->forecast_low, 0.8);
  EXPECT_DOUBLE_EQ(p->forecast_high, 1.2);
  // After the last stage: its LR (the cooldown is not a stage).
  p = PriorAt(runs, 0.95);
  ASSERT_TRUE(p.has_value());
  EXPECT_NEAR(p->lr, 0.02, 1e-12);
  EXPECT_EQ(p->forecast_runs, 0);  // Stage 1 holds no forecast.
  // Two runs: the geometric mean of both.
  runs.RemoveLast();
  EXPECT_NEAR(PriorAt(runs, 0.5)->lr, std::sqrt(0.01 * 0.02), 1e-12);
  EXPECT_FALSE(PriorAt(FamilyRuns(), 0.5).has_value());
}

TEST(FamilyPriorTest, CurveAndSpreadSummarizeTheRuns) {
  v1::Family family;
  *family.add_runs() = TwoStageRun(0.1, 0.01, 0.5);
  DeriveCurve(family);
  ASSERT_EQ(family.curve_size(), 2);
  EXPECT_DOUBLE_EQ(family.curve(0).progress(), 0.2);
  EXPECT_DOUBLE_EQ(family.spread_decades(), 0);  // One run: no spread.
  *family.add_runs() = TwoStageRun(0.1, 0.1, 0.5);
  DeriveCurve(family);
  EXPECT_NEAR(family.spread_decades(), 1.0, 1e-12);
  EXPECT_EQ(family.curve(1).runs(), 2);
}

TEST(FamilyPriorTest, OnlyRunsOfTheSameBudgetShapeArePrior) {
  v1::Family family;
  *family.add_runs() = TwoStageRun(0.1, 0.01, 0.5);
  family.mutable_runs(0)->set_cooldown_fraction(0.2);
  *family.add_runs() = TwoStageRun(0.1, 0.01, 0.5);
  family.mutable_runs(1)->set_cooldown_fraction(0.4);
  v1::JobConfig c = FamilyConfig(1);
  c.set_cooldown_fraction(0.2);
  EXPECT_EQ(CompatibleRuns(family.runs(), c).size(), 1);
  c.set_total_steps(0);
  EXPECT_EQ(CompatibleRuns(family.runs(), c).size(), 0);
}

TEST(FamilyJobTest, AJobWithoutAFamilyIgnoresFamilyRuns) {
  v1::Family family = Grow(1);
  v1::JobConfig c = FamilyConfig(5);
  c.clear_family();
  JobState plain = RunToDone(c, family.runs());
  EXPECT_EQ(plain.job().family_prior_runs(), 0);
  EXPECT_EQ(plain.family_prior_size(), 0);
  for (const v1::Stage& s : plain.schedule().stages()) EXPECT_EQ(s.family_lr(), 0);
  // use_family_prior false: recorded, never used.
  c = FamilyConfig(5);
  c.set_use_family_prior(false);
  EXPECT_EQ(RunToDone(c, family.runs()).job().family_prior_runs(), 0);
}

TEST(FamilyJobTest, LaterRunsSearchAroundTheFamilysLrWithFewerProbes) {
  v1::Family family = Grow(1);
  const JobState first = RunToDone(FamilyConfig(1), {});
  const JobState second = RunToDone(FamilyConfig(2), family.runs());
  EXPECT_EQ(second.job().family_prior_runs(), 1);
  const v1::Stage& s0 = second.schedule().stages(0);
  EXPECT_GT(s0.family_lr(), 0);
  EXPECT_FALSE(s0.family_followed());  // One run: nothing to agree.
  EXPECT_EQ(s0.probes_size(), 2);      // family_probes, not probes_per_stage.
  EXPECT_DOUBLE_EQ(s0.probes(1).lr(), s0.family_lr());  // The family's LR last.
  const double half = std::pow(10.0, 0.15) * (1 + 1e-9);
  for (const v1::Probe& p : s0.probes()) {
    EXPECT_LE(p.lr(), s0.family_lr() * half);
    EXPECT_GE(p.lr(), s0.family_lr() / half);
  }
  EXPECT_LT(ProbeShare(second), ProbeShare(first) / 2);
  EXPECT_LT(FinalLoss(second), FinalLoss(first) * 1.05);
}

TEST(FamilyJobTest, WhereTheRunsAgreeAStageTrainsOnFromOneProbe) {
  v1::Family family = Grow(3);
  const JobState fourth = RunToDone(FamilyConfig(4), family.runs());
  EXPECT_EQ(fourth.job().family_prior_runs(), 3);
  int followed = 0;
  for (const v1::Stage& s : fourth.schedule().stages()) {
    if (!s.family_followed() || s.search_skipped()) continue;
    ++followed;
    EXPECT_EQ(s.probes_size(), 1);
    EXPECT_TRUE(s.continued_from_probe());  // Its probe's steps are kept.
  }
  EXPECT_GE(followed, 1);
  EXPECT_LE(ProbeShare(fourth), 0.10);
}

TEST(FamilyJobTest, TheExploitationOfAFollowedStageContinuesFromItsProbe) {
  v1::Family family = Grow(3);
  v1::JobConfig c = FamilyConfig(4);
  Job::Origin origin;
  origin.family_runs = family.runs();
  absl::StatusOr<Job> job = Job::Create("j", c, origin);
  ASSERT_TRUE(job.ok());
  testing::SyntheticTrainer trainer(4);
  std::vector<v1::Action> actions = Drive(*job, trainer, 1000);
  bool seen = false;
  for (size_t i = 1; i < actions.size(); ++i) {
    const v1::Action& a = actions[i];
    if (a.phase() != v1::PHASE_EXPLOIT) continue;
    const v1::Stage& s = job->state().schedule().stages(a.stage());
    if (!s.family_followed() || s.search_skipped() || s.rolled_back_lrs_size() > 0) continue;
    seen = true;
    EXPECT_EQ(actions[i - 1].phase(), v1::PHASE_PROBE);
    EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_NONE);
    EXPECT_EQ(a.steps() + actions[i - 1].steps(), s.tau());
  }
  EXPECT_TRUE(seen);
}

TEST(FamilyJobTest, AWrongPriorIsDroppedAndTheJobEndsNoWorseThanWithoutAFamily) {
  // The family learned on a task whose best LRs are 30x those of this one.
  v1::Family family = Grow(3);
  v1::JobConfig c = FamilyConfig(11);
  const JobState with = RunToDone(c, family.runs(), /*lr_scale=*/30);
  c.clear_family();
  const JobState without = RunToDone(c, {}, /*lr_scale=*/30);

  EXPECT_TRUE(with.job().family_prior_dropped());
  const v1::Stage& s0 = with.schedule().stages(0);
  EXPECT_TRUE(s0.family_prior_contradicted());
  // The search widened back to the plain method: k probes over the interval
  // (one of the window and the family's LR among them).
  EXPECT_EQ(s0.probes_size(), c.probes_per_stage());
  for (int i = 1; i < with.schedule().stages_size(); ++i) {
    EXPECT_EQ(with.schedule().stages(i).family_lr(), 0);
  }
  EXPECT_LT(s0.chosen_lr(), s0.family_lr() / 3);
  EXPECT_LE(FinalLoss(with), FinalLoss(without) * 1.02)
      << "with the wrong prior " << FinalLoss(with) << ", without a family "
      << FinalLoss(without);
}

TEST(FamilyJobTest, SameSeedSameReportsSameSchedule) {
  v1::Family family = Grow(2);
  const JobState a = RunToDone(FamilyConfig(3), family.runs());
  const JobState b = RunToDone(FamilyConfig(3), family.runs());
  EXPECT_EQ(a.schedule().SerializeAsString(), b.schedule().SerializeAsString());
}

}  // namespace
}  // namespace autolrs::server
