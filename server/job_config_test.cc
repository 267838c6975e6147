#include "server/job_config.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace autolrs::server {
namespace {

v1::JobConfig Valid() {
  v1::JobConfig c;
  c.set_lr_min(1e-4);
  c.set_lr_max(1.0);
  return c;
}

TEST(JobConfigTest, FillsTheDocumentedDefaults) {
  absl::StatusOr<v1::JobConfig> c = ResolveJobConfig(Valid());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tau_initial(), 1000);
  EXPECT_EQ(c->tau_max(), 8000);
  EXPECT_DOUBLE_EQ(c->probe_ratio(), 0.1);
  EXPECT_EQ(c->probes_per_stage(), 10);
  EXPECT_EQ(c->objective_switch(), v1::OBJECTIVE_SWITCH_AFTER_TAU_MAX);
  EXPECT_EQ(c->eval_points_per_probe(), 16);
  EXPECT_EQ(c->num_workers(), 1);
  EXPECT_EQ(c->total_steps(), 0);
  EXPECT_EQ(c->preset(), v1::PRESET_RECOMMENDED);
  EXPECT_NE(c->forecaster(), v1::FORECASTER_UNSPECIFIED);
  EXPECT_NE(c->acquisition(), v1::ACQUISITION_UNSPECIFIED);
  EXPECT_GT(c->kappa(), 0);
  EXPECT_NE(c->stage_choice(), v1::STAGE_CHOICE_UNSPECIFIED);
}

TEST(JobConfigTest, ReferencePresetReproducesThePaper) {
  v1::JobConfig in = Valid();
  in.set_preset(v1::PRESET_REFERENCE);
  absl::StatusOr<v1::JobConfig> c = ResolveJobConfig(in);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->forecaster(), v1::FORECASTER_REFERENCE_EXPONENTIAL);
  EXPECT_EQ(c->acquisition(), v1::ACQUISITION_LCB);
  EXPECT_EQ(c->kappa(), 1e6);
  EXPECT_EQ(c->stage_choice(), v1::STAGE_CHOICE_LOWEST_PREDICTED);
  EXPECT_EQ(c->divergence_factor(), 0);
  EXPECT_FALSE(c->remember_divergence());
  EXPECT_FALSE(c->warm_start());
  EXPECT_EQ(c->min_probe_separation(), 1e-4);
  EXPECT_EQ(c->cooldown_fraction(), 0);
  EXPECT_EQ(c->search_radius(), 0);
  EXPECT_EQ(c->later_stage_probes(), c->probes_per_stage());
  EXPECT_EQ(c->later_stage_min_probe_steps(), 0);
  EXPECT_FALSE(c->search_needs_whole_stage());
  EXPECT_FALSE(c->tolerance_never_raises());
  EXPECT_EQ(c->raise_margin(), 0);
  EXPECT_FALSE(c->first_stage_interpolation());
  EXPECT_FALSE(c->first_stage_clamp_to_limit());
  EXPECT_EQ(c->min_probe_steps(), 0);
  EXPECT_EQ(c->overfit_guard(), 0);
}

TEST(JobConfigTest, OverfitGuardIsOnUnlessNoValidationIsEverRequested) {
  absl::StatusOr<v1::JobConfig> c = ResolveJobConfig(Valid());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->overfit_guard(), 0.01);
  v1::JobConfig never = Valid();
  never.set_objective_switch(v1::OBJECTIVE_SWITCH_NEVER);
  c = ResolveJobConfig(never);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->overfit_guard(), 0);
}

TEST(JobConfigTest, RecommendedPresetCoolsDownOnlyWithABudgetThatLeavesRoomForIt) {
  v1::JobConfig in = Valid();
  absl::StatusOr<v1::JobConfig> c = ResolveJobConfig(in);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->forecaster(), v1::FORECASTER_LAST_MEAN);
  EXPECT_EQ(c->search_radius(), 0.3);
  EXPECT_EQ(c->later_stage_probes(), 4);
  EXPECT_EQ(c->later_stage_min_probe_steps(), 0);
  EXPECT_FALSE(c->search_needs_whole_stage());
  EXPECT_EQ(c->choice_tolerance(), 0.05);
  EXPECT_EQ(c->first_stage_choice_tolerance(), 0.1);
  EXPECT_FALSE(c->first_stage_interpolation());
  EXPECT_TRUE(c->first_stage_clamp_to_limit());
  EXPECT_EQ(c->min_probe_steps(), 7);
  EXPECT_TRUE(c->tolerance_never_raises());
  EXPECT_EQ(c->raise_margin(), 0.02);
  EXPECT_EQ(c->cooldown_fraction(), 0);  // No total_steps.
  in.set_total_steps(10000);
  c = ResolveJobConfig(in);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->cooldown_fraction(), 0.5);
  EXPECT_EQ(CooldownSteps(*c), 5000);
  in.set_warmup_steps(6000);  // Half the budget does not fit beside it; 20% does.
  in.set_warmup_lr(0.1);
  c = ResolveJobConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cooldown_fraction(), 0.2);
  in.set_warmup_steps(9000);
  c = ResolveJobConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cooldown_fraction(), 0);  // Warmup and cooldown would take it all.
  in.clear_warmup_steps();
  in.clear_warmup_lr();
  in.set_total_steps(3'000'000);  // The cooldown is one action: at most 500000 steps.
  c = ResolveJobConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(CooldownSteps(*c), kMaxActionSteps);
  in = Valid();
  in.set_probes_per_stage(3);
  c = ResolveJobConfig(in);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->later_stage_probes(), 3);
}

TEST(JobConfigTest, ResolvingIsIdempotent) {
  for (const v1::Preset preset : {v1::PRESET_RECOMMENDED, v1::PRESET_REFERENCE}) {
    v1::JobConfig in = Valid();
    in.set_preset(preset);
    absl::StatusOr<v1::JobConfig> once = ResolveJobConfig(in);
    ASSERT_TRUE(once.ok());
    absl::StatusOr<v1::JobConfig> twice = ResolveJobConfig(*once);
    ASSERT_TRUE(twice.ok());
    EXPECT_EQ(once->SerializeAsString(), twice->SerializeAsString());
  }
}

TEST(JobConfigTest, ExplicitFieldsOverrideThePreset) {
  v1::JobConfig in = Valid();
  in.set_preset(v1::PRESET_REFERENCE);
  in.set_kappa(3);
  in.set_forecaster(v1::FORECASTER_LAST_MEAN);
  absl::StatusOr<v1::JobConfig> c = ResolveJobConfig(in);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kappa(), 3);
  EXPECT_EQ(c->forecaster(), v1::FORECASTER_LAST_MEAN);
}

struct BadCase {
  std::string field;
  std::function<void(v1::JobConfig&)> mutate;
};

TEST(JobConfigTest, RejectsBadValuesNamingTheField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const BadCase cases[] = {
      {"lr_min", [](v1::JobConfig& c) { c.set_lr_min(0); }},
      {"lr_min", [](v1::JobConfig& c) { c.set_lr_min(-1); }},
      {"lr_min", [&](v1::JobConfig& c) { c.set_lr_min(nan); }},
      {"lr_max", [](v1::JobConfig& c) { c.set_lr_max(1e-4); }},
      {"lr_max", [](v1::JobConfig& c) { c.set_lr_max(1e-5); }},
      {"lr_max", [&](v1::JobConfig& c) { c.set_lr_max(inf); }},
      {"tau_initial", [](v1::JobConfig& c) { c.set_tau_initial(5); }},
      {"tau_initial", [](v1::JobConfig& c) { c.set_tau_initial(-100); }},
      {"tau_max", [](v1::JobConfig& c) { c.set_tau_initial(2000), c.set_tau_max(1000); }},
      {"probe_ratio", [](v1::JobConfig& c) { c.set_probe_ratio(1.5); }},
      {"probe_ratio", [](v1::JobConfig& c) { c.set_probe_ratio(-0.1); }},
      {"probe_ratio", [&](v1::JobConfig& c) { c.set_probe_ratio(nan); }},
      {"probes_per_stage", [](v1::JobConfig& c) { c.set_probes_per_stage(1); }},
      {"probes_per_stage", [](v1::JobConfig& c) { c.set_probes_per_stage(101); }},
      {"eval_points_per_probe", [](v1::JobConfig& c) { c.set_eval_points_per_probe(-1); }},
      {"warmup_steps", [](v1::JobConfig& c) { c.set_warmup_steps(-1); }},
      {"warmup_lr", [](v1::JobConfig& c) { c.set_warmup_steps(10); }},
      {"warmup_lr", [](v1::JobConfig& c) { c.set_warmup_lr(0.1); }},
      {"total_steps", [](v1::JobConfig& c) { c.set_total_steps(-5); }},
      {"total_steps",
       [](v1::JobConfig& c) {
         c.set_warmup_steps(100), c.set_warmup_lr(0.1), c.set_total_steps(50);
       }},
      {"num_workers", [](v1::JobConfig& c) { c.set_num_workers(-1); }},
      {"num_workers", [](v1::JobConfig& c) { c.set_num_workers(5000); }},
      {"kappa", [](v1::JobConfig& c) { c.set_kappa(-1); }},
      {"divergence_factor", [](v1::JobConfig& c) { c.set_divergence_factor(0.5); }},
      {"min_probes_per_stage", [](v1::JobConfig& c) { c.set_min_probes_per_stage(11); }},
      {"min_probes_per_stage", [](v1::JobConfig& c) { c.set_min_probes_per_stage(1); }},
      {"early_stop_gain", [](v1::JobConfig& c) { c.set_early_stop_gain(-0.1); }},
      {"min_probe_separation", [](v1::JobConfig& c) { c.set_min_probe_separation(0.3); }},
      {"divergence_factor", [&](v1::JobConfig& c) { c.set_divergence_factor(inf); }},
      {"later_stage_probes", [](v1::JobConfig& c) { c.set_later_stage_probes(1); }},
      {"later_stage_probes", [](v1::JobConfig& c) { c.set_later_stage_probes(11); }},
      {"later_stage_min_probe_steps",
       [](v1::JobConfig& c) { c.set_later_stage_min_probe_steps(-1); }},
      {"later_stage_min_probe_steps",
       [](v1::JobConfig& c) { c.set_later_stage_min_probe_steps(500001); }},
      {"search_radius", [](v1::JobConfig& c) { c.set_search_radius(0.01); }},
      {"search_radius", [&](v1::JobConfig& c) { c.set_search_radius(nan); }},
      {"search_radius", [](v1::JobConfig& c) { c.set_search_radius(-1); }},
      {"cooldown_fraction", [](v1::JobConfig& c) { c.set_cooldown_fraction(0.2); }},
      {"cooldown_fraction",
       [](v1::JobConfig& c) { c.set_total_steps(1000), c.set_cooldown_fraction(0.6); }},
      {"cooldown_fraction",
       [&](v1::JobConfig& c) { c.set_total_steps(1000), c.set_cooldown_fraction(nan); }},
      {"cooldown_fraction",
       [](v1::JobConfig& c) { c.set_total_steps(1000), c.set_cooldown_fraction(1e-4); }},
      {"cooldown_fraction",
       [](v1::JobConfig& c) {
         c.set_total_steps(100), c.set_warmup_steps(50), c.set_warmup_lr(0.1),
             c.set_cooldown_fraction(0.5);
       }},
      {"overfit_guard", [](v1::JobConfig& c) { c.set_overfit_guard(0.0005); }},
      {"overfit_guard", [](v1::JobConfig& c) { c.set_overfit_guard(2); }},
      {"overfit_guard", [&](v1::JobConfig& c) { c.set_overfit_guard(nan); }},
      {"overfit_guard",
       [](v1::JobConfig& c) {
         c.set_objective_switch(v1::OBJECTIVE_SWITCH_NEVER), c.set_overfit_guard(0.01);
       }},
      {"preset", [](v1::JobConfig& c) { c.set_preset(static_cast<v1::Preset>(42)); }},
      {"forecaster", [](v1::JobConfig& c) { c.set_forecaster(static_cast<v1::Forecaster>(42)); }},
  };
  for (const BadCase& bad : cases) {
    v1::JobConfig c = Valid();
    bad.mutate(c);
    absl::StatusOr<v1::JobConfig> resolved = ResolveJobConfig(c);
    EXPECT_TRUE(absl::IsInvalidArgument(resolved.status()))
        << bad.field << ": " << resolved.status();
    EXPECT_NE(resolved.status().message().find("config." + bad.field), std::string::npos)
        << resolved.status();
  }
}

TEST(JobConfigTest, EveryTableRowNamesAJobConfigField) {
  for (const std::string& name : ResolvedFieldNames()) {
    EXPECT_NE(v1::JobConfig::descriptor()->FindFieldByName(name), nullptr) << name;
  }
}

TEST(JobConfigTest, EveryOptionalFieldHasADefault) {
  // A new `optional` option must get a row in the defaults table, or it
  // would stay unset in the resolved config.
  absl::StatusOr<v1::JobConfig> c = ResolveJobConfig(Valid());
  ASSERT_TRUE(c.ok());
  const auto* d = v1::JobConfig::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->has_presence()) {
      EXPECT_TRUE(c->GetReflection()->HasField(*c, f)) << f->name();
    }
  }
}

}  // namespace
}  // namespace autolrs::server
