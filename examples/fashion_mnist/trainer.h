#ifndef AUTOLRS_EXAMPLES_FASHION_MNIST_TRAINER_H_
#define AUTOLRS_EXAMPLES_FASHION_MNIST_TRAINER_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include "absl/status/statusor.h"
#include "examples/fashion_mnist/fashion_mnist.h"
#include "examples/fashion_mnist/parameter_free.h"

namespace autolrs::examples {

struct TrainerOptions {
  // Network, see models.h: "mlp" or "cnn" (Fashion-MNIST images), "gru" or
  // "transformer" (byte sequences of a text corpus, text_corpus.h).
  std::string model = "mlp";
  // "sgd" (with `momentum`, no weight decay), "adam" (default betas),
  // "adamw" (default betas, weight decay 0.01), or a parameter-free
  // optimizer (parameter_free.h, its LR is the method's multiplier, 1 as
  // published): "dog" (evaluated at its polynomial iterate average, as in
  // the paper), "dadapt-sgd" (momentum `momentum`), "dadapt-adam", "prodigy".
  std::string optimizer = "sgd";
  // Initial learning rate, plain (not log10) units. Change it with
  // Trainer::SetLearningRate().
  double learning_rate = 0.01;
  // SGD momentum; ignored by Adam.
  double momentum = 0.9;
  // Images per training step.
  int64_t batch_size = 128;
  // Seeds the model initialization (through torch::manual_seed) and the
  // trainer's own shuffling RNG: equal seeds give bit-identical runs on the
  // same machine and thread count.
  uint64_t seed = 0;
  // ValidationLoss() is computed on the first `validation_subset` images of
  // the validation split (a fixed subset, to keep it cheap). 0 means the
  // whole split. Must not exceed the split's size.
  int64_t validation_subset = 2000;
};

// The optimizer names TrainerOptions::optimizer accepts.
std::vector<std::string> OptimizerNames();
// Whether an optimizer sets its own step size (its LR is a multiplier).
bool IsParameterFree(const std::string& optimizer);

// Trains one model on Fashion-MNIST (or a text corpus in the same Split
// layout, with a text model), one minibatch per call, on the CPU.
//
// The training stream: every epoch the training split is shuffled with the
// trainer's own seeded RNG and cut into full batches of batch_size (the last
// partial batch of an epoch is dropped). TrainStep() consumes one batch.
//
// Losses are mean cross-entropy in nats per image (per byte for text).
//
// Thread-safety: not thread-safe; use a Trainer from one thread at a time.
// Create() seeds the process-wide torch generator (torch::manual_seed).
// libtorch's intra-op thread count is global and not set here; one thread
// (torch::set_num_threads(1)) is the fastest on small machines.
class Trainer {
 public:
  struct Batch {
    at::Tensor images;  // float32 [batch_size, 1, 28, 28] (text: int64 [batch_size, T])
    at::Tensor labels;  // int64 [batch_size] (text: int64 [batch_size, T])
  };

  struct Metrics {
    double loss = 0;      // Mean cross-entropy (nats per image).
    double accuracy = 0;  // Fraction of labels predicted correctly, [0, 1].
  };

  // INVALID_ARGUMENT for an unknown model or optimizer, a non-positive batch
  // size or learning rate, a batch size larger than the training split, or a
  // validation_subset out of range.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      const TrainerOptions& options, FashionMnist data);

  // Loads the data the model needs and creates a Trainer on it:
  // Fashion-MNIST (`data_dir`, or the Debian package's files when empty) for
  // "mlp"/"cnn"; for "gru"/"transformer" the text corpus of `data_dir` (default
  // kDefaultTextDir) with 32-byte contexts, validated on its whole
  // validation split. The loader's errors, then Create's.
  static absl::StatusOr<std::unique_ptr<Trainer>> CreateWithData(
      const TrainerOptions& options, const std::string& data_dir);

  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Sets the learning rate of every parameter group (plain units, >= 0).
  // Takes effect from the next step on.
  void SetLearningRate(double lr);
  // The learning rate of the first parameter group.
  double learning_rate() const;

  // Runs one optimizer step on the next minibatch of the stream and returns
  // that minibatch's training loss (computed in the forward pass, i.e. before
  // the update). May be NaN or infinite once training has diverged.
  double TrainStep();

  // The two halves of TrainStep(), for callers that need to replay a batch:
  // NextBatch() advances the stream, TrainOnBatch() does not touch it.
  Batch NextBatch();
  double TrainOnBatch(const Batch& batch);

  // Mean loss on the fixed validation subset (no gradient, model unchanged).
  // NaN when the validation split is empty. With "dog", this and the other
  // evaluations use the averaged iterate.
  double ValidationLoss();

  // Loss and accuracy on the whole test split.
  Metrics TestMetrics();

  // Loss and accuracy on any split (evaluated in chunks, no gradient).
  Metrics Evaluate(const Split& split);

  // Number of optimizer steps taken so far (TrainStep + TrainOnBatch).
  int64_t steps() const { return steps_; }
  // Number of completed passes over the training split by the stream.
  int64_t epochs() const { return epochs_; }

  // The model and optimizer, e.g. for a TorchCheckpointer:
  //   autolrs::TorchCheckpointer ckpt(trainer->model(), trainer->optimizer());
  // Changing parameter values is fine; replacing parameter tensors or
  // modules breaks the optimizer.
  torch::nn::Module& model() { return *model_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  // The step size of the last step: the parameter-free optimizer's own (see
  // parameter_free.h), else the learning rate.
  double step_size() const;
  // The model as a Sequential, for forward passes: sequential()->forward(x).
  torch::nn::Sequential& sequential() { return model_; }

  const TrainerOptions& options() const { return options_; }
  const FashionMnist& data() const { return data_; }

 private:
  Trainer(const TrainerOptions& options, FashionMnist data,
          torch::nn::Sequential model,
          std::unique_ptr<torch::optim::Optimizer> optimizer);

  void Reshuffle();

  const TrainerOptions options_;
  const FashionMnist data_;
  Split validation_subset_;
  torch::nn::Sequential model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<PolynomialAverager> averager_;  // "dog" only.

  std::mt19937_64 rng_;
  std::vector<int64_t> order_;  // Current epoch's permutation of train ids.
  int64_t position_ = 0;        // Next unused index into order_.
  int64_t steps_ = 0;
  int64_t epochs_ = 0;
};

}  // namespace autolrs::examples

#endif  // AUTOLRS_EXAMPLES_FASHION_MNIST_TRAINER_H_
