// What the metrics add to one call, measured in-process (no network, so the
// figure does not drown in the noise of a shared machine):
//
//   bazel run -c opt //server:metrics_benchmark
//
// A NextAction with metrics records one RPC (BM_RecordRpc); a ReportLosses
// also records one store Update (BM_RecordStoreCall) and times about one
// forecast and a few BO steps (BM_ComputeTimer); without metrics the timers
// cost BM_ComputeTimerWithoutSink.
#include <memory>

#include "benchmark/benchmark.h"
#include "server/compute_timer.h"
#include "server/metrics.h"

namespace autolrs::server {
namespace {

std::unique_ptr<ServerMetrics> NewMetrics() {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Start("127.0.0.1:0");
  if (!metrics.ok()) std::abort();
  return *std::move(metrics);
}

void BM_RecordRpc(benchmark::State& state) {
  static ServerMetrics* metrics = NewMetrics().release();
  for (auto _ : state) metrics->RecordRpc("NextAction", 0, absl::Microseconds(80));
}
BENCHMARK(BM_RecordRpc)->ThreadRange(1, 2);

void BM_RecordStoreCall(benchmark::State& state) {
  static ServerMetrics* metrics = NewMetrics().release();
  const absl::Status ok;
  for (auto _ : state) metrics->RecordStoreCall("Update", ok, absl::Microseconds(500));
}
BENCHMARK(BM_RecordStoreCall)->ThreadRange(1, 2);

void BM_ComputeTimer(benchmark::State& state) {
  static ServerMetrics* metrics = NewMetrics().release();
  SetComputeTimeSink(metrics);
  for (auto _ : state) {
    ComputeTimer timer(ComputeKind::kForecast);
  }
  SetComputeTimeSink(nullptr);
}
BENCHMARK(BM_ComputeTimer);

void BM_ComputeTimerWithoutSink(benchmark::State& state) {
  SetComputeTimeSink(nullptr);
  for (auto _ : state) {
    ComputeTimer timer(ComputeKind::kForecast);
  }
}
BENCHMARK(BM_ComputeTimerWithoutSink);

}  // namespace
}  // namespace autolrs::server
