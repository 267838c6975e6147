#include "server/job_config.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace autolrs::server {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config.", field, " ", what));
}

}  // namespace

int64_t CooldownSteps(const v1::JobConfig& config) {
  return std::llround(config.cooldown_fraction() * static_cast<double>(config.total_steps()));
}

namespace {

// Whether the cooldown is at least one step and warmup plus cooldown leave
// steps for stages.
bool CooldownFits(const v1::JobConfig& c) {
  return CooldownSteps(c) > 0 && c.warmup_steps() + CooldownSteps(c) < c.total_steps();
}

}  // namespace

absl::StatusOr<v1::JobConfig> ResolveJobConfig(const v1::JobConfig& config) {
  v1::JobConfig c = config;

  // Learning-rate interval.
  if (!std::isfinite(c.lr_min()) || c.lr_min() <= 0) {
    return Invalid("lr_min", absl::StrCat("must be finite and > 0, got ", c.lr_min()));
  }
  if (!std::isfinite(c.lr_max()) || c.lr_max() <= c.lr_min()) {
    return Invalid("lr_max", absl::StrCat("must be finite and > lr_min (", c.lr_min(),
                                          "), got ", c.lr_max()));
  }

  // Stage sizes.
  if (c.tau_initial() == 0) c.set_tau_initial(1000);
  if (c.tau_initial() < kMinTau || c.tau_initial() > kMaxTau) {
    return Invalid("tau_initial", absl::StrCat("must be in [", kMinTau, ", ", kMaxTau,
                                               "], got ", c.tau_initial()));
  }
  if (c.tau_max() == 0) c.set_tau_max(std::max<int64_t>(8000, c.tau_initial()));
  if (c.tau_max() < c.tau_initial() || c.tau_max() > kMaxTau) {
    return Invalid("tau_max", absl::StrCat("must be in [tau_initial (", c.tau_initial(),
                                           "), ", kMaxTau, "], got ", c.tau_max()));
  }
  if (c.probe_ratio() == 0) c.set_probe_ratio(0.1);
  if (!std::isfinite(c.probe_ratio()) || c.probe_ratio() <= 0 || c.probe_ratio() > 1) {
    return Invalid("probe_ratio", absl::StrCat("must be in (0, 1], got ", c.probe_ratio()));
  }
  if (c.probes_per_stage() == 0) c.set_probes_per_stage(10);
  if (c.probes_per_stage() < kMinProbes || c.probes_per_stage() > kMaxProbes) {
    return Invalid("probes_per_stage", absl::StrCat("must be in [", kMinProbes, ", ",
                                                    kMaxProbes, "], got ",
                                                    c.probes_per_stage()));
  }

  // Objective.
  if (c.objective_switch() == v1::OBJECTIVE_SWITCH_UNSPECIFIED) {
    c.set_objective_switch(v1::OBJECTIVE_SWITCH_AFTER_TAU_MAX);
  }
  if (!v1::ObjectiveSwitch_IsValid(c.objective_switch())) {
    return Invalid("objective_switch", absl::StrCat("unknown value ", c.objective_switch()));
  }
  if (c.eval_points_per_probe() == 0) c.set_eval_points_per_probe(16);
  if (c.eval_points_per_probe() < 1 || c.eval_points_per_probe() > kMaxEvalPoints) {
    return Invalid("eval_points_per_probe",
                   absl::StrCat("must be in [1, ", kMaxEvalPoints, "], got ",
                                c.eval_points_per_probe()));
  }

  // Warmup and budget.
  if (c.warmup_steps() < 0 || c.warmup_steps() > kMaxTau) {
    return Invalid("warmup_steps", absl::StrCat("must be in [0, ", kMaxTau, "], got ",
                                                c.warmup_steps()));
  }
  if (c.warmup_steps() > 0 && (!std::isfinite(c.warmup_lr()) || c.warmup_lr() <= 0)) {
    return Invalid("warmup_lr", absl::StrCat("must be finite and > 0 when warmup_steps > 0, "
                                             "got ",
                                             c.warmup_lr()));
  }
  if (c.warmup_steps() == 0 && c.warmup_lr() != 0) {
    return Invalid("warmup_lr", "is set but warmup_steps is 0");
  }
  if (c.total_steps() < 0) {
    return Invalid("total_steps", absl::StrCat("must be >= 0 (0 = unbounded), got ",
                                               c.total_steps()));
  }
  if (c.total_steps() > 0 && c.total_steps() <= c.warmup_steps()) {
    return Invalid("total_steps", absl::StrCat("must exceed warmup_steps (", c.warmup_steps(),
                                               "), got ", c.total_steps()));
  }
  if (c.num_workers() == 0) c.set_num_workers(1);
  if (c.num_workers() < 1 || c.num_workers() > kMaxWorkers) {
    return Invalid("num_workers", absl::StrCat("must be in [1, ", kMaxWorkers, "], got ",
                                               c.num_workers()));
  }

  // Algorithm: the preset gives defaults, explicit fields override them.
  if (c.preset() == v1::PRESET_UNSPECIFIED) c.set_preset(v1::PRESET_RECOMMENDED);
  if (!v1::Preset_IsValid(c.preset())) {
    return Invalid("preset", absl::StrCat("unknown value ", c.preset()));
  }
  const bool reference = c.preset() == v1::PRESET_REFERENCE;
  if (!v1::Forecaster_IsValid(c.forecaster())) {
    return Invalid("forecaster", absl::StrCat("unknown value ", c.forecaster()));
  }
  if (c.forecaster() == v1::FORECASTER_UNSPECIFIED) {
    c.set_forecaster(reference ? v1::FORECASTER_REFERENCE_EXPONENTIAL
                               : v1::FORECASTER_LAST_MEAN);
  }
  if (!v1::Acquisition_IsValid(c.acquisition())) {
    return Invalid("acquisition", absl::StrCat("unknown value ", c.acquisition()));
  }
  if (c.acquisition() == v1::ACQUISITION_UNSPECIFIED) c.set_acquisition(v1::ACQUISITION_LCB);
  if (c.kappa() == 0) c.set_kappa(reference ? 1e6 : 2.0);
  if (!std::isfinite(c.kappa()) || c.kappa() <= 0) {
    return Invalid("kappa", absl::StrCat("must be finite and > 0, got ", c.kappa()));
  }
  if (!v1::StageChoice_IsValid(c.stage_choice())) {
    return Invalid("stage_choice", absl::StrCat("unknown value ", c.stage_choice()));
  }
  if (c.stage_choice() == v1::STAGE_CHOICE_UNSPECIFIED) {
    c.set_stage_choice(v1::STAGE_CHOICE_LOWEST_PREDICTED);
  }
  if (!c.has_divergence_factor()) c.set_divergence_factor(reference ? 0 : 2);
  if (!std::isfinite(c.divergence_factor()) ||
      (c.divergence_factor() != 0 &&
       (c.divergence_factor() <= 1 || c.divergence_factor() > 1000))) {
    return Invalid("divergence_factor",
                   absl::StrCat("must be 0 (off) or in (1, 1000], got ", c.divergence_factor()));
  }
  if (!c.has_remember_divergence()) c.set_remember_divergence(!reference);
  if (!c.has_warm_start()) c.set_warm_start(!reference);
  if (!c.has_min_probes_per_stage()) c.set_min_probes_per_stage(c.probes_per_stage());
  if (c.min_probes_per_stage() < kMinProbes || c.min_probes_per_stage() > c.probes_per_stage()) {
    return Invalid("min_probes_per_stage",
                   absl::StrCat("must be in [", kMinProbes, ", probes_per_stage (",
                                c.probes_per_stage(), ")], got ", c.min_probes_per_stage()));
  }
  if (!c.has_reuse_best_probe()) c.set_reuse_best_probe(false);
  if (!c.has_min_probe_separation()) {
    c.set_min_probe_separation(reference ? 1e-4 : 0.25 / c.probes_per_stage());
  }
  if (!(c.min_probe_separation() >= 1e-4 && c.min_probe_separation() <= 0.25)) {
    return Invalid("min_probe_separation",
                   absl::StrCat("must be in [1e-4, 0.25], got ", c.min_probe_separation()));
  }
  if (!c.has_later_stage_probes()) {
    c.set_later_stage_probes(reference ? c.probes_per_stage() : std::min(4, c.probes_per_stage()));
  }
  if (c.later_stage_probes() < kMinProbes || c.later_stage_probes() > c.probes_per_stage()) {
    return Invalid("later_stage_probes",
                   absl::StrCat("must be in [", kMinProbes, ", probes_per_stage (",
                                c.probes_per_stage(), ")], got ", c.later_stage_probes()));
  }
  if (!c.has_search_radius()) c.set_search_radius(reference ? 0 : 0.3);
  if (!std::isfinite(c.search_radius()) ||
      (c.search_radius() != 0 && (c.search_radius() < 0.05 || c.search_radius() > 10))) {
    return Invalid("search_radius", absl::StrCat("must be 0 (the whole interval) or in "
                                                 "[0.05, 10] decades, got ",
                                                 c.search_radius()));
  }
  if (!c.has_choice_tolerance()) c.set_choice_tolerance(reference ? 0 : 0.05);
  if (!(c.choice_tolerance() >= 0 && c.choice_tolerance() <= 1)) {
    return Invalid("choice_tolerance",
                   absl::StrCat("must be in [0, 1], got ", c.choice_tolerance()));
  }
  if (!c.has_cooldown_fraction()) {
    // The preset's cooldown, when the budget is known and leaves room for it.
    c.set_cooldown_fraction(reference || c.total_steps() == 0 ? 0 : 0.2);
    if (c.cooldown_fraction() > 0 && !CooldownFits(c)) c.set_cooldown_fraction(0);
  }
  if (!(c.cooldown_fraction() >= 0 && c.cooldown_fraction() <= 0.5)) {
    return Invalid("cooldown_fraction",
                   absl::StrCat("must be in [0, 0.5], got ", c.cooldown_fraction()));
  }
  if (c.cooldown_fraction() > 0) {
    if (c.total_steps() == 0) {
      return Invalid("cooldown_fraction", "needs total_steps (the cooldown ends the budget)");
    }
    if (!CooldownFits(c)) {
      return Invalid("cooldown_fraction",
                     absl::StrCat("gives a cooldown of ", CooldownSteps(c), " of total_steps (",
                                  c.total_steps(), "): it must be >= 1 step and leave steps "
                                  "for stages after warmup_steps (",
                                  c.warmup_steps(), ")"));
    }
  }
  if (!c.has_early_stop_gain()) c.set_early_stop_gain(0.01);
  if (!std::isfinite(c.early_stop_gain()) || c.early_stop_gain() < 0 ||
      c.early_stop_gain() > 1) {
    return Invalid("early_stop_gain",
                   absl::StrCat("must be in [0, 1], got ", c.early_stop_gain()));
  }
  return c;
}

}  // namespace autolrs::server
