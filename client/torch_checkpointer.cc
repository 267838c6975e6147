#include "client/torch_checkpointer.h"

#include <c10/util/string_utils.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace autolrs {
namespace {

at::Tensor CloneIfDefined(const at::Tensor& t) {
  return t.defined() ? t.detach().clone() : at::Tensor();
}

// A copy of `state` that shares no tensor storage with it. The libtorch
// states' own clone() copies tensor handles only (shallow), which the
// in-place updates of the next steps would then overwrite.
absl::StatusOr<std::unique_ptr<torch::optim::OptimizerParamState>> DeepCopy(
    const torch::optim::OptimizerParamState& state) {
  namespace optim = torch::optim;
  if (auto* s = dynamic_cast<const optim::SGDParamState*>(&state)) {
    auto copy = std::make_unique<optim::SGDParamState>(*s);
    copy->momentum_buffer(CloneIfDefined(s->momentum_buffer()));
    return copy;
  }
  if (auto* s = dynamic_cast<const optim::AdamParamState*>(&state)) {
    auto copy = std::make_unique<optim::AdamParamState>(*s);
    copy->exp_avg(CloneIfDefined(s->exp_avg()));
    copy->exp_avg_sq(CloneIfDefined(s->exp_avg_sq()));
    copy->max_exp_avg_sq(CloneIfDefined(s->max_exp_avg_sq()));
    return copy;
  }
  if (auto* s = dynamic_cast<const optim::AdamWParamState*>(&state)) {
    auto copy = std::make_unique<optim::AdamWParamState>(*s);
    copy->exp_avg(CloneIfDefined(s->exp_avg()));
    copy->exp_avg_sq(CloneIfDefined(s->exp_avg_sq()));
    copy->max_exp_avg_sq(CloneIfDefined(s->max_exp_avg_sq()));
    return copy;
  }
  if (auto* s = dynamic_cast<const optim::AdagradParamState*>(&state)) {
    auto copy = std::make_unique<optim::AdagradParamState>(*s);
    copy->sum(CloneIfDefined(s->sum()));
    return copy;
  }
  if (auto* s = dynamic_cast<const optim::RMSpropParamState*>(&state)) {
    auto copy = std::make_unique<optim::RMSpropParamState>(*s);
    copy->square_avg(CloneIfDefined(s->square_avg()));
    copy->momentum_buffer(CloneIfDefined(s->momentum_buffer()));
    copy->grad_avg(CloneIfDefined(s->grad_avg()));
    return copy;
  }
  return absl::UnimplementedError(
      "TorchCheckpointer supports the state of SGD, Adam, AdamW, Adagrad and "
      "RMSprop only");
}

absl::Status CheckSameShapes(const char* what, const std::vector<at::Tensor>& saved,
                             const std::vector<at::Tensor>& live) {
  if (saved.size() != live.size()) {
    return absl::FailedPreconditionError(absl::StrCat("the model has ", live.size(), " ", what,
                                                      " but the checkpoint has ", saved.size()));
  }
  for (size_t i = 0; i < saved.size(); ++i) {
    if (saved[i].sizes() != live[i].sizes() || saved[i].dtype() != live[i].dtype()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " #", i, " changed shape or type since Save()"));
    }
  }
  return absl::OkStatus();
}

// The parameters the optimizer updates, in param-group order.
std::vector<at::Tensor> OptimizerParameters(torch::optim::Optimizer& opt) {
  std::vector<at::Tensor> params;
  for (const auto& group : opt.param_groups()) {
    params.insert(params.end(), group.params().begin(), group.params().end());
  }
  return params;
}

// The key under which libtorch's optimizers store a parameter's state.
std::string StateKey(const at::Tensor& param) {
  return c10::guts::to_string(param.unsafeGetTensorImpl());
}

}  // namespace

TorchCheckpointer::TorchCheckpointer(torch::nn::Module& model, torch::optim::Optimizer& optimizer)
    : model_(model), optimizer_(optimizer) {}

TorchCheckpointer::~TorchCheckpointer() = default;

absl::Status TorchCheckpointer::Save() {
  torch::NoGradGuard no_grad;
  const std::vector<at::Tensor> parameters = model_.parameters();
  const std::vector<at::Tensor> buffers = model_.buffers();
  const std::vector<at::Tensor> optimized = OptimizerParameters(optimizer_);
  const auto& state = optimizer_.state();

  std::vector<std::unique_ptr<torch::optim::OptimizerParamState>> states;
  states.reserve(optimized.size());
  for (const at::Tensor& p : optimized) {
    auto it = state.find(StateKey(p));
    if (it == state.end()) {
      states.push_back(nullptr);
      continue;
    }
    auto copy = DeepCopy(*it->second);
    if (!copy.ok()) return copy.status();
    states.push_back(*std::move(copy));
  }
  // Only a complete Save() replaces the slot.
  parameters_.clear();
  buffers_.clear();
  for (const at::Tensor& p : parameters) parameters_.push_back(CloneIfDefined(p));
  for (const at::Tensor& b : buffers) buffers_.push_back(CloneIfDefined(b));
  states_ = std::move(states);
  saved_ = true;
  return absl::OkStatus();
}

absl::Status TorchCheckpointer::Restore() {
  if (!saved_) {
    return absl::FailedPreconditionError(
        "Restore() called before any Save(): there is no checkpoint");
  }
  torch::NoGradGuard no_grad;
  const std::vector<at::Tensor> parameters = model_.parameters();
  const std::vector<at::Tensor> buffers = model_.buffers();
  if (absl::Status s = CheckSameShapes("parameters", parameters_, parameters); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckSameShapes("buffers", buffers_, buffers); !s.ok()) {
    return s;
  }
  const std::vector<at::Tensor> optimized = OptimizerParameters(optimizer_);
  if (optimized.size() != states_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the optimizer has ", optimized.size(),
                     " parameters but the checkpoint has state slots for ", states_.size()));
  }
  // Deep-copy the saved optimizer state first, so that a failure leaves the
  // model and optimizer untouched; the slot stays reusable for later
  // Restore() calls.
  std::vector<std::unique_ptr<torch::optim::OptimizerParamState>> states;
  states.reserve(states_.size());
  for (const auto& saved : states_) {
    if (saved == nullptr) {
      states.push_back(nullptr);
      continue;
    }
    auto copy = DeepCopy(*saved);
    if (!copy.ok()) return copy.status();
    states.push_back(*std::move(copy));
  }

  for (size_t i = 0; i < parameters.size(); ++i) {
    parameters[i].copy_(parameters_[i]);
  }
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(buffers_[i]);
  auto& state = optimizer_.state();
  for (size_t i = 0; i < optimized.size(); ++i) {
    const std::string key = StateKey(optimized[i]);
    if (states[i] == nullptr) {
      state.erase(key);
    } else {
      state[key] = std::move(states[i]);
    }
  }
  return absl::OkStatus();
}

}  // namespace autolrs
