#include "examples/fashion_mnist/models.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/modules/transformerlayer.h>

#include <limits>

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

// Byte-level causal Transformer language model: [N, T] int64 -> [N, 256, T]
// logits, T <= kMaxContext. Post-norm encoder layers (libtorch 1.13's
// default) with a causal mask, learned positions, no dropout.
class CharTransformerImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kWidth = 64;
  static constexpr int64_t kMaxContext = 64;

  CharTransformerImpl()
      : embedding_(register_module("embedding", torch::nn::Embedding(256, kWidth))),
        position_(register_module("position", torch::nn::Embedding(kMaxContext, kWidth))),
        layer1_(register_module("layer1", MakeLayer())),
        layer2_(register_module("layer2", MakeLayer())),
        head_(register_module("head", torch::nn::Linear(kWidth, 256))) {}

  at::Tensor forward(at::Tensor bytes) {
    const int64_t length = bytes.size(1);
    TORCH_CHECK(length <= kMaxContext, "context ", length, " > ", kMaxContext);
    at::Tensor positions = torch::arange(length, bytes.options());
    at::Tensor x = embedding_->forward(bytes) + position_->forward(positions);  // [N, T, W]
    // Position j may not attend to k > j.
    at::Tensor mask = torch::full({length, length}, -std::numeric_limits<float>::infinity())
                          .triu(1);
    x = x.transpose(0, 1);  // [T, N, W]: libtorch 1.13's layers are sequence-first.
    x = layer1_->forward(x, mask);
    x = layer2_->forward(x, mask);
    return head_->forward(x.transpose(0, 1)).permute({0, 2, 1});  // [N, 256, T]
  }

 private:
  static torch::nn::TransformerEncoderLayer MakeLayer() {
    return torch::nn::TransformerEncoderLayer(
        torch::nn::TransformerEncoderLayerOptions(kWidth, 4).dim_feedforward(4 * kWidth).dropout(
            0.0));
  }

  torch::nn::Embedding embedding_;
  torch::nn::Embedding position_;
  torch::nn::TransformerEncoderLayer layer1_;
  torch::nn::TransformerEncoderLayer layer2_;
  torch::nn::Linear head_;
};
TORCH_MODULE(CharTransformer);

}  // namespace

std::vector<std::string> ModelNames() { return {"mlp", "cnn", "gru", "transformer"}; }

bool IsTextModel(const std::string& name) { return name == "gru" || name == "transformer"; }

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
  if (name == "transformer") return nn::Sequential(CharTransformer());
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown model '", name, "'; expected one of: ", absl::StrJoin(ModelNames(), ", ")));
}

}  // namespace autolrs::examples
