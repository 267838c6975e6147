#include "bench/run_result.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"

namespace autolrs::bench {
namespace {

absl::StatusOr<std::string> Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<std::pair<std::string, double>> ExpectedSegments(const v1::Schedule& schedule) {
  std::vector<std::pair<std::string, double>> seq;
  auto push = [&](const char* phase, double lr) {
    if (!seq.empty() && seq.back().first == phase &&
        std::abs(seq.back().second - lr) <= 1e-9 * std::abs(lr)) {
      return;
    }
    seq.emplace_back(phase, lr);
  };
  for (const v1::Stage& stage : schedule.stages()) {
    if (!stage.search_skipped()) {
      for (const v1::Probe& p : stage.probes()) push("probe", p.lr());
      for (const v1::Probe& p : stage.confirmations()) push("probe", p.lr());
    }
    // Exploitations the exploit_guard rolled back ran before the kept one.
    for (double lr : stage.rolled_back_lrs()) push("exploit", lr);
    if (stage.training_loss().count() > 0) push("exploit", stage.chosen_lr());
  }
  return seq;
}

absl::Status CheckLrsFollowSchedule(const std::vector<StepRow>& rows,
                                    const v1::Schedule& schedule) {
  std::vector<StepRow> no_warmup;
  std::vector<StepRow> cooldown;
  for (const StepRow& r : rows) {
    if (r.phase == "cooldown") {
      cooldown.push_back(r);
    } else if (r.phase != "warmup") {
      no_warmup.push_back(r);
    }
  }
  // The cooldown: step i of n at cooldown_lr * (1 - i / (n + 1)).
  if (static_cast<int64_t>(cooldown.size()) != schedule.cooldown_steps()) {
    return absl::DataLossError(absl::StrFormat("the CSV has %d cooldown steps, the schedule %d",
                                               cooldown.size(), schedule.cooldown_steps()));
  }
  for (size_t i = 0; i < cooldown.size(); ++i) {
    const double want =
        schedule.cooldown_lr() *
        (1.0 - static_cast<double>(i + 1) / static_cast<double>(cooldown.size() + 1));
    if (std::abs(cooldown[i].lr - want) > 1e-6 * schedule.cooldown_lr()) {
      return absl::DataLossError(
          absl::StrFormat("cooldown step %d (step %d) ran at LR %.6g, the schedule says %.6g",
                          i + 1, cooldown[i].step, cooldown[i].lr, want));
    }
  }
  const std::vector<Segment> got = Segments(no_warmup);
  const auto want = ExpectedSegments(schedule);
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i >= got.size() || i >= want.size() || got[i].phase != want[i].first ||
        std::abs(got[i].lr - want[i].second) > 1e-6 * std::abs(want[i].second)) {
      return absl::DataLossError(absl::StrFormat(
          "the CSV's LRs do not follow the served schedule at segment %d: CSV has %s, the "
          "schedule %s",
          i,
          i < got.size() ? absl::StrFormat("%s lr=%.6g from step %d", got[i].phase, got[i].lr,
                                           got[i].first_step)
                         : std::string("nothing"),
          i < want.size() ? absl::StrFormat("%s lr=%.6g", want[i].first, want[i].second)
                          : std::string("nothing")));
    }
  }
  return absl::OkStatus();
}

RunResult ParseRun(const RunSpec& spec, const std::string& stdout_text, const std::string& csv_text,
                   const v1::Schedule* schedule) {
  RunResult result;
  auto fail = [&](const absl::Status& s) {
    result.ok = false;
    result.error = s.ToString();
    return result;
  };
  absl::StatusOr<std::map<std::string, std::string>> final_line = ParseFinalLine(stdout_text);
  if (!final_line.ok()) return fail(final_line.status());
  auto number = [&](const char* key) {
    auto it = final_line->find(key);
    return it == final_line->end() ? NAN : std::strtod(it->second.c_str(), nullptr);
  };
  result.test_loss = number("test_loss");
  result.test_accuracy = number("test_accuracy");
  result.seconds = number("seconds");
  result.peak_lr = number("peak_lr");
  result.step_size = number("max_step_size");
  result.model_steps = number("model_steps");
  if (number("steps") != static_cast<double>(spec.steps)) {
    return fail(absl::DataLossError(
        absl::StrCat("the run spent ", number("steps"), " steps, not ", spec.steps)));
  }
  absl::StatusOr<std::vector<StepRow>> rows = ParseStepCsv(csv_text);
  if (!rows.ok()) return fail(rows.status());
  if (static_cast<int64_t>(rows->size()) != spec.steps) {
    return fail(absl::DataLossError(
        absl::StrCat("the CSV has ", rows->size(), " rows, expected ", spec.steps)));
  }
  result.probe_fraction = ProbeFraction(*rows);
  result.discarded_probe_fraction = result.probe_fraction;
  if (schedule != nullptr && spec.steps > 0) {
    int64_t kept = 0;
    for (const v1::Stage& stage : schedule->stages()) {
      if (stage.continued_from_probe()) kept += stage.tau_probe();
    }
    const double probe_rows = result.probe_fraction * static_cast<double>(rows->size());
    result.discarded_probe_fraction =
        std::max(0.0, probe_rows - static_cast<double>(kept)) / static_cast<double>(spec.steps);
  }
  result.curve = MainLineEvals(*rows);
  // The final model is the main line when the last step was (always, unless
  // the budget ended inside a probe). Its validation loss is on stdout.
  if (IsMainLine(rows->back().phase) &&
      (result.curve.empty() || result.curve.back().step != spec.steps)) {
    result.curve.push_back({spec.steps, number("val_loss")});
  }
  if (!result.curve.empty() && result.curve.back().step == spec.steps) {
    // overfit_guard undid the cooldown: DONE restored the model saved before
    // it, so the CSV's last evaluation is of a model the run did not keep.
    // The kept model's validation loss is on stdout.
    if (schedule != nullptr && schedule->cooldown_rolled_back()) {
      result.curve.back().val_loss = number("val_loss");
    }
    result.final_val = result.curve.back().val_loss;
  }
  const bool first_lr_is_spec_lr =
      spec.kind == Kind::kGrid || (spec.kind == Kind::kOneRun && spec.method != "range-cosine");
  if (first_lr_is_spec_lr && std::abs((*rows)[0].lr - spec.lr) > 1e-6 * spec.lr) {
    return fail(absl::DataLossError(
        absl::StrFormat("step 1 ran at lr %.6g, expected %.6g", (*rows)[0].lr, spec.lr)));
  }
  if (UsesServer(spec.kind)) {
    if (schedule == nullptr) return fail(absl::DataLossError("no schedule"));
    result.schedule = *schedule;
    if (absl::Status s = CheckLrsFollowSchedule(*rows, *schedule); !s.ok()) return fail(s);
  }
  result.ok = true;
  return result;
}

RunResult LoadRun(const RunSpec& spec, const std::string& dir) {
  RunResult failed;
  absl::StatusOr<std::string> out = Read(dir + "/stdout");
  absl::StatusOr<std::string> csv = Read(dir + "/steps.csv");
  if (!out.ok() || !csv.ok()) {
    failed.error = (!out.ok() ? out.status() : csv.status()).ToString();
    return failed;
  }
  v1::Schedule schedule;
  if (UsesServer(spec.kind)) {
    absl::StatusOr<std::string> text = Read(dir + "/schedule.txt");
    if (!text.ok() || !google::protobuf::TextFormat::ParseFromString(*text, &schedule)) {
      failed.error = absl::StrCat("cannot read the schedule in ", dir);
      return failed;
    }
  }
  RunResult result = ParseRun(spec, *out, *csv, UsesServer(spec.kind) ? &schedule : nullptr);
  if (spec.kind == Kind::kFamily) {
    v1::Family family;
    absl::StatusOr<std::string> text = Read(dir + "/family.txt");
    if (text.ok() && google::protobuf::TextFormat::ParseFromString(*text, &family)) {
      for (const v1::FamilyRun& run : family.runs()) {
        if (run.job_id() == spec.id) result.family_prior_runs = run.prior_runs();
      }
    }
  }
  return result;
}

}  // namespace autolrs::bench
