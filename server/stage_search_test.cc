#include "server/stage_search.h"

#include <cmath>

#include "gtest/gtest.h"
#include "server/family_prior.h"
#include "server/job_config.h"

namespace autolrs::server {
namespace {

// The recommended preset over [1e-3, 1] with `edit` applied.
v1::JobConfig Config(void (*edit)(v1::JobConfig&) = nullptr) {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(100);
  c.set_probes_per_stage(6);
  if (edit != nullptr) edit(c);
  absl::StatusOr<v1::JobConfig> resolved = ResolveJobConfig(c);
  EXPECT_TRUE(resolved.ok()) << resolved.status();
  return *resolved;
}

v1::Stage* AddStage(v1::Schedule& schedule, std::initializer_list<std::pair<double, bool>> probes) {
  v1::Stage* stage = schedule.add_stages();
  stage->set_index(schedule.stages_size() - 1);
  for (const auto& [lr, diverged] : probes) {
    v1::Probe* p = stage->add_probes();
    p->set_lr(lr);
    p->set_diverged(diverged);
    p->set_predicted_loss(diverged ? 1e300 : 1.0);
  }
  return stage;
}

TEST(StageSearchTest, ProbesForTheFirstAndLaterStages) {
  v1::Schedule schedule;
  v1::Stage* first = AddStage(schedule, {});
  v1::Stage* later = AddStage(schedule, {});
  first->set_tau_probe(10);
  later->set_tau_probe(20);
  v1::JobConfig c = Config();
  EXPECT_EQ(ProbesFor(c, *first), 6);
  EXPECT_EQ(ProbesFor(c, *later), 4);  // min(4, k)
  c.clear_later_stage_probes();        // a config stored before the field
  EXPECT_EQ(ProbesFor(c, *later), 6);
}

TEST(StageSearchTest, ALaterStageWithProbesBelowTheMinimumDoesNotSearch) {
  v1::Schedule schedule;
  v1::Stage* first = AddStage(schedule, {});
  v1::Stage* later = AddStage(schedule, {});
  v1::JobConfig c = Config([](v1::JobConfig& c) { c.set_later_stage_min_probe_steps(20); });
  // The first stage always searches, however short its probes.
  first->set_tau_probe(7);
  EXPECT_EQ(ProbesFor(c, *first), 6);
  later->set_tau_probe(19);
  EXPECT_EQ(ProbesFor(c, *later), 0);
  later->set_tau_probe(20);
  EXPECT_EQ(ProbesFor(c, *later), 4);
  // A family's prior does not lift the minimum: the stage trains at the
  // family's LR (Job::StartStage); a first stage searches by the prior.
  later->set_family_lr(0.05);
  EXPECT_EQ(ProbesFor(c, *later), PriorProbes(c, *later));
  later->set_tau_probe(19);
  EXPECT_EQ(ProbesFor(c, *later), 0);
  first->set_family_lr(0.05);
  EXPECT_EQ(ProbesFor(c, *first), PriorProbes(c, *first));
  later->clear_family_lr();
  // 0 (the default): every later stage searches; so does a config stored
  // before the field.
  later->set_tau_probe(1);
  c.clear_later_stage_min_probe_steps();
  EXPECT_EQ(ProbesFor(c, *later), 4);
}

TEST(StageSearchTest, CeilingBetweenTheLargestSafeLrAndTheSmallestThatFailed) {
  v1::Schedule schedule;
  AddStage(schedule, {{0.5, true}, {0.1, false}, {0.02, false}});
  v1::Stage* second = AddStage(schedule, {});
  const v1::JobConfig c = Config();
  ASSERT_TRUE(c.remember_divergence());
  EXPECT_NEAR(SearchCeiling(c, schedule, 0), 1.0, 1e-12);  // nothing before stage 0
  EXPECT_NEAR(SearchCeiling(c, schedule, 1), std::sqrt(0.1 * 0.5), 1e-12);
  // An exploitation rolled back at 0.3 fails like a diverged probe.
  schedule.mutable_stages(0)->add_rolled_back_lrs(0.3);
  EXPECT_NEAR(SearchCeiling(c, schedule, 1), std::sqrt(0.1 * 0.3), 1e-12);
  // Never below an LR the stage itself has probed.
  second->add_probes()->set_lr(0.25);
  EXPECT_NEAR(SearchCeiling(c, schedule, 1), 0.25, 1e-12);
  // Without remember_divergence: lr_max.
  const v1::JobConfig forgetful =
      Config([](v1::JobConfig& c) { c.set_remember_divergence(false); });
  EXPECT_NEAR(SearchCeiling(forgetful, schedule, 1), 1.0, 1e-12);
}

TEST(StageSearchTest, LaterStageSearchesAroundThePreviousChoice) {
  JobState state;
  *state.mutable_job()->mutable_config() = Config();
  AddStage(*state.mutable_schedule(), {{0.05, false}});
  AddStage(*state.mutable_schedule(), {});
  const double radius = state.job().config().search_radius();
  ASSERT_GT(radius, 0);
  absl::StatusOr<bo::Optimizer> optimizer = StageOptimizer(state, 0.01);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  EXPECT_NEAR(optimizer->options().lr_min, 0.01 / std::pow(10.0, radius), 1e-12);
  EXPECT_NEAR(optimizer->options().lr_max, 0.01 * std::pow(10.0, radius), 1e-12);
  // The separation keeps its distance in decades: 3 decades of job interval
  // in a window of 2 * radius decades.
  EXPECT_NEAR(optimizer->options().min_separation_fraction,
              state.job().config().min_probe_separation() * 3 / (2 * radius), 1e-12);
  // The first stage searches the whole interval.
  state.mutable_schedule()->mutable_stages()->RemoveLast();
  state.mutable_schedule()->mutable_stages(0)->clear_probes();
  optimizer = StageOptimizer(state, 0);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  EXPECT_NEAR(optimizer->options().lr_min, 1e-3, 1e-15);
  EXPECT_NEAR(optimizer->options().lr_max, 1.0, 1e-12);
}

TEST(StageSearchTest, StageObservationsKeepDivergedProbesAsNaN) {
  JobState state;
  *state.mutable_job()->mutable_config() = Config();
  AddStage(*state.mutable_schedule(), {{0.5, true}, {0.05, false}});
  absl::StatusOr<bo::Optimizer> optimizer = StageOptimizer(state, 0);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  ASSERT_EQ(optimizer->observations().size(), 2u);
  EXPECT_TRUE(std::isnan(optimizer->observations()[0].value));
  EXPECT_EQ(optimizer->observations()[1].value, 1.0);
}

TEST(StageSearchTest, AskWithRoomHalvesTheSeparationWhenTheWindowIsFull) {
  bo::OptimizerOptions options;
  options.lr_min = 1e-3;
  options.lr_max = 1.0;
  options.kappa = 2;
  options.min_separation_fraction = 0.25;  // room for 5 LRs at most
  std::vector<bo::Observation> told;
  for (double lr : {1e-3, 5.6e-3, 3.2e-2, 0.18, 1.0}) told.push_back({lr, 1.0 + lr});
  absl::StatusOr<bo::Optimizer> full = bo::Optimizer::Create(options, told);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->Ask().status().code(), absl::StatusCode::kResourceExhausted);
  absl::StatusOr<double> lr = AskWithRoom(*full);
  ASSERT_TRUE(lr.ok()) << lr.status();
  EXPECT_GE(*lr, 1e-3);
  EXPECT_LE(*lr, 1.0);
  for (const bo::Observation& o : told) EXPECT_NE(*lr, o.lr);
}

}  // namespace
}  // namespace autolrs::server
