#include "bench/run_cache.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "bench/bench_config.h"

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
  for (const char* name : {"/inputs", "/db"}) {
    const std::string path = dir + name;
    if (std::remove(path.c_str()) != 0) {
      std::ifstream still(path);
      if (still) return absl::InternalError(absl::StrCat("cannot remove ", path));
    }
  }
  return absl::OkStatus();
}

namespace {

// Writes `path` through a temporary file and a rename.
absl::Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp));
  }
  return absl::OkStatus();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t Fnv1a(const std::string& text, uint64_t hash = 1469598103934665603ull) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

std::vector<std::string> WithFamilyName(const std::vector<std::string>& args,
                                        const std::string& name) {
  std::vector<std::string> out;
  out.reserve(args.size());
  for (const std::string& a : args) {
    out.push_back(absl::StrReplaceAll(a, {{kFamilyPlaceholder, name}}));
  }
  return out;
}

std::string FamilyKey(const std::vector<std::string>& run_inputs) {
  uint64_t hash = 1469598103934665603ull;
  for (const std::string& inputs : run_inputs) {
    // The length first: run boundaries matter.
    hash = Fnv1a(absl::StrCat(inputs.size(), ":", inputs), hash);
  }
  return absl::StrFormat("%016x", hash);
}

absl::StatusOr<std::string> FamilyName(const std::string& slot, const std::string& key,
                                       int generation) {
  const std::string name = absl::StrCat(slot, "-", key.substr(0, 8), "-g", generation);
  bool valid = !slot.empty() && name.size() <= 63;
  for (char c : name) {
    valid &= absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_';
  }
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("family name '", name, "': expected 1-63 of [a-z0-9-_]"));
  }
  return name;
}

FamilyState ReadFamilyState(const std::string& path) {
  FamilyState state;
  std::istringstream in(ReadAll(path));
  std::string key, value;
  FamilyState read;
  while (in >> key >> value) {
    if (key == "generation") {
      if (!absl::SimpleAtoi(value, &read.generation)) return state;
    } else if (key == "name") {
      read.name = value;
    }
  }
  if (read.generation <= 0 || read.name.empty()) return state;
  return read;
}

absl::Status WriteFamilyState(const std::string& path, const FamilyState& state) {
  return WriteAtomically(
      path, absl::StrCat("generation ", state.generation, "\nname ", state.name, "\n"));
}

bool CanReuseFamily(const std::vector<std::string>& dirs, const std::vector<std::string>& inputs) {
  if (dirs.empty() || dirs.size() != inputs.size()) return false;
  const std::string token = ReadDbToken(dirs[0]);
  if (token.empty()) return false;
  for (size_t r = 0; r < dirs.size(); ++r) {
    if (!CanReuse(dirs[r], inputs[r]) || ReadDbToken(dirs[r]) != token) return false;
  }
  return true;
}

absl::Status WriteDbToken(const std::string& dir, const std::string& token) {
  return WriteAtomically(dir + "/db", token + "\n");
}

std::string ReadDbToken(const std::string& dir) {
  return std::string(absl::StripAsciiWhitespace(ReadAll(dir + "/db")));
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
