#include "examples/fashion_mnist/text_corpus.h"

#include <string>

#include <ATen/ATen.h>

#include "gtest/gtest.h"

namespace autolrs::examples {
namespace {

TEST(SplitTextTest, WindowsGoToSplitsByIndexAndLabelsAreTheNextByte) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += static_cast<char>('A' + i % 26);
  text += "xyz";  // A tail shorter than a window is dropped.
  const FashionMnist d = SplitText(text, /*context=*/4);  // 20 windows of 5
  EXPECT_EQ(d.train.size(), 16);
  EXPECT_EQ(d.validation.size(), 2);  // windows 8 and 18
  EXPECT_EQ(d.test.size(), 2);        // windows 9 and 19
  EXPECT_EQ(d.train.images.sizes(), (at::IntArrayRef{16, 4}));
  // Validation window 8 starts at byte 40.
  EXPECT_EQ(d.validation.images[0][0].item<int64_t>(), 'A' + 40 % 26);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(d.validation.labels[0][k].item<int64_t>(), 'A' + (41 + k) % 26);
  }
  // Train's third example is window 2 (bytes 10..14).
  EXPECT_EQ(d.train.images[2][0].item<int64_t>(), 'A' + 10);
  EXPECT_EQ(d.train.labels[2][3].item<int64_t>(), 'A' + 14);
}

TEST(LoadTextCorpusTest, LoadsTheLicenseTexts) {
  absl::StatusOr<FashionMnist> d = LoadTextCorpus({});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_GT(d->train.size(), 2000);
  EXPECT_GT(d->validation.size(), 200);
  EXPECT_NEAR(static_cast<double>(d->test.size()), static_cast<double>(d->validation.size()), 1);
  EXPECT_EQ(d->train.labels.dtype(), at::kLong);
}

TEST(LoadTextCorpusTest, Errors) {
  EXPECT_EQ(LoadTextCorpus({"/nonexistent-dir", 64}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadTextCorpus({"", 0}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autolrs::examples
