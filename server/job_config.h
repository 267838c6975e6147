#ifndef AUTOLRS_SERVER_JOB_CONFIG_H_
#define AUTOLRS_SERVER_JOB_CONFIG_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "autolrs/v1/job.pb.h"

namespace autolrs::server {

// Limits of JobConfig fields (documented in proto/autolrs/v1/job.proto).
inline constexpr int64_t kMinTau = 10;
inline constexpr int64_t kMaxTau = 1'000'000'000;
inline constexpr int32_t kMinProbes = 2;
inline constexpr int32_t kMaxProbes = 100;
inline constexpr int32_t kMaxEvalPoints = 1000;
inline constexpr int32_t kMaxWorkers = 4096;

// Validates `config` and returns it with every default filled in: the
// preset's algorithm choices, then the documented defaults of unset fields.
// INVALID_ARGUMENT names the offending field and says what is allowed.
// Pure and thread-safe.
absl::StatusOr<v1::JobConfig> ResolveJobConfig(const v1::JobConfig& config);

// Steps of the final COOLDOWN action: round(cooldown_fraction * total_steps),
// 0 when either is 0.
int64_t CooldownSteps(const v1::JobConfig& config);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_JOB_CONFIG_H_
