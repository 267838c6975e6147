// libFuzzer target: arbitrary request sequences against the service layer
// (Scheduler over the memory store). Each input is decoded by a byte-driven
// generator into up to 48 calls on a handful of job ids: CreateJob with
// fuzzed configs, NextAction and ReportLosses (usually shaped like the
// current action, sometimes not), GetJob, ListJobs, DeleteJob, GetSchedule.
// Crashes, sanitizer reports and these invariants are findings:
// - no call answers INTERNAL or UNKNOWN;
// - with AUTOLRS_FUZZ_ATOMIC=1 in the environment: a failed ReportLosses
//   leaves GetJob and GetSchedule exactly as before (issue 13, defect 1).
//
// Built and run by tests/fuzz/run_fuzzers.sh (clang, -fsanitize=fuzzer,
// address,undefined).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "server/memory_job_store.h"
#include "server/scheduler.h"

namespace autolrs::server {
namespace {

constexpr int kMaxCalls = 48;
constexpr int64_t kMaxReportedSteps = 4096;
const char* const kJobIds[] = {"a", "b", "c", "job-with-a-longer-id", "", "Bad Id!"};

// AUTOLRS_FUZZ_KNOWN: '|'-separated message fragments of findings already
// reported, skipped while looking for new ones (never set in CI).
bool Known(const absl::Status& status) {
  static const std::vector<std::string> known = [] {
    std::vector<std::string> out;
    const char* env = std::getenv("AUTOLRS_FUZZ_KNOWN");
    std::string all = env == nullptr ? "" : env;
    for (size_t start = 0; start < all.size();) {
      size_t end = all.find('|', start);
      if (end == std::string::npos) end = all.size();
      if (end > start) out.push_back(all.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }();
  for (const std::string& k : known) {
    if (status.message().find(k) != absl::string_view::npos) return true;
  }
  return false;
}

void Check(const absl::Status& status, const char* call) {
  if ((status.code() == absl::StatusCode::kInternal ||
       status.code() == absl::StatusCode::kUnknown) &&
      !Known(status)) {
    std::fprintf(stderr, "%s answered %s\n", call, status.ToString().c_str());
    std::abort();
  }
}

double FuzzedDouble(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      return in.ConsumeFloatingPoint<double>();  // Anything, NaN and Inf too.
    case 1:
      return in.ConsumeFloatingPointInRange<double>(1e-6, 10.0);
    case 2:
      return in.ConsumeProbability<double>();
    default:
      return 0;
  }
}

v1::JobConfig FuzzedConfig(FuzzedDataProvider& in) {
  v1::JobConfig c;
  c.set_lr_min(in.ConsumeBool() ? 1e-4 : FuzzedDouble(in));
  c.set_lr_max(in.ConsumeBool() ? 1.0 : FuzzedDouble(in));
  // Small stages by default, so that jobs get far within one input.
  c.set_tau_initial(in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(1, 64)
                                     : in.ConsumeIntegral<int64_t>());
  if (in.ConsumeBool()) c.set_tau_max(in.ConsumeIntegralInRange<int64_t>(0, 256));
  if (in.ConsumeBool()) c.set_probes_per_stage(in.ConsumeIntegralInRange<int32_t>(-1, 21));
  if (in.ConsumeBool()) c.set_probe_ratio(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_total_steps(in.ConsumeIntegralInRange<int64_t>(0, 5000));
  if (in.ConsumeBool()) c.set_warmup_steps(in.ConsumeIntegralInRange<int64_t>(0, 64));
  if (in.ConsumeBool()) c.set_num_workers(in.ConsumeIntegralInRange<int32_t>(0, 4));
  if (in.ConsumeBool()) c.set_eval_points_per_probe(in.ConsumeIntegralInRange<int32_t>(0, 5));
  if (in.ConsumeBool()) c.set_min_probe_separation(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_cooldown_fraction(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_search_radius(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_choice_tolerance(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_first_stage_choice_tolerance(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_tolerance_never_raises(in.ConsumeBool());
  if (in.ConsumeBool()) c.set_divergence_factor(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_later_stage_probes(in.ConsumeIntegralInRange<int32_t>(-1, 21));
  if (in.ConsumeBool()) c.set_reuse_best_probe(in.ConsumeBool());
  if (in.ConsumeBool()) c.set_seed(in.ConsumeIntegral<uint64_t>());
  if (in.ConsumeBool()) c.set_kappa(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_warmup_lr(FuzzedDouble(in));
  if (in.ConsumeBool()) c.set_warm_start(in.ConsumeBool());
  if (in.ConsumeBool()) c.set_remember_divergence(in.ConsumeBool());
  if (in.ConsumeBool()) c.set_min_probes_per_stage(in.ConsumeIntegralInRange<int32_t>(-1, 21));
  if (in.ConsumeBool()) c.set_early_stop_gain(FuzzedDouble(in));
  if (in.ConsumeBool()) {
    c.set_acquisition(static_cast<v1::Acquisition>(in.ConsumeIntegralInRange<int>(0, 4)));
  }
  if (in.ConsumeBool()) c.set_preset(static_cast<v1::Preset>(in.ConsumeIntegralInRange<int>(0, 3)));
  if (in.ConsumeBool()) {
    c.set_forecaster(static_cast<v1::Forecaster>(in.ConsumeIntegralInRange<int>(0, 4)));
  }
  return c;
}

// A report for `action` (or a deliberately malformed one).
v1::ReportLossesRequest FuzzedReport(FuzzedDataProvider& in, const std::string& job_id,
                                     const v1::Action& action, int32_t rank) {
  v1::ReportLossesRequest r;
  r.set_job_id(job_id);
  r.set_worker_rank(rank);
  r.set_action_id(in.ConsumeIntegralInRange<int>(0, 9) == 0 ? in.ConsumeIntegral<int64_t>()
                                                            : action.action_id());
  int64_t steps = std::min(action.steps(), kMaxReportedSteps);
  if (in.ConsumeIntegralInRange<int>(0, 9) == 0) steps = in.ConsumeIntegralInRange<int64_t>(0, 64);
  const int shape = in.ConsumeIntegralInRange<int>(0, 7);
  const double start = in.ConsumeFloatingPointInRange<double>(0.1, 5.0);
  for (int64_t i = 0; i < steps; ++i) {
    // Mostly decaying curves; sometimes NaN, Inf or fuzzed values.
    double loss = start / (1.0 + 0.01 * i);
    if (shape == 0 && in.remaining_bytes() > 0) loss = FuzzedDouble(in);
    if (shape == 1 && i == steps / 2) loss = std::numeric_limits<double>::quiet_NaN();
    if (shape == 2) loss = start * (1.0 + 0.1 * i);
    r.add_losses(loss);
  }
  int64_t evals = action.eval_steps_size();
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) evals = in.ConsumeIntegralInRange<int64_t>(0, 8);
  for (int64_t i = 0; i < evals; ++i) r.add_eval_losses(start / (2.0 + i));
  return r;
}

struct Snapshot {
  absl::StatusOr<v1::Job> job;
  absl::StatusOr<v1::Schedule> schedule;
};

Snapshot Take(Scheduler& scheduler, const std::string& id) {
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::GetScheduleRequest schedule;
  schedule.set_job_id(id);
  return {scheduler.GetJob(get), scheduler.GetSchedule(schedule)};
}

bool Same(const Snapshot& a, const Snapshot& b) {
  if (a.job.ok() != b.job.ok() || a.schedule.ok() != b.schedule.ok()) return false;
  if (a.job.ok() && a.job->SerializeAsString() != b.job->SerializeAsString()) return false;
  return !a.schedule.ok() || a.schedule->SerializeAsString() == b.schedule->SerializeAsString();
}

}  // namespace
}  // namespace autolrs::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace autolrs;
  using namespace autolrs::server;
  static const bool check_atomic = [] {
    const char* env = std::getenv("AUTOLRS_FUZZ_ATOMIC");
    return env != nullptr && std::string(env) == "1";
  }();
  FuzzedDataProvider in(data, size);
  MemoryJobStore store;
  int64_t now = 1'700'000'000;
  Scheduler scheduler(&store, [&now] { return absl::FromUnixSeconds(now++); });
  for (int call = 0; call < kMaxCalls && in.remaining_bytes() > 0; ++call) {
    const std::string id = kJobIds[in.ConsumeIntegralInRange<size_t>(0, std::size(kJobIds) - 1)];
    const int32_t rank = in.ConsumeIntegralInRange<int>(0, 9) == 0
                             ? in.ConsumeIntegral<int32_t>()
                             : in.ConsumeIntegralInRange<int32_t>(0, 3);
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
      case 0: {
        v1::CreateJobRequest r;
        r.set_job_id(id);
        if (in.ConsumeBool()) r.set_request_id(in.ConsumeRandomLengthString(8));
        *r.mutable_config() = FuzzedConfig(in);
        Check(scheduler.CreateJob(r).status(), "CreateJob");
        break;
      }
      case 1: {
        v1::GetJobRequest r;
        r.set_job_id(id);
        Check(scheduler.GetJob(r).status(), "GetJob");
        break;
      }
      case 2: {
        v1::ListJobsRequest r;
        r.set_page_size(in.ConsumeIntegralInRange<int32_t>(-1, 3));
        if (in.ConsumeBool()) r.set_page_token(id);
        Check(scheduler.ListJobs(r).status(), "ListJobs");
        break;
      }
      case 3: {
        v1::DeleteJobRequest r;
        r.set_job_id(id);
        Check(scheduler.DeleteJob(r), "DeleteJob");
        break;
      }
      case 4: {
        v1::GetScheduleRequest r;
        r.set_job_id(id);
        Check(scheduler.GetSchedule(r).status(), "GetSchedule");
        break;
      }
      default: {  // NextAction, then usually a report for it (weighted up).
        v1::NextActionRequest next;
        next.set_job_id(id);
        next.set_worker_rank(rank);
        absl::StatusOr<v1::Action> action = scheduler.NextAction(next);
        Check(action.status(), "NextAction");
        if (!action.ok() || in.ConsumeIntegralInRange<int>(0, 7) == 0) break;
        const v1::ReportLossesRequest report = FuzzedReport(in, id, *action, rank);
        const Snapshot before = check_atomic ? Take(scheduler, id) : Snapshot();
        absl::StatusOr<v1::Action> answer = scheduler.ReportLosses(report);
        Check(answer.status(), "ReportLosses");
        if (check_atomic && !answer.ok() && !Same(before, Take(scheduler, id))) {
          std::fprintf(stderr, "a failed ReportLosses (%s) changed job '%s'\n",
                       answer.status().ToString().c_str(), id.c_str());
          std::abort();
        }
        break;
      }
    }
  }
  return 0;
}
