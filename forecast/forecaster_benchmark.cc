// Microbenchmarks of the forecaster on one core, sweeping the series length:
//   bazel run -c opt //forecast:forecaster_benchmark
// The target is under 100 us for a fit of 100 points.
#include <cmath>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "forecast/exponential_fit.h"
#include "forecast/forecaster.h"

namespace autolrs {
namespace forecast {
namespace {

struct Data {
  std::vector<double> t, y;
};

// A noisy decaying loss curve with a few spikes (seeded).
Data MakeData(int n) {
  std::mt19937 rng(42);
  std::normal_distribution<double> noise(0, 0.03);
  Data d;
  for (int i = 1; i <= n; ++i) {
    d.t.push_back(i);
    double y = 1.2 * std::exp(-3.0 * i / n) + 0.4 + noise(rng);
    if (i % 37 == 0) y += 0.5;
    d.y.push_back(y);
  }
  return d;
}

void BM_FitExponential(benchmark::State& state) {
  const Data d = MakeData(state.range(0));
  for (auto _ : state) {
    auto fit = FitExponential(d.t, d.y);
    benchmark::DoNotOptimize(fit);
  }
}
BENCHMARK(BM_FitExponential)->Arg(16)->Arg(100)->Arg(400)->Arg(1000);

void BM_Predict(benchmark::State& state, Method method) {
  const Data d = MakeData(state.range(0));
  ForecastOptions options;
  options.method = method;
  const double horizon = 10.0 * d.t.size();
  for (auto _ : state) {
    auto f = Predict(d.t, d.y, horizon, options);
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK_CAPTURE(BM_Predict, robust, Method::kRobust)->Arg(16)->Arg(100)->Arg(400)->Arg(1000);
BENCHMARK_CAPTURE(BM_Predict, reference, Method::kReferenceExponential)
    ->Arg(16)
    ->Arg(100)
    ->Arg(400)
    ->Arg(1000);
BENCHMARK_CAPTURE(BM_Predict, last_mean, Method::kLastMean)->Arg(16)->Arg(100)->Arg(400)->Arg(1000);

}  // namespace
}  // namespace forecast
}  // namespace autolrs
