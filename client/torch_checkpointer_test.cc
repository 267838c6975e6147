#include "client/torch_checkpointer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace autolrs {
namespace {

namespace nn = torch::nn;
namespace optim = torch::optim;

// A small model with buffers (batch-norm running statistics) on seeded
// synthetic data; each step uses its own batch.
class Fixture {
 public:
  explicit Fixture(const std::string& optimizer) {
    at::set_num_threads(1);
    torch::manual_seed(5);
    model_ = nn::Sequential(nn::Linear(8, 16), nn::BatchNorm1d(16), nn::ReLU(), nn::Linear(16, 3));
    const auto params = model_->parameters();
    if (optimizer == "sgd") {
      optimizer_ =
          std::make_unique<optim::SGD>(params, optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
    } else if (optimizer == "adam") {
      optimizer_ = std::make_unique<optim::Adam>(params, optim::AdamOptions(1e-2).amsgrad(true));
    } else if (optimizer == "adamw") {
      optimizer_ = std::make_unique<optim::AdamW>(params, optim::AdamWOptions(1e-2));
    } else if (optimizer == "adagrad") {
      optimizer_ = std::make_unique<optim::Adagrad>(params, optim::AdagradOptions(0.1));
    } else if (optimizer == "rmsprop") {
      optimizer_ = std::make_unique<optim::RMSprop>(
          params, optim::RMSpropOptions(1e-2).momentum(0.5).centered(true));
    } else if (optimizer == "lbfgs") {
      optimizer_ = std::make_unique<optim::LBFGS>(params, optim::LBFGSOptions(0.1));
    }
    inputs_ = at::randn({64, 8});
    labels_ = at::randint(0, 3, {64}, at::kLong);
  }

  nn::Module& model() { return *model_; }
  optim::Optimizer& optimizer() { return *optimizer_; }

  // One step on batch `b` (one of 4 fixed batches of 16); returns the loss.
  double Step(int b) {
    const at::Tensor x = inputs_.narrow(0, 16 * (b % 4), 16);
    const at::Tensor y = labels_.narrow(0, 16 * (b % 4), 16);
    double loss_value = 0;
    auto closure = [&] {
      optimizer_->zero_grad();
      at::Tensor loss = nn::functional::cross_entropy(model_->forward(x), y);
      loss.backward();
      loss_value = loss.item<double>();
      return loss;
    };
    optimizer_->step(closure);
    return loss_value;
  }

  // Copies of all parameters, buffers and (for SGD/Adam) state tensors.
  std::vector<at::Tensor> Snapshot() {
    std::vector<at::Tensor> out;
    for (const at::Tensor& p : model_->parameters()) {
      out.push_back(p.detach().clone());
    }
    for (const at::Tensor& b : model_->buffers()) out.push_back(b.clone());
    for (const at::Tensor& p : model_->parameters()) {
      auto it = optimizer_->state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == optimizer_->state().end()) continue;
      if (auto* s = dynamic_cast<optim::SGDParamState*>(it->second.get())) {
        out.push_back(s->momentum_buffer().clone());
      } else if (auto* s = dynamic_cast<optim::AdamParamState*>(it->second.get())) {
        out.push_back(s->exp_avg().clone());
        out.push_back(s->exp_avg_sq().clone());
        out.push_back(s->max_exp_avg_sq().clone());
        out.push_back(at::tensor(s->step()));
      }
    }
    return out;
  }

 private:
  nn::Sequential model_{nullptr};
  std::unique_ptr<optim::Optimizer> optimizer_;
  at::Tensor inputs_;
  at::Tensor labels_;
};

bool BitEqual(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!at::equal(a[i], b[i])) return false;
  }
  return true;
}

TEST(TorchCheckpointerTest, RestoreBeforeSaveIsFailedPrecondition) {
  Fixture f("sgd");
  TorchCheckpointer checkpointer(f.model(), f.optimizer());
  EXPECT_FALSE(checkpointer.has_checkpoint());
  EXPECT_EQ(checkpointer.Restore().code(), absl::StatusCode::kFailedPrecondition);
}

class RoundTripTest : public testing::TestWithParam<const char*> {};

TEST_P(RoundTripTest, RestorePutsBackTheSavedStateBitForBit) {
  Fixture f(GetParam());
  TorchCheckpointer checkpointer(f.model(), f.optimizer());
  for (int i = 0; i < 3; ++i) f.Step(i);
  ASSERT_TRUE(checkpointer.Save().ok());
  EXPECT_TRUE(checkpointer.has_checkpoint());
  const std::vector<at::Tensor> saved = f.Snapshot();
  const double next_loss = f.Step(3);
  const double next_next_loss = f.Step(0);
  const std::vector<at::Tensor> after_two = f.Snapshot();

  for (int i = 0; i < 7; ++i) f.Step(i);
  ASSERT_FALSE(BitEqual(f.Snapshot(), saved));
  ASSERT_TRUE(checkpointer.Restore().ok());
  EXPECT_TRUE(BitEqual(f.Snapshot(), saved));
  // The same batches after Restore() give exactly the same losses and state,
  // which also checks the optimizer state we do not inspect directly.
  EXPECT_EQ(f.Step(3), next_loss);
  EXPECT_EQ(f.Step(0), next_next_loss);
  EXPECT_TRUE(BitEqual(f.Snapshot(), after_two));

  // Saving again replaces the slot.
  ASSERT_TRUE(checkpointer.Save().ok());
  f.Step(1);
  ASSERT_TRUE(checkpointer.Restore().ok());
  EXPECT_TRUE(BitEqual(f.Snapshot(), after_two));
}

INSTANTIATE_TEST_SUITE_P(Optimizers, RoundTripTest,
                         testing::Values("sgd", "adam", "adamw", "adagrad", "rmsprop"));

TEST(TorchCheckpointerTest, RestoreDoesNotTouchTheLearningRate) {
  Fixture f("sgd");
  TorchCheckpointer checkpointer(f.model(), f.optimizer());
  ASSERT_TRUE(checkpointer.Save().ok());
  f.optimizer().param_groups()[0].options().set_lr(0.5);
  ASSERT_TRUE(checkpointer.Restore().ok());
  EXPECT_EQ(f.optimizer().param_groups()[0].options().get_lr(), 0.5);
}

TEST(TorchCheckpointerTest, UnsupportedOptimizerStateIsUnimplemented) {
  Fixture f("lbfgs");
  TorchCheckpointer checkpointer(f.model(), f.optimizer());
  f.Step(0);
  EXPECT_EQ(checkpointer.Save().code(), absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(checkpointer.has_checkpoint());
}

TEST(TorchCheckpointerTest, ChangedModelIsFailedPrecondition) {
  Fixture f("sgd");
  TorchCheckpointer checkpointer(f.model(), f.optimizer());
  ASSERT_TRUE(checkpointer.Save().ok());
  f.model().register_parameter("extra", at::zeros({2}));
  EXPECT_EQ(checkpointer.Restore().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace autolrs
