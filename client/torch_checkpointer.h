#ifndef AUTOLRS_CLIENT_TORCH_CHECKPOINTER_H_
#define AUTOLRS_CLIENT_TORCH_CHECKPOINTER_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "client/checkpointer.h"

namespace autolrs {

// An in-memory Checkpointer for libtorch: Save() clones the model's
// parameters and buffers and the optimizer's per-parameter state (momentum
// buffers, Adam moments and step counts, ...) into one slot; Restore() copies
// them back bit for bit.
//
// What is not saved: the optimizer's hyper-parameters (learning rate,
// momentum, ... of each param group; the caller sets the learning rate of
// every action itself), gradients, and anything outside the model and the
// optimizer such as a trainer's data-stream position or RNGs (as in the
// reference AutoLRS: a probe sees the batches that follow, not the same ones).
//
// Restore() writes into the existing parameter tensors in place, so the
// optimizer keeps pointing at them (its state is keyed by tensor identity).
// The optimizer is expected to update the model's parameters. The set and shapes of the parameters
// and buffers must not change between Save() and Restore() (else FAILED_PRECONDITION).
//
// Supported optimizers: SGD, Adam, AdamW, Adagrad, RMSprop (others make
// Save() return UNIMPLEMENTED, since their state cannot be deep-copied
// generically).
//
// Memory: one copy of the parameters, buffers and optimizer state.
// Thread-safety: not thread-safe; call from the training thread, while no
// training step runs. The model and optimizer must outlive the checkpointer.
class TorchCheckpointer final : public Checkpointer {
 public:
  TorchCheckpointer(torch::nn::Module& model, torch::optim::Optimizer& optimizer);
  ~TorchCheckpointer() override;

  TorchCheckpointer(const TorchCheckpointer&) = delete;
  TorchCheckpointer& operator=(const TorchCheckpointer&) = delete;

  absl::Status Save() override;
  absl::Status Restore() override;

  // True once Save() has succeeded.
  bool has_checkpoint() const { return saved_; }

 private:
  torch::nn::Module& model_;
  torch::optim::Optimizer& optimizer_;

  bool saved_ = false;
  std::vector<at::Tensor> parameters_;
  std::vector<at::Tensor> buffers_;
  // Deep copies of the optimizer state, one per parameter of the optimizer
  // in param-group order; null where the parameter had none yet.
  std::vector<std::unique_ptr<torch::optim::OptimizerParamState>> states_;
};

}  // namespace autolrs

#endif  // AUTOLRS_CLIENT_TORCH_CHECKPOINTER_H_
