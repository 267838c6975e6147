#include "server/compute_timer.h"

#include <atomic>
#include <chrono>

namespace autolrs::server {
namespace {

std::atomic<ComputeTimeSink*> g_sink{nullptr};

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void SetComputeTimeSink(ComputeTimeSink* sink) { g_sink.store(sink); }

ComputeTimer::ComputeTimer(ComputeKind kind)
    : kind_(kind), sink_(g_sink.load(std::memory_order_acquire)) {
  if (sink_ != nullptr) start_ns_ = NowNanos();
}

void ComputeTimer::Stop() {
  if (sink_ == nullptr) return;
  sink_->RecordCompute(kind_, absl::Nanoseconds(NowNanos() - start_ns_));
  sink_ = nullptr;
}

}  // namespace autolrs::server
