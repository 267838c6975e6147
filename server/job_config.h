#ifndef AUTOLRS_SERVER_JOB_CONFIG_H_
#define AUTOLRS_SERVER_JOB_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autolrs/v1/job.pb.h"

namespace autolrs::server {

// Limits of JobConfig fields (documented in proto/autolrs/v1/job.proto).
inline constexpr int64_t kMinTau = 10;
// The most steps one action may have (tau_max, warmup_steps, the cooldown):
// its report of that many losses (8 bytes each, 4 MB) must fit the server's
// default request limit (ServerOptions::max_message_bytes, 4 MiB).
inline constexpr int64_t kMaxActionSteps = 500'000;
// The narrowest LR interval, in decades (lr_max / lr_min >= 10^0.01).
inline constexpr double kMinLrSpanDecades = 0.01;
inline constexpr int32_t kMinProbes = 2;
inline constexpr int32_t kMaxProbes = 100;
inline constexpr int32_t kMaxEvalPoints = 1000;
inline constexpr int32_t kMaxWorkers = 4096;

// Validates `config` and returns it with every default filled in: the
// preset's algorithm choices, then the documented defaults of unset fields.
// INVALID_ARGUMENT names the offending field and says what is allowed.
// Pure and thread-safe.
//
// Three tables in job_config.cc drive it: the defaults (per preset), the
// ranges, and the cross-field rules; a new option adds a row to the first
// two. Every config it accepts runs to its end: each action fits one report
// (kMaxActionSteps), and the search degrades instead of failing where the
// requested probe separation leaves no room (see Job).
absl::StatusOr<v1::JobConfig> ResolveJobConfig(const v1::JobConfig& config);

// The JobConfig fields the tables above name (for tests: each must exist).
std::vector<std::string> ResolvedFieldNames();

// Steps of the final COOLDOWN action: round(cooldown_fraction * total_steps),
// 0 when either is 0.
int64_t CooldownSteps(const v1::JobConfig& config);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_JOB_CONFIG_H_
