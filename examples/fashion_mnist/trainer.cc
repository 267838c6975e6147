#include "examples/fashion_mnist/trainer.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <utility>

#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "examples/fashion_mnist/models.h"
#include "examples/fashion_mnist/text_corpus.h"

namespace autolrs::examples {
namespace {

constexpr int64_t kEvalChunk = 1000;

}  // namespace

std::vector<std::string> OptimizerNames() {
  return {"sgd", "adam", "adamw", "dog", "dadapt-sgd", "dadapt-adam", "prodigy"};
}

bool IsParameterFree(const std::string& optimizer) {
  return optimizer == "dog" || optimizer == "dadapt-sgd" || optimizer == "dadapt-adam" ||
         optimizer == "prodigy";
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::CreateWithData(
    const TrainerOptions& options, const std::string& data_dir) {
  if (IsTextModel(options.model)) {
    TextCorpusOptions text_options;
    text_options.dir = data_dir;
    absl::StatusOr<FashionMnist> text = LoadTextCorpus(text_options);
    if (!text.ok()) return text.status();
    TrainerOptions text_trainer = options;
    text_trainer.validation_subset = 0;
    return Create(text_trainer, *std::move(text));
  }
  FashionMnistOptions data_options;
  data_options.data_dir = data_dir;
  absl::StatusOr<FashionMnist> data = LoadFashionMnist(data_options);
  if (!data.ok()) return data.status();
  return Create(options, *std::move(data));
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    const TrainerOptions& options, FashionMnist data) {
  const std::vector<std::string> optimizers = OptimizerNames();
  if (std::find(optimizers.begin(), optimizers.end(), options.optimizer) ==
      optimizers.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown optimizer '", options.optimizer, "'; expected one of ",
                     absl::StrJoin(optimizers, ", ")));
  }
  if (!(options.learning_rate > 0) || !std::isfinite(options.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learning_rate must be positive and finite, got ",
        options.learning_rate));
  }
  if (options.batch_size <= 0 || options.batch_size > data.train.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be in [1, ", data.train.size(),
                     "] (the training split's size), got ",
                     options.batch_size));
  }
  if (options.validation_subset < 0 ||
      options.validation_subset > data.validation.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "validation_subset must be in [0, ", data.validation.size(),
        "] (the validation split's size), got ", options.validation_subset));
  }
  torch::manual_seed(options.seed);
  absl::StatusOr<torch::nn::Sequential> model = MakeModel(options.model);
  if (!model.ok()) return model.status();
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  const std::vector<at::Tensor> params = (*model)->parameters();
  const double lr = options.learning_rate;
  if (options.optimizer == "sgd") {
    optimizer = std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(lr).momentum(options.momentum));
  } else if (options.optimizer == "adam") {
    optimizer = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(lr));
  } else if (options.optimizer == "adamw") {
    optimizer = std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(lr).weight_decay(0.01));
  } else if (options.optimizer == "dog") {
    optimizer = std::make_unique<DoG>(params, lr);
  } else if (options.optimizer == "dadapt-sgd") {
    optimizer = std::make_unique<DAdaptSgd>(params, lr, options.momentum);
  } else if (options.optimizer == "dadapt-adam") {
    optimizer = std::make_unique<DAdaptAdam>(params, lr);
  } else {
    optimizer = std::make_unique<Prodigy>(params, lr);
  }
  return std::unique_ptr<Trainer>(new Trainer(
      options, std::move(data), *std::move(model), std::move(optimizer)));
}

Trainer::Trainer(const TrainerOptions& options, FashionMnist data,
                 torch::nn::Sequential model,
                 std::unique_ptr<torch::optim::Optimizer> optimizer)
    : options_(options),
      data_(std::move(data)),
      model_(std::move(model)),
      optimizer_(std::move(optimizer)),
      rng_(options.seed) {
  if (options_.optimizer == "dog") {
    averager_ = std::make_unique<PolynomialAverager>(model_->parameters());
  }
  const int64_t n = options.validation_subset == 0
                        ? data_.validation.size()
                        : options.validation_subset;
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
      torch::from_blob(order_.data() + position_, {options_.batch_size},
                       torch::kLong)
          .clone();
  position_ += options_.batch_size;
  return Batch{data_.train.images.index_select(0, ids),
               data_.train.labels.index_select(0, ids)};
}

double Trainer::TrainOnBatch(const Batch& batch) {
  model_->train();
  optimizer_->zero_grad();
  at::Tensor loss = torch::nn::functional::cross_entropy(
      model_->forward(batch.images), batch.labels);
  loss.backward();
  optimizer_->step();
  if (averager_ != nullptr) averager_->Update();
  ++steps_;
  return loss.item<double>();
}

double Trainer::step_size() const {
  if (const auto* pf = dynamic_cast<const ParameterFreeOptimizer*>(optimizer_.get())) {
    return pf->step_size();
  }
  return learning_rate();
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
  if (averager_ != nullptr) averager_->Swap();
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t labels_seen = 0;
  for (int64_t start = 0; start < n; start += kEvalChunk) {
    const int64_t len = std::min(kEvalChunk, n - start);
    at::Tensor logits = model_->forward(split.images.narrow(0, start, len));
    at::Tensor labels = split.labels.narrow(0, start, len);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(
                        torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    labels_seen += labels.numel();
  }
  if (averager_ != nullptr) averager_->Swap();
  model_->train();
  return Metrics{loss_sum / double(labels_seen), double(correct) / double(labels_seen)};
}

}  // namespace autolrs::examples
