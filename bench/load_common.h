#ifndef AUTOLRS_BENCH_LOAD_COMMON_H_
#define AUTOLRS_BENCH_LOAD_COMMON_H_

// What the load benchmarks (service_load_benchmark, replica_load_benchmark)
// share: the jobs they create, the losses they report, and latency
// percentiles. Not thread-safe; each thread keeps its own Latencies.

#include <cstdint>
#include <random>
#include <vector>

#include "absl/time/time.h"
#include "autolrs/v1/service.pb.h"

namespace autolrs::bench {

// Call latencies in milliseconds.
struct Latencies {
  std::vector<double> ms;
  void Add(absl::Duration d) { ms.push_back(absl::ToDoubleMilliseconds(d)); }
  // The p-quantile (0 <= p <= 1; sorts ms); 0 when empty.
  double Percentile(double p);
};

// A job that stays in its first stage's search: probes of 100 steps, so
// every report carries 100 losses.
v1::JobConfig LoadJobConfig(uint64_t seed = 0);

// Replaces `req`'s losses with `steps` values of a noisy decaying curve.
void FillLosses(int64_t steps, std::mt19937_64& rng, v1::ReportLossesRequest* req);

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_LOAD_COMMON_H_
