#include "server/token_table.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace autolrs::server {
namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 256;
constexpr size_t kMaxTenantLength = 63;

bool ValidTenant(absl::string_view tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenantLength) return false;
  for (char c : tenant) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

bool ValidToken(absl::string_view token) {
  if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) return false;
  for (char c : token) {
    if (c <= 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Every byte of `a` is compared (against `b` cycled, or against itself
  // when `b` is empty), so the time depends on a's length only, never on
  // where the first difference is.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char other = b.empty() ? ~static_cast<unsigned char>(a[i]) : b[i % b.size()];
    diff |= static_cast<unsigned char>(a[i]) ^ other;
  }
  return diff == 0 && a.size() == b.size();
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text, absl::string_view source) {
  TokenTable table;
  absl::flat_hash_set<std::string> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(source, " line ", line_number, ": ", what));
    };
    if (fields.size() < 2 || fields.size() > 3) {
      return error("expected '<token> <tenant> [admin]'");
    }
    if (!ValidToken(fields[0])) {
      return error(
          absl::StrCat("the token must be ", kMinTokenLength, " to ", kMaxTokenLength,
                       " printable characters without spaces (e.g. openssl rand -hex 32)"));
    }
    if (!ValidTenant(fields[1])) {
      return error("the tenant must be 1 to 63 characters of [A-Za-z0-9._-]");
    }
    if (fields.size() == 3 && fields[2] != "admin") {
      return error("the third field may only be 'admin'");
    }
    if (!seen.insert(std::string(fields[0])).second) {
      return error("this token appears on an earlier line too");
    }
    table.entries_.push_back(
        Entry{std::string(fields[0]), Caller{std::string(fields[1]), fields.size() == 3}});
  }
  if (table.entries_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, " holds no token"));
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("--token_file '", path, "' cannot be read"));
  }
  return Parse(contents.str(), absl::StrCat("--token_file '", path, "'"));
}

TokenTable TokenTable::Single(std::string token) {
  TokenTable table;
  table.entries_.push_back(Entry{std::move(token), Caller::Unrestricted()});
  return table;
}

std::optional<Caller> TokenTable::Find(absl::string_view token) const {
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    // No early exit: the time does not say which entry matched.
    const bool match = ConstantTimeEquals(token, entry.token);
    found = match ? &entry : found;
  }
  if (found == nullptr) return std::nullopt;
  return found->caller;
}

Authenticator::Authenticator(std::optional<TokenTable> tokens) : enabled_(tokens.has_value()) {
  if (tokens.has_value()) tokens_ = std::make_shared<const TokenTable>(*std::move(tokens));
}

absl::StatusOr<Caller> Authenticator::Authenticate(std::optional<absl::string_view> header) const {
  if (!enabled_) return Caller::Unrestricted();
  std::shared_ptr<const TokenTable> tokens;
  {
    absl::MutexLock lock(&mu_);
    tokens = tokens_;
  }
  const absl::string_view kPrefix = "Bearer ";
  std::optional<Caller> caller;
  if (header.has_value() && absl::StartsWith(*header, kPrefix)) {
    caller = tokens->Find(header->substr(kPrefix.size()));
  }
  if (!caller.has_value()) {
    return absl::UnauthenticatedError("missing or wrong 'authorization: Bearer <token>' metadata");
  }
  return *std::move(caller);
}

void Authenticator::Replace(TokenTable tokens) {
  if (!enabled_) return;
  auto replacement = std::make_shared<const TokenTable>(std::move(tokens));
  absl::MutexLock lock(&mu_);
  tokens_ = std::move(replacement);
}

}  // namespace autolrs::server
