#ifndef AUTOLRS_SERVER_FAMILY_H_
#define AUTOLRS_SERVER_FAMILY_H_

// Family knowledge (JobConfig.family): what a family remembers of a finished
// job, how its runs combine into a curve of LR against progress, and the
// prior a new job of the family searches around. Pure functions: no I/O, no
// clock; thread-compatible.
//
// Progress is steps spent (probes included) / total_steps, in [0, 1].

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "autolrs/v1/family.pb.h"
#include "autolrs/v1/job.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "server/job_state.pb.h"

namespace autolrs::server {

// Runs a family keeps: the most recent ones.
inline constexpr int kMaxFamilyRuns = 16;

using FamilyRuns = google::protobuf::RepeatedPtrField<v1::FamilyRun>;

// INVALID_ARGUMENT (naming `field`) unless `name` is 1 to 63 characters of
// [a-z0-9-_]: the rules of job ids (ValidateJobId) and family names.
absl::Status ValidateName(absl::string_view name, absl::string_view field);

// The loss at the stage checkpoint of `schedule`'s stage `index`, in the
// stage's objective: the previous stage's exploitation (training: its last-10
// mean; validation: its final evaluation) when there is one, else the median
// first loss of the stage's probes. 0 when unknown.
double CheckpointLoss(const v1::Schedule& schedule, int index);

// What the family keeps of a finished job (JOB_STATE_DONE, total_steps > 0).
v1::FamilyRun SummarizeRun(const JobState& done);

// Adds `run` to `family`: it replaces a run of the same job_id, else it is
// appended (runs_recorded + 1) and the oldest runs beyond kMaxFamilyRuns
// leave.
void AddRun(v1::FamilyRun run, v1::Family& family);

// Fills `family`'s curve and spread_decades from its runs (replacing them).
void DeriveCurve(v1::Family& family);

// The runs among `runs` (a family's) a job of `config` (resolved,
// total_steps > 0) builds its prior from: those of the same warmup and
// cooldown fractions (within 0.02), so that progress means the same part of
// training. Oldest first.
FamilyRuns CompatibleRuns(const FamilyRuns& runs, const v1::JobConfig& config);

// The family's view at one progress point.
struct PriorPoint {
  // Median (geometric mean of the middle two for an even count), smallest
  // and largest LR of the runs at this progress.
  double lr = 0;
  double lr_low = 0;
  double lr_high = 0;
  int runs = 0;
  // Range of the runs' forecasts (FamilyStage.forecast) at this progress,
  // over the runs that know one (forecast_runs of them).
  double forecast_low = 0;
  double forecast_high = 0;
  int forecast_runs = 0;
  // log10(lr_high / lr_low).
  double spread_decades() const;
};

// Each run's LR at `progress`: that of its stage whose [start, end) holds it,
// the first stage's before it, the last stage's after. nullopt when no run
// has a stage.
std::optional<PriorPoint> PriorAt(const FamilyRuns& runs, double progress);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_FAMILY_H_
