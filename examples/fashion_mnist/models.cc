#include "examples/fashion_mnist/models.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace autolrs::examples {

namespace {

// Byte-level GRU language model: [N, T] int64 -> [N, 256, T] logits.
class CharGruImpl : public torch::nn::Module {
 public:
  CharGruImpl()
      : embedding_(register_module("embedding", torch::nn::Embedding(256, 32))),
        gru_(register_module(
            "gru", torch::nn::GRU(torch::nn::GRUOptions(32, 96).batch_first(true)))),
        head_(register_module("head", torch::nn::Linear(96, 256))) {}

  at::Tensor forward(at::Tensor bytes) {
    at::Tensor h = std::get<0>(gru_->forward(embedding_->forward(bytes)));  // [N, T, 96]
    return head_->forward(h).permute({0, 2, 1});                           // [N, 256, T]
  }

 private:
  torch::nn::Embedding embedding_;
  torch::nn::GRU gru_;
  torch::nn::Linear head_;
};
TORCH_MODULE(CharGru);

}  // namespace

std::vector<std::string> ModelNames() { return {"mlp", "cnn", "gru"}; }

absl::StatusOr<torch::nn::Sequential> MakeModel(const std::string& name) {
  namespace nn = torch::nn;
  if (name == "mlp") {
    return nn::Sequential(nn::Flatten(), nn::Linear(28 * 28, 256), nn::ReLU(), nn::Linear(256, 10));
  }
  if (name == "cnn") {
    return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 16, 3).padding(1)), nn::ReLU(),
                          nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(16, 32, 3).padding(1)),
                          nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Linear(32 * 7 * 7, 10));
  }
  if (name == "gru") return nn::Sequential(CharGru());
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown model '", name, "'; expected one of: ", absl::StrJoin(ModelNames(), ", ")));
}

}  // namespace autolrs::examples
