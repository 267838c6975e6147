#ifndef AUTOLRS_SERVER_STORED_JOB_CODEC_H_
#define AUTOLRS_SERVER_STORED_JOB_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autolrs/v1/job.pb.h"
#include "server/job_state.pb.h"

namespace autolrs::server {

// How a durable store keeps one JobState: a head record (the JobState
// without its schedule's stages) and one record per stage, each with a
// CRC-32C of its bytes, so that a report rewrites the head and the last
// stages only, and corrupted bytes are detected when read.
//
// Pure functions; thread-safe.

// CRC-32C (Castagnoli) of `data`.
uint32_t Crc32c(absl::string_view data);

// The serialized JobState without schedule.stages (every other field, also
// ones added later, is kept).
std::string EncodeHead(const JobState& state);

// The serialized stage.
std::string EncodeStage(const v1::Stage& stage);

// One stored stage record.
struct StoredStage {
  int64_t index = 0;
  absl::string_view bytes;
  int64_t crc = 0;
};

// The JobState of job `job_id` from its stored head and its stages (in the
// order read). DATA_LOSS, naming the job and the bad record, when a
// checksum does not match, a record does not parse, the head is another
// job's, or the stages are not exactly 0..stage_count-1.
absl::StatusOr<JobState> DecodeStoredJob(absl::string_view job_id, absl::string_view head,
                                         int64_t head_crc, int64_t stage_count,
                                         const std::vector<StoredStage>& stages);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_STORED_JOB_CODEC_H_
