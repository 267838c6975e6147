#include "examples/fashion_mnist/trainer.h"

#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <c10/util/string_utils.h>
#include <torch/optim/adam.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include "absl/status/status.h"
#include "client/torch_checkpointer.h"
#include "examples/fashion_mnist/fashion_mnist.h"
#include "gtest/gtest.h"

namespace autolrs::examples {
namespace {

const FashionMnist& Data() {
  static const FashionMnist* data = [] {
    at::set_num_threads(1);
    absl::StatusOr<FashionMnist> d = LoadFashionMnist();
    EXPECT_TRUE(d.ok()) << d.status();
    return new FashionMnist(d.ok() ? *std::move(d) : FashionMnist{});
  }();
  return *data;
}

std::unique_ptr<Trainer> MakeTrainer(const TrainerOptions& options) {
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      Trainer::Create(options, Data());
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  return trainer.ok() ? *std::move(trainer) : nullptr;
}

std::vector<double> Losses(Trainer& trainer, int steps) {
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) losses.push_back(trainer.TrainStep());
  return losses;
}

double Mean(const std::vector<double>& v, size_t begin, size_t end) {
  return std::accumulate(v.begin() + begin, v.begin() + end, 0.0) /
         double(end - begin);
}

TEST(TrainerTest, RejectsBadOptions) {
  auto code = [](const TrainerOptions& options) {
    return Trainer::Create(options, Data()).status().code();
  };
  TrainerOptions options;
  options.model = "resnet";
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  options = {};
  options.optimizer = "lbfgs";
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  options = {};
  options.batch_size = 0;
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  options = {};
  options.learning_rate = -1;
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  options = {};
  options.validation_subset = 10001;
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(TrainerOptions{}), absl::StatusCode::kOk);
}

TEST(TrainerTest, SameSeedGivesTheSameLosses) {
  TrainerOptions options;
  options.seed = 7;
  options.learning_rate = 0.05;
  const std::vector<double> a = Losses(*MakeTrainer(options), 5);
  const std::vector<double> b = Losses(*MakeTrainer(options), 5);
  EXPECT_EQ(a, b);  // Bit for bit.
  options.seed = 8;
  const std::vector<double> c = Losses(*MakeTrainer(options), 5);
  EXPECT_NE(a, c);
}

TEST(TrainerTest, MlpSgdLossDecreases) {
  TrainerOptions options;
  options.seed = 1;
  options.learning_rate = 0.05;
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  const double validation_before = trainer->ValidationLoss();
  EXPECT_NEAR(validation_before, std::log(10.0), 0.2);  // Chance level.
  const std::vector<double> losses = Losses(*trainer, 100);
  EXPECT_EQ(trainer->steps(), 100);
  EXPECT_LT(Mean(losses, 90, 100), 0.6 * Mean(losses, 0, 10));
  EXPECT_LT(trainer->ValidationLoss(), 0.5 * validation_before);
  const Trainer::Metrics test = trainer->TestMetrics();
  EXPECT_GT(test.accuracy, 0.7);
  EXPECT_LT(test.loss, 0.9);
}

TEST(TrainerTest, AdamLossDecreases) {
  TrainerOptions options;
  options.optimizer = "adam";
  options.learning_rate = 1e-3;
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  const std::vector<double> losses = Losses(*trainer, 60);
  EXPECT_LT(Mean(losses, 50, 60), 0.6 * Mean(losses, 0, 10));
}

TEST(TrainerTest, CnnLossDecreases) {
  TrainerOptions options;
  options.model = "cnn";
  options.learning_rate = 0.05;
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  const std::vector<double> losses = Losses(*trainer, 40);
  EXPECT_LT(Mean(losses, 30, 40), 0.7 * Mean(losses, 0, 5));
}

TEST(TrainerTest, AdamWLossDecreases) {
  TrainerOptions options;
  options.optimizer = "adamw";
  options.learning_rate = 1e-3;
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  const std::vector<double> losses = Losses(*trainer, 60);
  EXPECT_LT(Mean(losses, 50, 60), 0.6 * Mean(losses, 0, 10));
}

// Every parameter-free optimizer trains at its published multiplier of 1.
TEST(TrainerTest, ParameterFreeOptimizersTrainWithoutAnLr) {
  for (const char* name : {"dog", "dadapt-sgd", "dadapt-adam", "prodigy"}) {
    TrainerOptions options;
    options.optimizer = name;
    options.learning_rate = 1.0;
    std::unique_ptr<Trainer> trainer = MakeTrainer(options);
    const std::vector<double> losses = Losses(*trainer, 100);
    EXPECT_LT(Mean(losses, 90, 100), 0.6 * Mean(losses, 0, 10)) << name;
    EXPECT_GT(trainer->step_size(), 0) << name;
  }
}

// DoG is evaluated at its iterate average, which differs from the iterate.
TEST(TrainerTest, DogEvaluatesTheAveragedIterate) {
  TrainerOptions options;
  options.optimizer = "dog";
  options.learning_rate = 1.0;
  options.validation_subset = 500;
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  Losses(*trainer, 30);
  const double averaged = trainer->ValidationLoss();
  EXPECT_EQ(trainer->ValidationLoss(), averaged) << "evaluation restores the iterate";
  const Split subset{Data().validation.images.narrow(0, 0, 500),
                     Data().validation.labels.narrow(0, 0, 500)};
  torch::NoGradGuard no_grad;
  const double iterate =
      torch::nn::functional::cross_entropy(trainer->sequential()->forward(subset.images),
                                           subset.labels)
          .item<double>();
  EXPECT_NE(iterate, averaged);
}

TEST(TrainerTest, RejectsParameterFreeNamesItDoesNotKnow) {
  TrainerOptions options;
  options.optimizer = "dadapt-lion";
  EXPECT_EQ(Trainer::Create(options, Data()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Trains the language model `model` with Adam (LR 3e-3, 32 windows per
// step) on the license texts for 60 steps, expects it to learn, and returns
// its training losses and test metrics.
void ExpectLanguageModelLearns(const std::string& model, std::vector<double>* losses,
                               Trainer::Metrics* test) {
  TrainerOptions options;
  options.model = model;
  options.optimizer = "adam";
  options.learning_rate = 3e-3;
  options.batch_size = 32;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::CreateWithData(options, "");
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  *losses = Losses(**trainer, 60);
  *test = (*trainer)->TestMetrics();
  EXPECT_LT(Mean(*losses, 50, 60), 0.7 * Mean(*losses, 0, 5));
  EXPECT_LT(test->loss, 0.8 * std::log(256.0));
}

TEST(TrainerTest, GruLanguageModelTrainsOnTheLicenseTexts) {
  std::vector<double> losses;
  Trainer::Metrics test;
  ASSERT_NO_FATAL_FAILURE(ExpectLanguageModelLearns("gru", &losses, &test));
  EXPECT_NEAR(Mean(losses, 0, 1), std::log(256.0), 0.3) << "starts near uniform over bytes";
  EXPECT_GT(test.accuracy, 0.1);
  EXPECT_LE(test.accuracy, 1.0);
}

TEST(TrainerTest, TransformerLanguageModelTrainsOnTheLicenseTexts) {
  std::vector<double> losses;
  Trainer::Metrics test;
  ExpectLanguageModelLearns("transformer", &losses, &test);
}

TEST(TrainerTest, SetLearningRateAppliesToTheNextStep) {
  TrainerOptions options;
  options.learning_rate = 0.05;
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  Losses(*trainer, 3);
  trainer->SetLearningRate(0.0);
  EXPECT_EQ(trainer->learning_rate(), 0.0);
  for (auto& group : trainer->optimizer().param_groups()) {
    EXPECT_EQ(group.options().get_lr(), 0.0);
  }
  std::vector<at::Tensor> before;
  for (const at::Tensor& p : trainer->model().parameters()) {
    before.push_back(p.detach().clone());
  }
  trainer->TrainStep();  // Momentum is non-zero, but the LR is zero.
  const std::vector<at::Tensor> after = trainer->model().parameters();
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(at::equal(before[i], after[i])) << "parameter " << i;
  }
  trainer->SetLearningRate(0.05);
  trainer->TrainStep();
  EXPECT_FALSE(at::equal(before[0], trainer->model().parameters()[0]));
}

TEST(TrainerTest, EachEpochVisitsEveryTrainingImageOnce) {
  TrainerOptions options;
  options.batch_size = 10000;  // Five batches per epoch of 50,000.
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  at::Tensor counts = at::zeros({10}, at::kLong);
  for (int i = 0; i < 5; ++i) {
    Trainer::Batch batch = trainer->NextBatch();
    ASSERT_EQ(batch.images.sizes(),
              (std::vector<int64_t>{10000, 1, 28, 28}));
    counts += at::bincount(batch.labels, {}, 10);
  }
  EXPECT_EQ(trainer->epochs(), 0);
  EXPECT_TRUE(at::equal(counts, at::bincount(Data().train.labels, {}, 10)));
  const Trainer::Batch first_of_epoch_2 = trainer->NextBatch();
  EXPECT_EQ(trainer->epochs(), 1);
  EXPECT_EQ(trainer->steps(), 0);  // NextBatch() does not train.
  // The new epoch is a different permutation.
  TrainerOptions same = options;
  const Trainer::Batch first_of_epoch_1 = MakeTrainer(same)->NextBatch();
  EXPECT_FALSE(at::equal(first_of_epoch_1.labels, first_of_epoch_2.labels));
}

TEST(TrainerTest, EvaluationDoesNotChangeTheModel) {
  TrainerOptions options;
  options.validation_subset = 500;
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  Losses(*trainer, 5);
  const double v = trainer->ValidationLoss();
  const Trainer::Metrics t = trainer->TestMetrics();
  EXPECT_EQ(trainer->ValidationLoss(), v);
  EXPECT_EQ(trainer->TestMetrics().loss, t.loss);
  const Split subset{Data().validation.images.narrow(0, 0, 500),
                     Data().validation.labels.narrow(0, 0, 500)};
  EXPECT_EQ(trainer->Evaluate(subset).loss, v);
}

// TorchCheckpointer on a real Trainer: after Restore() the model and the
// optimizer state equal the saved ones bit for bit, and the step after
// Restore() gives exactly the loss the step right after Save() gave on the
// same batch.
class TrainerCheckpointTest : public testing::TestWithParam<const char*> {};

// Copies of every optimizer state tensor, in parameter order.
std::vector<at::Tensor> OptimizerTensors(torch::optim::Optimizer& optimizer) {
  std::vector<at::Tensor> out;
  for (const auto& group : optimizer.param_groups()) {
    for (const at::Tensor& p : group.params()) {
      auto it = optimizer.state().find(
          c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == optimizer.state().end()) continue;
      if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(
              it->second.get())) {
        out.push_back(s->momentum_buffer().clone());
      } else if (auto* s = dynamic_cast<torch::optim::AdamParamState*>(
                     it->second.get())) {
        out.push_back(s->exp_avg().clone());
        out.push_back(s->exp_avg_sq().clone());
        out.push_back(at::tensor(s->step()));
      } else {
        ADD_FAILURE() << "unexpected optimizer state";
      }
    }
  }
  return out;
}

std::vector<at::Tensor> Parameters(Trainer& trainer) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : trainer.model().parameters()) {
    out.push_back(p.detach().clone());
  }
  return out;
}

void ExpectBitEqual(const std::vector<at::Tensor>& a,
                    const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(at::equal(a[i], b[i])) << "tensor " << i;
  }
}

TEST_P(TrainerCheckpointTest, RestoreGivesTheSavedStateAndTheSameNextLoss) {
  TrainerOptions options;
  options.optimizer = GetParam();
  options.learning_rate = options.optimizer == "adam" ? 1e-3 : 0.05;
  options.seed = 3;
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  TorchCheckpointer checkpointer(trainer->model(), trainer->optimizer());
  EXPECT_EQ(checkpointer.Restore().code(),
            absl::StatusCode::kFailedPrecondition);

  Losses(*trainer, 5);
  ASSERT_TRUE(checkpointer.Save().ok());
  const std::vector<at::Tensor> saved_params = Parameters(*trainer);
  const std::vector<at::Tensor> saved_state =
      OptimizerTensors(trainer->optimizer());
  ASSERT_FALSE(saved_state.empty());

  const Trainer::Batch batch = trainer->NextBatch();
  const double loss_after_save = trainer->TrainOnBatch(batch);
  const std::vector<at::Tensor> params_after_save = Parameters(*trainer);

  trainer->SetLearningRate(options.learning_rate * 3);
  Losses(*trainer, 10);
  ASSERT_FALSE(at::equal(Parameters(*trainer)[0], saved_params[0]));

  ASSERT_TRUE(checkpointer.Restore().ok());
  ExpectBitEqual(Parameters(*trainer), saved_params);
  ExpectBitEqual(OptimizerTensors(trainer->optimizer()), saved_state);

  trainer->SetLearningRate(options.learning_rate);
  EXPECT_EQ(trainer->TrainOnBatch(batch), loss_after_save);
  ExpectBitEqual(Parameters(*trainer), params_after_save);

  // The slot survives a Restore(): restoring again gives the same state.
  Losses(*trainer, 3);
  ASSERT_TRUE(checkpointer.Restore().ok());
  ExpectBitEqual(Parameters(*trainer), saved_params);
  ExpectBitEqual(OptimizerTensors(trainer->optimizer()), saved_state);
}

TEST_P(TrainerCheckpointTest, CheckpointBeforeTheFirstStepClearsTheState) {
  TrainerOptions options;
  options.optimizer = GetParam();
  std::unique_ptr<Trainer> trainer = MakeTrainer(options);
  TorchCheckpointer checkpointer(trainer->model(), trainer->optimizer());
  const std::vector<at::Tensor> initial = Parameters(*trainer);
  ASSERT_TRUE(checkpointer.Save().ok());
  const Trainer::Batch batch = trainer->NextBatch();
  const double first = trainer->TrainOnBatch(batch);
  const double second = trainer->TrainOnBatch(batch);
  ASSERT_FALSE(trainer->optimizer().state().empty());
  ASSERT_TRUE(checkpointer.Restore().ok());
  EXPECT_TRUE(trainer->optimizer().state().empty());
  ExpectBitEqual(Parameters(*trainer), initial);
  EXPECT_EQ(trainer->TrainOnBatch(batch), first);
  EXPECT_EQ(trainer->TrainOnBatch(batch), second);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrainerCheckpointTest,
                         testing::Values("sgd", "adam"));

}  // namespace
}  // namespace autolrs::examples
