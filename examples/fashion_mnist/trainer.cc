#include "examples/fashion_mnist/trainer.h"

#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <cassert>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "examples/fashion_mnist/models.h"

namespace autolrs::examples {
namespace {

constexpr int64_t kEvalChunk = 1000;

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::CreateWithData(const TrainerOptions& options,
                                                                 const std::string& data_dir) {
  FashionMnistOptions data_options;
  data_options.data_dir = data_dir;
  absl::StatusOr<FashionMnist> data = LoadFashionMnist(data_options);
  if (!data.ok()) return data.status();
  return Create(options, *std::move(data));
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options,
                                                         FashionMnist data) {
  if (options.optimizer != "sgd" && options.optimizer != "adam") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown optimizer '", options.optimizer, "'; expected sgd or adam"));
  }
  if (!(options.learning_rate > 0) || !std::isfinite(options.learning_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning_rate must be positive and finite, got ", options.learning_rate));
  }
  if (options.batch_size <= 0 || options.batch_size > data.train.size()) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be in [1, ", data.train.size(),
                                                   "] (the training split's size), got ",
                                                   options.batch_size));
  }
  if (options.validation_subset < 0 || options.validation_subset > data.validation.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation_subset must be in [0, ", data.validation.size(),
                     "] (the validation split's size), got ", options.validation_subset));
  }
  torch::manual_seed(options.seed);
  absl::StatusOr<torch::nn::Sequential> model = MakeModel(options.model);
  if (!model.ok()) return model.status();
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (options.optimizer == "sgd") {
    optimizer = std::make_unique<torch::optim::SGD>(
        (*model)->parameters(),
        torch::optim::SGDOptions(options.learning_rate).momentum(options.momentum));
  } else {
    optimizer = std::make_unique<torch::optim::Adam>(
        (*model)->parameters(), torch::optim::AdamOptions(options.learning_rate));
  }
  return std::unique_ptr<Trainer>(
      new Trainer(options, std::move(data), *std::move(model), std::move(optimizer)));
}

Trainer::Trainer(const TrainerOptions& options, FashionMnist data, torch::nn::Sequential model,
                 std::unique_ptr<torch::optim::Optimizer> optimizer)
    : options_(options),
      data_(std::move(data)),
      model_(std::move(model)),
      optimizer_(std::move(optimizer)),
      rng_(options.seed) {
  const int64_t n =
      options.validation_subset == 0 ? data_.validation.size() : options.validation_subset;
  if (n > 0) {
    validation_subset_.images = data_.validation.images.narrow(0, 0, n);
    validation_subset_.labels = data_.validation.labels.narrow(0, 0, n);
  }
  order_.resize(data_.train.size());
  for (int64_t i = 0; i < int64_t(order_.size()); ++i) order_[i] = i;
  Reshuffle();
}

void Trainer::Reshuffle() {
  // Fisher-Yates with the raw 64-bit generator, so the order does not depend
  // on the standard library's distribution implementations.
  for (int64_t i = int64_t(order_.size()) - 1; i > 0; --i) {
    const int64_t j = int64_t(rng_() % uint64_t(i + 1));
    std::swap(order_[i], order_[j]);
  }
  position_ = 0;
}

void Trainer::SetLearningRate(double lr) {
  assert(lr >= 0 && std::isfinite(lr));
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

double Trainer::learning_rate() const {
  return optimizer_->param_groups().front().options().get_lr();
}

Trainer::Batch Trainer::NextBatch() {
  if (position_ + options_.batch_size > int64_t(order_.size())) {
    ++epochs_;
    Reshuffle();
  }
  at::Tensor ids =
      torch::from_blob(order_.data() + position_, {options_.batch_size}, torch::kLong).clone();
  position_ += options_.batch_size;
  return Batch{data_.train.images.index_select(0, ids), data_.train.labels.index_select(0, ids)};
}

double Trainer::TrainOnBatch(const Batch& batch) {
  model_->train();
  optimizer_->zero_grad();
  at::Tensor loss =
      torch::nn::functional::cross_entropy(model_->forward(batch.images), batch.labels);
  loss.backward();
  optimizer_->step();
  ++steps_;
  return loss.item<double>();
}

double Trainer::TrainStep() { return TrainOnBatch(NextBatch()); }

double Trainer::ValidationLoss() {
  if (validation_subset_.size() == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return Evaluate(validation_subset_).loss;
}

Trainer::Metrics Trainer::TestMetrics() { return Evaluate(data_.test); }

Trainer::Metrics Trainer::Evaluate(const Split& split) {
  const int64_t n = split.size();
  if (n == 0) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return Metrics{nan, nan};
  }
  torch::NoGradGuard no_grad;
  model_->eval();
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += kEvalChunk) {
    const int64_t len = std::min(kEvalChunk, n - start);
    at::Tensor logits = model_->forward(split.images.narrow(0, start, len));
    at::Tensor labels = split.labels.narrow(0, start, len);
    loss_sum +=
        torch::nn::functional::cross_entropy(
            logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
  }
  model_->train();
  return Metrics{loss_sum / double(n), double(correct) / double(n)};
}

}  // namespace autolrs::examples
