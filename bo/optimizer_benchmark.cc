// Latency of one BO step as the server runs it: Create() the stage optimizer
// from its n observations, then Ask() for the
// next LR (which fits the GP hyperparameters to n observations and maximizes
// the acquisition). Sweeps n = 1..50.
//
//   bazel run -c opt //bo:optimizer_benchmark
//   bazel run -c opt //bo:optimizer_benchmark -- --benchmark_filter=EI
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "benchmark/benchmark.h"
#include "bo/optimizer.h"

namespace autolrs::bo {
namespace {

// A smooth stage objective over log10(LR) with a valley near 1e-2.5 and a
// little deterministic wiggle, as the forecaster's predictions look.
double Loss(double lr) {
  const double x = std::log10(lr);
  return 0.3 + 0.2 * (x + 2.5) * (x + 2.5) + 0.01 * std::sin(17.0 * x);
}

// An optimizer that has run `n - 1` ask/tell rounds, and the LR it asks next.
struct Setup {
  Optimizer optimizer;
  double next_lr;
};

Setup MakeSetup(int n, AcquisitionKind kind) {
  OptimizerOptions options;
  options.lr_min = 1e-5;
  options.lr_max = 1.0;
  options.acquisition = kind;
  options.seed = 42;
  absl::StatusOr<Optimizer> optimizer = Optimizer::Create(options);
  if (!optimizer.ok()) std::abort();
  for (int i = 0; i + 1 < n; ++i) {
    const absl::StatusOr<double> lr = optimizer->Ask();
    if (!lr.ok()) std::abort();
    std::vector<Observation> observations = optimizer->observations();
    observations.push_back({*lr, Loss(*lr)});
    optimizer = Optimizer::Create(options, std::move(observations));
    if (!optimizer.ok()) std::abort();
  }
  const absl::StatusOr<double> next = optimizer->Ask();
  if (!next.ok()) std::abort();
  return {*std::move(optimizer), *next};
}

void TellAndAsk(benchmark::State& state, AcquisitionKind kind) {
  const int n = static_cast<int>(state.range(0));
  const Setup setup = MakeSetup(n, kind);
  const double loss = Loss(setup.next_lr);
  for (auto _ : state) {
    // What the server does per probe: the stage's optimizer from its n
    // probes, then the next proposal (a GP fit over n observations).
    std::vector<Observation> observations = setup.optimizer.observations();
    observations.push_back({setup.next_lr, loss});
    absl::StatusOr<Optimizer> optimizer =
        Optimizer::Create(setup.optimizer.options(), std::move(observations));
    if (!optimizer.ok()) std::abort();
    absl::StatusOr<double> lr = optimizer->Ask();
    benchmark::DoNotOptimize(lr);
  }
  state.counters["n"] = n;
}

void BM_TellAsk_LCB(benchmark::State& state) {
  TellAndAsk(state, AcquisitionKind::kLowerConfidenceBound);
}
void BM_TellAsk_EI(benchmark::State& state) {
  TellAndAsk(state, AcquisitionKind::kExpectedImprovement);
}

BENCHMARK(BM_TellAsk_LCB)->DenseRange(1, 50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TellAsk_EI)->Arg(1)->Arg(5)->Arg(10)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace autolrs::bo
