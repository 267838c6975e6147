#include "examples/fashion_mnist/fashion_mnist.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace autolrs::examples {
namespace {

constexpr int64_t kImageSide = 28;
constexpr int64_t kTrainImages = 60000;
constexpr int64_t kTestImages = 10000;

bool FileExists(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

// Reads exactly `size` bytes; false on a short read.
bool ReadExactly(gzFile file, void* out, size_t size) {
  char* p = static_cast<char*>(out);
  while (size > 0) {
    const unsigned chunk = size > (1u << 30) ? (1u << 30) : unsigned(size);
    const int n = gzread(file, p, chunk);
    if (n <= 0) return false;
    p += n;
    size -= size_t(n);
  }
  return true;
}

uint32_t BigEndian32(const unsigned char* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

absl::StatusOr<Split> LoadSplit(const std::string& dir, const std::string& prefix,
                                int64_t expected_count) {
  const std::string images_path = dir + "/" + prefix + "-images-idx3-ubyte";
  const std::string labels_path = dir + "/" + prefix + "-labels-idx1-ubyte";
  absl::StatusOr<at::Tensor> images = ReadIdxFile(images_path);
  if (!images.ok()) return images.status();
  absl::StatusOr<at::Tensor> labels = ReadIdxFile(labels_path);
  if (!labels.ok()) return labels.status();
  if (images->dim() != 3 || images->size(0) != expected_count || images->size(1) != kImageSide ||
      images->size(2) != kImageSide) {
    return absl::DataLossError(absl::StrCat(images_path, ": expected ", expected_count,
                                            "x28x28 images, got shape [",
                                            absl::StrJoin(images->sizes(), ","), "]"));
  }
  if (labels->dim() != 1 || labels->size(0) != expected_count) {
    return absl::DataLossError(absl::StrCat(labels_path, ": expected ", expected_count,
                                            " labels, got [", absl::StrJoin(labels->sizes(), ","),
                                            "]"));
  }
  Split split;
  split.labels = labels->to(at::kLong);
  if (split.labels.max().item<int64_t>() > 9) {
    return absl::DataLossError(absl::StrCat(labels_path, ": a label is outside [0, 9]"));
  }
  split.images = images->to(at::kFloat)
                     .div_(255.0)
                     .sub_(kFashionMnistMean)
                     .div_(kFashionMnistStd)
                     .unsqueeze(1)
                     .contiguous();
  return split;
}

}  // namespace

absl::StatusOr<at::Tensor> ReadIdxFile(const std::string& path) {
  std::string actual = path;
  if (!FileExists(actual)) {
    actual = path + ".gz";
    if (!FileExists(actual)) {
      return absl::NotFoundError(
          absl::StrCat("IDX file not found: ", path, " (nor ", path, ".gz)"));
    }
  }
  // gzopen reads plain files transparently too.
  gzFile file = gzopen(actual.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", actual, ": ", std::strerror(errno)));
  }
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{file};

  unsigned char magic[4];
  if (!ReadExactly(file, magic, 4)) {
    return absl::DataLossError(absl::StrCat(actual, ": truncated header"));
  }
  // Magic: two zero bytes, the type (0x08 = unsigned byte), the rank.
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4) {
    return absl::DataLossError(
        absl::StrCat(actual, ": not an unsigned-byte IDX file (bad magic number)"));
  }
  const int rank = magic[3];
  std::vector<int64_t> dims(rank);
  int64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    unsigned char b[4];
    if (!ReadExactly(file, b, 4)) {
      return absl::DataLossError(absl::StrCat(actual, ": truncated header"));
    }
    dims[i] = BigEndian32(b);
    total *= dims[i];
  }
  if (total > (int64_t{1} << 32)) {
    return absl::DataLossError(absl::StrCat(actual, ": implausible size"));
  }
  at::Tensor data = at::empty(dims, at::kByte);
  if (!ReadExactly(file, data.data_ptr<uint8_t>(), size_t(total))) {
    return absl::DataLossError(
        absl::StrCat(actual, ": truncated data (expected ", total, " bytes)"));
  }
  return data;
}

absl::StatusOr<FashionMnist> LoadFashionMnist(const FashionMnistOptions& options) {
  if (options.validation_size < 0 || options.validation_size >= kTrainImages) {
    return absl::InvalidArgumentError(absl::StrCat("validation_size must be in [0, ", kTrainImages,
                                                   "), got ", options.validation_size));
  }
  const std::string dir = options.data_dir.empty() ? kDefaultFashionMnistDir : options.data_dir;
  absl::StatusOr<Split> train = LoadSplit(dir, "train", kTrainImages);
  absl::StatusOr<Split> test;
  if (train.ok()) test = LoadSplit(dir, "t10k", kTestImages);
  const absl::Status status = train.ok() ? test.status() : train.status();
  if (absl::IsNotFound(status)) {
    return absl::NotFoundError(
        absl::StrCat("Fashion-MNIST is not in ", dir, ": ", status.message(),
                     ". Install the Debian package dataset-fashion-mnist or pass "
                     "--data_dir."));
  }
  if (!status.ok()) return status;

  FashionMnist data;
  const int64_t n_train = kTrainImages - options.validation_size;
  data.train.images = train->images.narrow(0, 0, n_train);
  data.train.labels = train->labels.narrow(0, 0, n_train);
  data.validation.images = train->images.narrow(0, n_train, options.validation_size);
  data.validation.labels = train->labels.narrow(0, n_train, options.validation_size);
  data.test = *std::move(test);
  return data;
}

}  // namespace autolrs::examples
