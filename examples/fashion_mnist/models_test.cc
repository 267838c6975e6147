#include "examples/fashion_mnist/models.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace autolrs::examples {
namespace {

TEST(ModelsTest, UnknownNameIsInvalidArgument) {
  EXPECT_EQ(MakeModel("lstm").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsTextModel("mlp"));
  EXPECT_FALSE(IsTextModel("lstm"));
  EXPECT_TRUE(IsTextModel("gru"));
  EXPECT_TRUE(IsTextModel("transformer"));
}

// A language model's logits at position t may depend on bytes 0..t only:
// one that saw the next byte would learn to copy it.
void ExpectCausal(const std::string& name) {
  SCOPED_TRACE(name);
  torch::manual_seed(3);
  absl::StatusOr<torch::nn::Sequential> model = MakeModel(name);
  ASSERT_TRUE(model.ok()) << model.status();
  const at::Tensor bytes = torch::randint(0, 256, {2, 16}, torch::kInt64);
  at::Tensor changed = bytes.clone();
  changed.index_put_({torch::indexing::Slice(), 10}, (bytes.select(1, 10) + 1) % 256);
  torch::NoGradGuard no_grad;
  const at::Tensor a = (*model)->forward(bytes);    // [2, 256, 16]
  const at::Tensor b = (*model)->forward(changed);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{2, 256, 16}));
  for (int64_t t = 0; t < 16; ++t) {
    const double diff = (a.select(2, t) - b.select(2, t)).abs().max().item<double>();
    if (t < 10) {
      EXPECT_LT(diff, 1e-5) << "position " << t << " saw byte 10";
    } else {
      EXPECT_GT(diff, 1e-6) << "position " << t << " did not see byte 10";
    }
  }
}

TEST(ModelsTest, LanguageModelsAreCausal) {
  ExpectCausal("gru");
  ExpectCausal("transformer");
}

TEST(ModelsTest, TransformerRejectsContextsLongerThanItsPositions) {
  torch::manual_seed(0);
  absl::StatusOr<torch::nn::Sequential> model = MakeModel("transformer");
  ASSERT_TRUE(model.ok());
  EXPECT_ANY_THROW((*model)->forward(torch::zeros({1, 65}, torch::kInt64)));
  EXPECT_NO_THROW((*model)->forward(torch::zeros({1, 64}, torch::kInt64)));
}

}  // namespace
}  // namespace autolrs::examples
