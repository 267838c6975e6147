#include "examples/fashion_mnist/fashion_mnist.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace autolrs::examples {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Loaded once: decompressing the files takes about a second.
const FashionMnist& Data() {
  static const FashionMnist* data = [] {
    absl::StatusOr<FashionMnist> d = LoadFashionMnist();
    EXPECT_TRUE(d.ok()) << d.status();
    return new FashionMnist(d.ok() ? *std::move(d) : FashionMnist{});
  }();
  return *data;
}

TEST(FashionMnistTest, DefaultSplitsHaveTheKnownSizesAndShapes) {
  const FashionMnist& data = Data();
  ASSERT_EQ(data.train.size(), 50000);
  ASSERT_EQ(data.validation.size(), 10000);
  ASSERT_EQ(data.test.size(), 10000);
  EXPECT_EQ(data.train.size() + data.validation.size(), 60000);
  for (const Split* split : {&data.train, &data.validation, &data.test}) {
    EXPECT_EQ(split->images.sizes(), (std::vector<int64_t>{split->size(), 1, 28, 28}));
    EXPECT_EQ(split->images.scalar_type(), at::kFloat);
    EXPECT_EQ(split->labels.scalar_type(), at::kLong);
    EXPECT_EQ(split->labels.min().item<int64_t>(), 0);
    EXPECT_EQ(split->labels.max().item<int64_t>(), 9);
  }
}

TEST(FashionMnistTest, ClassesAreBalanced) {
  // Fashion-MNIST has 6,000 training and 1,000 test images per class.
  const FashionMnist& data = Data();
  const at::Tensor test_counts = at::bincount(data.test.labels, {}, 10);
  const at::Tensor train_counts =
      at::bincount(data.train.labels, {}, 10) + at::bincount(data.validation.labels, {}, 10);
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(test_counts[c].item<int64_t>(), 1000) << "class " << c;
    EXPECT_EQ(train_counts[c].item<int64_t>(), 6000) << "class " << c;
  }
}

TEST(FashionMnistTest, ImagesAreNormalized) {
  const at::Tensor images = Data().train.images;
  EXPECT_NEAR(images.mean().item<double>(), 0.0, 0.02);
  EXPECT_NEAR(images.std().item<double>(), 1.0, 0.05);
  // Raw pixels are 0..255: the smallest normalized value is -mean/std.
  EXPECT_NEAR(images.min().item<double>(), -kFashionMnistMean / kFashionMnistStd, 1e-5);
}

TEST(FashionMnistTest, ValidationIsTheTailOfTheTrainingFile) {
  FashionMnistOptions options;
  options.validation_size = 4000;
  absl::StatusOr<FashionMnist> data = LoadFashionMnist(options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 56000);
  EXPECT_EQ(data->validation.size(), 4000);
  // The last 4,000 images of the file are the last 4,000 of the default
  // 10,000-image validation split.
  EXPECT_TRUE(at::equal(data->validation.images, Data().validation.images.narrow(0, 6000, 4000)));
  EXPECT_TRUE(at::equal(data->train.images.narrow(0, 0, 50000), Data().train.images));
}

TEST(FashionMnistTest, ZeroValidationKeepsEveryTrainingImage) {
  FashionMnistOptions options;
  options.validation_size = 0;
  absl::StatusOr<FashionMnist> data = LoadFashionMnist(options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 60000);
  EXPECT_EQ(data->validation.size(), 0);
}

TEST(FashionMnistTest, RejectsBadValidationSize) {
  for (int64_t size : {int64_t{-1}, int64_t{60000}}) {
    FashionMnistOptions options;
    options.validation_size = size;
    EXPECT_EQ(LoadFashionMnist(options).status().code(), absl::StatusCode::kInvalidArgument)
        << size;
  }
}

TEST(FashionMnistTest, MissingFolderIsNotFoundWithAHelpfulMessage) {
  FashionMnistOptions options;
  options.data_dir = TempDir() + "/no-such-folder";
  const absl::Status status = LoadFashionMnist(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find(options.data_dir), std::string::npos) << status;
  EXPECT_NE(status.message().find("dataset-fashion-mnist"), std::string::npos) << status;
}

// A 2x3 unsigned-byte IDX file.
std::string SmallIdx() {
  return std::string("\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03", 12) +
         std::string("\x01\x02\x03\x04\x05\xff", 6);
}

void WritePlain(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

void ExpectSmallIdx(const absl::StatusOr<at::Tensor>& t) {
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t->scalar_type(), at::kByte);
  EXPECT_EQ(t->sum().item<int64_t>(), 1 + 2 + 3 + 4 + 5 + 255);
  EXPECT_EQ((*t)[1][2].item<int64_t>(), 255);
}

TEST(ReadIdxFileTest, ReadsPlainFiles) {
  const std::string path = TempDir() + "/plain-idx";
  WritePlain(path, SmallIdx());
  ExpectSmallIdx(ReadIdxFile(path));
}

TEST(ReadIdxFileTest, FallsBackToGzippedFiles) {
  const std::string path = TempDir() + "/zipped-idx";
  WriteGzip(path + ".gz", SmallIdx());
  ExpectSmallIdx(ReadIdxFile(path));
}

TEST(ReadIdxFileTest, RejectsBadMagicAndTruncation) {
  const std::string path = TempDir() + "/bad-idx";
  std::string bad = SmallIdx();
  bad[2] = 0x0d;  // float32 data: not supported.
  WritePlain(path, bad);
  EXPECT_EQ(ReadIdxFile(path).status().code(), absl::StatusCode::kDataLoss);

  WritePlain(path, SmallIdx().substr(0, 15));
  const absl::Status status = ReadIdxFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("truncated"), std::string::npos) << status;

  EXPECT_EQ(ReadIdxFile(TempDir() + "/absent").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace autolrs::examples
