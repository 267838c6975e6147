#ifndef AUTOLRS_EXAMPLES_FASHION_MNIST_MODELS_H_
#define AUTOLRS_EXAMPLES_FASHION_MNIST_MODELS_H_

#include <torch/nn/modules/container/sequential.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace autolrs::examples {

// Names accepted by MakeModel():
//   "mlp": Flatten, Linear(784, 256), ReLU, Linear(256, 10)      (~200k params)
//   "cnn": Conv(1->16, 3x3, pad 1), ReLU, MaxPool 2,
//          Conv(16->32, 3x3, pad 1), ReLU, MaxPool 2,
//          Flatten, Linear(32*7*7, 10)                            (~20k params)
// Both take float [N, 1, 28, 28] images and return [N, 10] logits.
//   "gru": a byte-level language model: Embedding(256, 32), one GRU layer of
//          96 units, Linear(96, 256)                             (~70k params)
//          It takes int64 [N, T] bytes and returns [N, 256, T] logits of the
//          next byte at every position (the layout cross_entropy takes with
//          [N, T] targets).
//   "transformer": a byte-level causal Transformer language model:
//          Embedding(256, 64) plus learned positions (context <= 64), two
//          post-norm encoder layers (4 heads, feed-forward 256) under a
//          causal mask, Linear(64, 256)                           (~150k params)
//          Same input and output layout as "gru".
// None uses dropout or batch norm, so train/eval mode does not change the
// output.
std::vector<std::string> ModelNames();

// Whether the model reads byte sequences of a text corpus (text_corpus.h)
// rather than Fashion-MNIST images: "gru" and "transformer".
bool IsTextModel(const std::string& name);

// Builds a freshly initialized model with libtorch's default initialization,
// drawn from the global torch generator (seed it with torch::manual_seed
// first for reproducibility). INVALID_ARGUMENT for an unknown name.
//
// Thread-safety: uses the global torch generator; do not call concurrently
// with other code that draws from it if determinism matters.
absl::StatusOr<torch::nn::Sequential> MakeModel(const std::string& name);

}  // namespace autolrs::examples

#endif  // AUTOLRS_EXAMPLES_FASHION_MNIST_MODELS_H_
