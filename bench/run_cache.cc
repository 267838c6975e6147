#include "bench/run_cache.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace autolrs::bench {

absl::StatusOr<std::string> FileFingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  uint64_t hash = 1469598103934665603ull;
  uint64_t size = 0;
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    const std::streamsize n = in.gcount();
    for (std::streamsize i = 0; i < n; ++i) {
      hash ^= static_cast<unsigned char>(buffer[i]);
      hash *= 1099511628211ull;
    }
    size += static_cast<uint64_t>(n);
  }
  return absl::StrFormat("%016x-%d", hash, size);
}

std::string RunInputs(const std::vector<std::string>& args, const std::string& train_fingerprint,
                      const std::string& server_fingerprint) {
  std::string text;
  for (const std::string& a : args) absl::StrAppend(&text, a, "\n");
  absl::StrAppend(&text, "train ", train_fingerprint, "\n");
  if (!server_fingerprint.empty()) absl::StrAppend(&text, "server ", server_fingerprint, "\n");
  return text;
}

namespace {

// The inputs text without its binary fingerprint lines.
std::string ArgumentsOnly(const std::string& inputs) {
  std::string out;
  size_t begin = 0;
  while (begin < inputs.size()) {
    size_t end = inputs.find('\n', begin);
    if (end == std::string::npos) end = inputs.size();
    const std::string line = inputs.substr(begin, end - begin);
    if (line.rfind("train ", 0) != 0 && line.rfind("server ", 0) != 0) out += line + "\n";
    begin = end + 1;
  }
  return out;
}

}  // namespace

bool CanReuse(const std::string& dir, const std::string& inputs, bool ignore_binaries) {
  std::ifstream in(dir + "/inputs", std::ios::binary);
  if (!in) return false;
  std::stringstream s;
  s << in.rdbuf();
  if (ignore_binaries) return ArgumentsOnly(s.str()) == ArgumentsOnly(inputs);
  return s.str() == inputs;
}

absl::Status Invalidate(const std::string& dir) {
  const std::string path = dir + "/inputs";
  if (std::remove(path.c_str()) != 0) {
    std::ifstream still(path);
    if (still) return absl::InternalError(absl::StrCat("cannot remove ", path));
  }
  return absl::OkStatus();
}

absl::Status MarkDone(const std::string& dir, const std::string& inputs) {
  const std::string path = dir + "/inputs";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << inputs;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp));
  }
  return absl::OkStatus();
}

}  // namespace autolrs::bench
