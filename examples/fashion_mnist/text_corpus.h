#ifndef AUTOLRS_EXAMPLES_FASHION_MNIST_TEXT_CORPUS_H_
#define AUTOLRS_EXAMPLES_FASHION_MNIST_TEXT_CORPUS_H_

// A byte-level language-modelling data set from text files a Debian system
// ships (by default the license texts of base-files, /usr/share/common-licenses,
// about 0.24 MB), in the same train/validation/test Split layout as
// Fashion-MNIST, so the Trainer runs it unchanged with the "gru" model.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "examples/fashion_mnist/fashion_mnist.h"

namespace autolrs::examples {

inline constexpr char kDefaultTextDir[] = "/usr/share/common-licenses";

struct TextCorpusOptions {
  // Every regular file directly in this folder (symbolic links skipped, so
  // GPL -> GPL-3 is read once), in byte order of the file names. Empty means
  // kDefaultTextDir.
  std::string dir;
  // Bytes of context per example (T).
  int64_t context = 32;
};

// Cuts `text` into consecutive non-overlapping windows of context + 1 bytes
// (a shorter tail is dropped). Window i goes to the validation split when
// i % 10 == 8, to the test split when i % 10 == 9, else to train: a
// deterministic 80/10/10 split interleaved through every file. Each example:
// `images` = int64 [T] bytes 0..T-1 of the window, `labels` = int64 [T]
// bytes 1..T (the next byte at every position). Requires context >= 1.
FashionMnist SplitText(const std::string& text, int64_t context);

// Reads the folder and splits it with SplitText. NOT_FOUND when the folder
// has no regular file, INVALID_ARGUMENT for context < 1 or a corpus with
// fewer than 10 windows.
absl::StatusOr<FashionMnist> LoadTextCorpus(const TextCorpusOptions& options = {});

}  // namespace autolrs::examples

#endif  // AUTOLRS_EXAMPLES_FASHION_MNIST_TEXT_CORPUS_H_
