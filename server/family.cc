#include "server/family.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace autolrs::server {
namespace {

constexpr int kMaxNameLength = 63;
// Warmup and cooldown fractions this close mean the same progress axis.
constexpr double kFractionMatch = 0.02;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The stage of `run` whose LR holds at `progress`; nullptr without stages.
const v1::FamilyStage* StageAt(const v1::FamilyRun& run, double progress) {
  const v1::FamilyStage* found = nullptr;
  for (const v1::FamilyStage& s : run.stages()) {
    if (found == nullptr || s.start_progress() <= progress) found = &s;
  }
  return found;
}

}  // namespace

absl::Status ValidateName(absl::string_view name, absl::string_view field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be at most ", kMaxNameLength,
                                                   " characters, got ", name.size()));
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " may hold only [a-z0-9-_], got '", name, "'"));
    }
  }
  return absl::OkStatus();
}

double PriorPoint::spread_decades() const {
  return lr_low > 0 && lr_high > 0 ? std::log10(lr_high / lr_low) : 0;
}

double CheckpointLoss(const v1::Schedule& schedule, int index) {
  if (index < 0 || index >= schedule.stages_size()) return 0;
  const v1::Stage& stage = schedule.stages(index);
  const bool validation = stage.objective() == v1::OBJECTIVE_VALIDATION_LOSS;
  if (index > 0) {
    const v1::Stage& previous = schedule.stages(index - 1);
    if (validation && previous.validation_loss().count() > 0) {
      return previous.validation_loss().last();
    }
    if (!validation && previous.training_loss().count() > 0) {
      return previous.training_loss().tail_mean();
    }
  }
  std::vector<double> first;
  for (const v1::Probe& p : stage.probes()) {
    const v1::LossSummary& s = validation ? p.validation_loss() : p.training_loss();
    if (s.count() > 0 && std::isfinite(s.first())) first.push_back(s.first());
  }
  return first.empty() ? 0 : Median(std::move(first));
}

v1::FamilyRun SummarizeRun(const JobState& done) {
  const v1::Job& job = done.job();
  const v1::JobConfig& c = job.config();
  const v1::Schedule& schedule = done.schedule();
  const double total = static_cast<double>(std::max<int64_t>(1, c.total_steps()));
  v1::FamilyRun run;
  run.set_job_id(job.job_id());
  run.set_seed(c.seed());
  *run.mutable_finish_time() = job.update_time();
  run.set_lr_min(c.lr_min());
  run.set_lr_max(c.lr_max());
  run.set_total_steps(c.total_steps());
  run.set_warmup_fraction(c.warmup_steps() / total);
  run.set_cooldown_fraction(c.cooldown_fraction());
  run.set_tau_initial_fraction(c.tau_initial() / total);
  // Where the stages ended: the cooldown's start, else the budget's end.
  const int64_t stages_end = schedule.cooldown_steps() > 0
                                 ? c.total_steps() - schedule.cooldown_steps()
                                 : job.steps_spent();
  for (int i = 0; i < schedule.stages_size(); ++i) {
    const v1::Stage& s = schedule.stages(i);
    if (s.chosen_lr() <= 0 || s.training_loss().count() == 0) continue;  // Never exploited.
    const int64_t end =
        i + 1 < schedule.stages_size() ? schedule.stages(i + 1).start_steps_spent() : stages_end;
    v1::FamilyStage* stage = run.add_stages();
    stage->set_start_progress(s.start_steps_spent() / total);
    stage->set_end_progress(std::max(s.start_steps_spent(), end) / total);
    stage->set_lr(s.chosen_lr());
    stage->set_search_skipped(s.search_skipped());
    const double checkpoint = CheckpointLoss(schedule, i);
    if (s.search_skipped() || s.probes_size() == 0 || !(checkpoint > 0)) continue;
    stage->set_checkpoint_loss(checkpoint);
    if (std::isfinite(s.chosen_predicted_loss()) && s.chosen_predicted_loss() > 0) {
      stage->set_forecast(s.chosen_predicted_loss());
      stage->set_forecast_decrease(1 - s.chosen_predicted_loss() / checkpoint);
    }
  }
  run.set_cooldown_lr(schedule.cooldown_steps() > 0 ? schedule.cooldown_lr() : 0);
  const v1::Stage* last =
      schedule.stages_size() > 0 ? &schedule.stages(schedule.stages_size() - 1) : nullptr;
  // The model kept is the cooldown's, unless overfit_guard went back to the
  // main line's state before it (or before the last stage).
  const bool cooled = !schedule.cooldown_rolled_back();
  if (cooled && schedule.cooldown_training_loss().count() > 0) {
    run.set_final_training_loss(schedule.cooldown_training_loss().tail_mean());
  } else if (last != nullptr && last->training_loss().count() > 0) {
    run.set_final_training_loss(last->training_loss().tail_mean());
  }
  if (cooled && schedule.cooldown_validation_loss().count() > 0) {
    run.set_final_validation_loss(schedule.cooldown_validation_loss().last());
  } else if ((!cooled || schedule.cooldown_steps() == 0) && last != nullptr &&
             last->validation_loss().count() > 0) {
    run.set_final_validation_loss(last->validation_loss().last());
  }
  run.set_probe_fraction(std::max<int64_t>(0, job.steps_spent() - job.model_steps()) / total);
  run.set_prior_runs(job.family_prior_runs());
  run.set_prior_dropped(job.family_prior_dropped());
  return run;
}

void AddRun(v1::FamilyRun run, v1::Family& family) {
  for (v1::FamilyRun& r : *family.mutable_runs()) {
    if (r.job_id() == run.job_id()) {
      r = std::move(run);
      return;
    }
  }
  *family.add_runs() = std::move(run);
  family.set_runs_recorded(family.runs_recorded() + 1);
  const int excess = family.runs_size() - kMaxFamilyRuns;
  if (excess > 0) family.mutable_runs()->DeleteSubrange(0, excess);
}

void DeriveCurve(v1::Family& family) {
  family.clear_curve();
  family.set_spread_decades(0);
  std::set<double> points;
  for (const v1::FamilyRun& r : family.runs()) {
    for (const v1::FamilyStage& s : r.stages()) {
      points.insert((s.start_progress() + s.end_progress()) / 2);
    }
  }
  for (double p : points) {
    std::optional<PriorPoint> prior = PriorAt(family.runs(), p);
    if (!prior.has_value()) continue;
    v1::FamilyCurvePoint* point = family.add_curve();
    point->set_progress(p);
    point->set_lr(prior->lr);
    point->set_lr_low(prior->lr_low);
    point->set_lr_high(prior->lr_high);
    point->set_runs(prior->runs);
    if (prior->runs >= 2) {
      family.set_spread_decades(std::max(family.spread_decades(), prior->spread_decades()));
    }
  }
}

FamilyRuns CompatibleRuns(const FamilyRuns& all, const v1::JobConfig& config) {
  FamilyRuns runs;
  if (config.total_steps() <= 0) return runs;
  const double warmup = config.warmup_steps() / static_cast<double>(config.total_steps());
  for (const v1::FamilyRun& r : all) {
    if (r.stages_size() == 0 || std::abs(r.warmup_fraction() - warmup) > kFractionMatch ||
        std::abs(r.cooldown_fraction() - config.cooldown_fraction()) > kFractionMatch) {
      continue;
    }
    *runs.Add() = r;
  }
  return runs;
}

std::optional<PriorPoint> PriorAt(const FamilyRuns& runs, double progress) {
  std::vector<double> logs, forecasts;
  for (const v1::FamilyRun& r : runs) {
    const v1::FamilyStage* s = StageAt(r, progress);
    if (s == nullptr || s->lr() <= 0) continue;
    logs.push_back(std::log10(s->lr()));
    if (s->forecast() > 0 && std::isfinite(s->forecast())) forecasts.push_back(s->forecast());
  }
  if (logs.empty()) return std::nullopt;
  PriorPoint point;
  point.runs = static_cast<int>(logs.size());
  point.lr = std::pow(10.0, Median(logs));
  point.lr_low = std::pow(10.0, *std::min_element(logs.begin(), logs.end()));
  point.lr_high = std::pow(10.0, *std::max_element(logs.begin(), logs.end()));
  if (!forecasts.empty()) {
    point.forecast_runs = static_cast<int>(forecasts.size());
    point.forecast_low = *std::min_element(forecasts.begin(), forecasts.end());
    point.forecast_high = *std::max_element(forecasts.begin(), forecasts.end());
  }
  return point;
}

}  // namespace autolrs::server
