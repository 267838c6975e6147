// The C++ snippet of the top-level README.md, verbatim inside a function, so
// that `bazel build //...` fails when the README's example stops compiling.
// Keep the two identical.
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "client/torch_checkpointer.h"
#include "client/tuner.h"

namespace autolrs::readme {

void Snippet(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
             std::function<absl::StatusOr<double>()> validation_loss,
             std::function<void(double)> set_lr, std::function<double()> train_step) {
  // --- README.md ---
  autolrs::ClientOptions client_options;
  client_options.target = "localhost:50051";
  std::unique_ptr<autolrs::Client> client = *autolrs::Client::Create(client_options);
  autolrs::TorchCheckpointer checkpointer(model, optimizer);
  autolrs::TunerOptions options;
  options.job_id = "resnet-run-7";  // Keep it: a restarted trainer resumes the job.
  options.config.set_lr_min(1e-4);
  options.config.set_lr_max(1.0);
  auto tuner = *autolrs::Tuner::Create(client.get(), &checkpointer, validation_loss, options);
  while (!tuner->done()) {
    set_lr(*tuner->NextLearningRate());   // may save/restore the checkpoint first
    tuner->ReportStepLoss(train_step());  // batches losses; one RPC per action
  }
  // --- end ---
}

}  // namespace autolrs::readme
