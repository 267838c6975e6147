// Costs of the Tuner against an in-process server (memory store, loopback):
//
//   BM_StepWithoutRpc: NextLearningRate() + ReportStepLoss() of a step inside
//     a long action (tau' = 10^6 steps), i.e. the per-step overhead a training
//     loop pays when no action boundary is due.
//   BM_WholeJob/<tau_initial>: a job of 200,000 steps on a SyntheticTrainer
//     (default config apart from tau_initial and tau_max = 8 tau_initial);
//     counters: RPCs per 1,000 steps and the amortized time per step,
//     RPCs, checkpoint ops and evaluations included.
//
//   bazel run -c opt //client:tuner_benchmark

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "client/checkpointer.h"
#include "client/client.h"
#include "client/tuner.h"
#include "server/server.h"
#include "testing/synthetic_trainer.h"

namespace autolrs {
namespace {

// One server and client for the whole binary.
Client& SharedClient() {
  static server::AutoLrsServer* server = [] {
    auto s = server::AutoLrsServer::Start({.listen_address = "127.0.0.1:0", .store = "memory:"});
    if (!s.ok()) {
      std::fprintf(stderr, "server: %s\n", s.status().ToString().c_str());
      std::abort();
    }
    return s->release();
  }();
  static Client* client = [] {
    auto c = Client::Create({.target = absl::StrCat("127.0.0.1:", server->port())});
    if (!c.ok()) std::abort();
    return c->release();
  }();
  return *client;
}

std::string NewJobId() {
  static int next = 0;
  return absl::StrCat("bench-", next++);
}

class NullCheckpointer final : public Checkpointer {
 public:
  absl::Status Save() override { return absl::OkStatus(); }
  absl::Status Restore() override { return absl::OkStatus(); }
};

class SyntheticCheckpointer final : public Checkpointer {
 public:
  explicit SyntheticCheckpointer(testing::SyntheticTrainer* t) : t_(t) {}
  absl::Status Save() override {
    t_->Save();
    return absl::OkStatus();
  }
  absl::Status Restore() override {
    t_->Restore();
    return absl::OkStatus();
  }

 private:
  testing::SyntheticTrainer* t_;
};

// A Tuner at the second step of a probe of 10^6 steps.
std::unique_ptr<Tuner> LongActionTuner(Checkpointer* checkpointer) {
  v1::JobConfig config;
  config.set_lr_min(1e-3);
  config.set_lr_max(1.0);
  config.set_tau_initial(10'000'000);
  config.set_probe_ratio(0.1);
  config.set_objective_switch(v1::OBJECTIVE_SWITCH_NEVER);
  auto tuner = Tuner::Create(&SharedClient(), checkpointer, nullptr,
                             {.job_id = NewJobId(), .config = config});
  if (!tuner.ok() || !(*tuner)->NextLearningRate().ok() || !(*tuner)->ReportStepLoss(1).ok()) {
    std::abort();
  }
  return *std::move(tuner);
}

void BM_StepWithoutRpc(benchmark::State& state) {
  NullCheckpointer checkpointer;
  std::unique_ptr<Tuner> tuner = LongActionTuner(&checkpointer);
  int64_t last_step = tuner->action().steps();
  const int64_t rpcs = tuner->rpcs();
  int64_t tuners = 1;
  double loss = 2.0;
  for (auto _ : state) {
    if (ABSL_PREDICT_FALSE(tuner->step_in_action() + 1 >= last_step)) {
      // The next step would end the action (one RPC): start a fresh job.
      state.PauseTiming();
      tuner = LongActionTuner(&checkpointer);
      ++tuners;
      state.ResumeTiming();
    }
    absl::StatusOr<double> lr = tuner->NextLearningRate();
    benchmark::DoNotOptimize(lr);
    loss *= 0.9999999;
    if (ABSL_PREDICT_FALSE(!tuner->ReportStepLoss(loss).ok())) std::abort();
  }
  if (tuners == 1 && tuner->rpcs() != rpcs) state.SkipWithError("an RPC ran in the timed loop");
  state.counters["jobs"] = static_cast<double>(tuners);
}
BENCHMARK(BM_StepWithoutRpc);

void BM_WholeJob(benchmark::State& state) {
  constexpr int64_t kSteps = 200'000;
  const int64_t tau = state.range(0);
  int64_t rpcs = 0, steps = 0;
  for (auto _ : state) {
    testing::SyntheticTrainer model(/*seed=*/1);
    SyntheticCheckpointer checkpointer(&model);
    v1::JobConfig config;
    config.set_lr_min(1e-3);
    config.set_lr_max(0.5);
    config.set_tau_initial(tau);
    config.set_tau_max(8 * tau);
    config.set_total_steps(kSteps);
    config.set_seed(1);
    auto tuner =
        Tuner::Create(&SharedClient(), &checkpointer,
                      [&model]() -> absl::StatusOr<double> { return model.ValidationLoss(); },
                      {.job_id = NewJobId(), .config = config});
    if (!tuner.ok()) {
      state.SkipWithError(tuner.status().ToString().c_str());
      return;
    }
    for (int64_t i = 0; i < 2 * kSteps; ++i) {
      absl::StatusOr<double> lr = (*tuner)->NextLearningRate();
      if ((*tuner)->done()) break;
      if (!lr.ok()) {
        state.SkipWithError(lr.status().ToString().c_str());
        return;
      }
      model.SetLearningRate(*lr);
      if (!(*tuner)->ReportStepLoss(model.TrainStep()).ok()) std::abort();
      ++steps;
    }
    rpcs += (*tuner)->rpcs();
  }
  state.counters["rpcs_per_1000_steps"] = 1000.0 * rpcs / steps;
  state.counters["steps"] = static_cast<double>(steps);
  // Amortized time per step: RPCs, checkpoint ops and evaluations included.
  state.counters["time_per_step"] = benchmark::Counter(
      static_cast<double>(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_WholeJob)
    ->ArgName("tau_initial")
    ->Arg(1000)  // The default config.
    ->Arg(100)
    ->Arg(10)  // The smallest tau allowed: probes of 1 step.
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace autolrs
