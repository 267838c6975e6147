#ifndef AUTOLRS_EXAMPLES_FASHION_MNIST_FASHION_MNIST_H_
#define AUTOLRS_EXAMPLES_FASHION_MNIST_FASHION_MNIST_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace autolrs::examples {

// Where Debian's dataset-fashion-mnist package installs the IDX files.
inline constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Per-pixel statistics of the Fashion-MNIST training set (pixels in [0, 1]),
// used to normalize every split the same way.
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;

// One split of the data set. Tensors live on the CPU and are shared (not
// copied) when a Split is copied.
struct Split {
  at::Tensor images;  // float32 [N, 1, 28, 28], (pixel/255 - mean) / std.
  at::Tensor labels;  // int64 [N], class ids in [0, 9].

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct FashionMnist {
  Split train;       // The first 60,000 - validation_size training images.
  Split validation;  // The last validation_size training images.
  Split test;        // The 10,000 test images.
};

struct FashionMnistOptions {
  // Folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
  // t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each either plain or
  // gzipped (a ".gz" suffix). Empty means kDefaultFashionMnistDir.
  std::string data_dir;
  // How many images at the end of the training file form the validation
  // split. In [0, 60000); 0 leaves the validation split empty.
  int64_t validation_size = 10000;
};

// Reads one IDX file (plain or gzipped; `path` is tried as given, then with
// ".gz" appended). Returns its data as a uint8 tensor whose shape is the
// file's dimensions. NOT_FOUND when neither file exists, DATA_LOSS when the
// file is truncated or not an unsigned-byte IDX file.
absl::StatusOr<at::Tensor> ReadIdxFile(const std::string& path);

// Loads and normalizes the four files. NOT_FOUND (naming the folder and the
// package to install) when files are missing, INVALID_ARGUMENT for a bad
// validation_size, DATA_LOSS for inconsistent files.
//
// Thread-safety: safe to call concurrently; the result is immutable by
// convention (do not write into its tensors).
absl::StatusOr<FashionMnist> LoadFashionMnist(const FashionMnistOptions& options = {});

}  // namespace autolrs::examples

#endif  // AUTOLRS_EXAMPLES_FASHION_MNIST_FASHION_MNIST_H_
