// libFuzzer target: arbitrary bytes as a stored job. The first byte picks
// the path:
// - even: the bytes are a serialized JobState (what schema 1 stored, and
//   what a head record holds) handed to Job::FromState;
// - odd: the rest is cut into a head record and stage records for
//   DecodeStoredJob (stored_job_codec.h), with correct checksums unless the
//   input says otherwise, then Job::FromState.
// A job that decodes is then driven a little (NextAction of a few ranks, a
// report shaped like its action when that is small). Crashes and sanitizer
// reports are findings.
//
// Built and run by tests/fuzz/run_fuzzers.sh.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "server/job.h"
#include "server/stored_job_codec.h"

namespace {

using autolrs::server::Job;
using autolrs::server::JobState;
using autolrs::server::StoredStage;

constexpr int64_t kMaxReportedSteps = 4096;

void Drive(JobState state) {
  absl::StatusOr<Job> job = Job::FromState(std::move(state));
  if (!job.ok()) return;
  for (int32_t rank : {0, 1, -1, 4096}) job->NextAction(rank).IgnoreError();
  absl::StatusOr<autolrs::v1::Action> action = job->NextAction(0);
  if (!action.ok() || action->steps() > kMaxReportedSteps) return;
  autolrs::v1::ReportLossesRequest report;
  report.set_job_id(job->job().job_id());
  report.set_action_id(action->action_id());
  for (int64_t i = 0; i < action->steps(); ++i) report.add_losses(2.0 / (1.0 + 0.01 * i));
  for (int i = 0; i < action->eval_steps_size(); ++i) report.add_eval_losses(1.0);
  bool changed = false;
  job->ReportLosses(report, absl::UnixEpoch(), &changed).IgnoreError();
  // A rank timeout long past: advances a multi-worker job on its rank sum.
  job->ExpireRanks(absl::UnixEpoch() + absl::Hours(24 * 365)).IgnoreError();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    JobState state;
    if (state.ParseFromArray(data + 1, static_cast<int>(size - 1))) Drive(std::move(state));
    return 0;
  }
  FuzzedDataProvider in(data + 1, size - 1);
  const bool honest_checksums = in.ConsumeIntegralInRange<int>(0, 7) != 0;
  const std::string job_id = in.ConsumeBool() ? "job" : in.ConsumeRandomLengthString(8);
  const std::string head = in.ConsumeRandomLengthString(4096);
  const int64_t stage_count = in.ConsumeIntegralInRange<int64_t>(-1, 8);
  std::vector<std::string> bytes;
  std::vector<StoredStage> stages;
  const int n = in.ConsumeIntegralInRange<int>(0, 8);
  for (int i = 0; i < n; ++i) bytes.push_back(in.ConsumeRandomLengthString(1024));
  for (int i = 0; i < n; ++i) {
    const int64_t index =
        in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<int64_t>() : i;
    const int64_t crc =
        honest_checksums ? autolrs::server::Crc32c(bytes[i]) : in.ConsumeIntegral<uint32_t>();
    stages.push_back({index, bytes[i], crc});
  }
  const int64_t head_crc =
      honest_checksums ? autolrs::server::Crc32c(head) : in.ConsumeIntegral<uint32_t>();
  absl::StatusOr<JobState> state =
      autolrs::server::DecodeStoredJob(job_id, head, head_crc, stage_count, stages);
  if (state.ok()) Drive(*std::move(state));
  return 0;
}
