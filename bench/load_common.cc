#include "bench/load_common.h"

#include <algorithm>
#include <cmath>

namespace autolrs::bench {

double Latencies::Percentile(double p) {
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  return ms[std::min<size_t>(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
}

v1::JobConfig LoadJobConfig(uint64_t seed) {
  v1::JobConfig c;
  c.set_lr_min(1e-4);
  c.set_lr_max(1.0);
  c.set_tau_initial(1000);  // Probes of 100 steps: 100-loss reports.
  c.set_tau_max(1000);
  c.set_objective_switch(v1::OBJECTIVE_SWITCH_NEVER);
  c.set_seed(seed);
  return c;
}

void FillLosses(int64_t steps, std::mt19937_64& rng, v1::ReportLossesRequest* req) {
  std::normal_distribution<double> noise(0, 0.01);
  std::uniform_real_distribution<double> level(0.2, 1.0);
  const double a = level(rng), c = level(rng) / 2;
  req->clear_losses();
  for (int64_t t = 1; t <= steps; ++t) req->add_losses(a * std::exp(-t / 40.0) + c + noise(rng));
}

}  // namespace autolrs::bench
