#ifndef AUTOLRS_SERVER_COMPUTE_TIMER_H_
#define AUTOLRS_SERVER_COMPUTE_TIMER_H_

#include <cstdint>

#include "absl/time/time.h"

namespace autolrs::server {

// The search's computations whose time the server measures.
enum class ComputeKind {
  kBayesOpt,  // Gaussian-process fits, probe proposals and choices (bo/).
  kForecast,  // Loss forecasts of probes (forecast/).
};

// Receives the durations ComputeTimer measures. Implementations must be
// thread-safe: jobs run on every RPC thread.
class ComputeTimeSink {
 public:
  virtual ~ComputeTimeSink() = default;
  virtual void RecordCompute(ComputeKind kind, absl::Duration elapsed) = 0;
};

// Installs the process-wide sink (nullptr: none, the default). Job is pure
// and has no place to inject an observer, so its few timed spots report
// here. The sink must stay valid until it is replaced; replacing it while
// timers run is safe only if the old sink outlives them (the server installs
// it before serving and removes it after its last call has finished).
void SetComputeTimeSink(ComputeTimeSink* sink);

// Measures one computation from construction to Stop() (or destruction)
// and reports it to the sink installed at construction. Without a sink it
// reads no clock. Not thread-safe (one timer per computation).
class ComputeTimer {
 public:
  explicit ComputeTimer(ComputeKind kind);
  ~ComputeTimer() { Stop(); }
  ComputeTimer(const ComputeTimer&) = delete;
  ComputeTimer& operator=(const ComputeTimer&) = delete;

  // Reports the time since construction; later calls do nothing.
  void Stop();

 private:
  const ComputeKind kind_;
  ComputeTimeSink* sink_;
  int64_t start_ns_ = 0;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_COMPUTE_TIMER_H_
