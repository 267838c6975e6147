#include "examples/fashion_mnist/text_corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"

namespace autolrs::examples {

FashionMnist SplitText(const std::string& text, int64_t context) {
  const int64_t window = context + 1;
  const int64_t n = static_cast<int64_t>(text.size()) / window;
  std::vector<int64_t> ids[3];  // train, validation, test: window indices
  for (int64_t i = 0; i < n; ++i) ids[i % 10 == 8 ? 1 : i % 10 == 9 ? 2 : 0].push_back(i);
  auto make = [&](const std::vector<int64_t>& windows) {
    const int64_t m = static_cast<int64_t>(windows.size());
    at::Tensor bytes = at::empty({m, window}, at::kLong);
    int64_t* out = bytes.data_ptr<int64_t>();
    for (int64_t j = 0; j < m; ++j) {
      for (int64_t k = 0; k < window; ++k) {
        out[j * window + k] = static_cast<unsigned char>(text[windows[j] * window + k]);
      }
    }
    Split split;
    split.images = bytes.narrow(1, 0, context).contiguous();
    split.labels = bytes.narrow(1, 1, context).contiguous();
    return split;
  };
  return FashionMnist{make(ids[0]), make(ids[1]), make(ids[2])};
}

absl::StatusOr<FashionMnist> LoadTextCorpus(const TextCorpusOptions& options) {
  namespace fs = std::filesystem;
  if (options.context < 1) {
    return absl::InvalidArgumentError(absl::StrCat("context must be >= 1, got ", options.context));
  }
  const std::string dir = options.dir.empty() ? kDefaultTextDir : options.dir;
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_symlink() || !it->is_regular_file()) continue;
    files.push_back(it->path().string());
  }
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat("no text files in '", dir,
                                            "' (the default is base-files' license texts)"));
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    text += s.str();
  }
  if (static_cast<int64_t>(text.size()) / (options.context + 1) < 10) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", dir, "' holds ", text.size(), " bytes: fewer than 10 windows"));
  }
  return SplitText(text, options.context);
}

}  // namespace autolrs::examples
