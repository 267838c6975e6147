#ifndef AUTOLRS_SERVER_TOKEN_TABLE_H_
#define AUTOLRS_SERVER_TOKEN_TABLE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/caller.h"

namespace autolrs::server {

// Bearer tokens and the callers they name.
//
// A token file (--token_file) has one token per line:
//
//   <token> <tenant> [admin]
//
// with blank lines and lines starting with '#' ignored. A token is 16 to
// 256 printable ASCII characters without spaces (e.g. `openssl rand -hex
// 32`) and appears once; a tenant is 1 to 63 characters of
// [A-Za-z0-9._-]; "admin" makes the token see every tenant's jobs. Several
// tokens may name one tenant (rotation: add the new, then drop the old).
//
// Tokens are secrets: Find() compares them in constant time, and no error
// message quotes them.
//
// Immutable, hence thread-safe.
class TokenTable {
 public:
  // INVALID_ARGUMENT naming `source` and the line that is wrong.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text, absl::string_view source);
  // Parse() of a file's contents; INVALID_ARGUMENT when it cannot be read.
  static absl::StatusOr<TokenTable> ReadFile(const std::string& path);
  // The legacy single token (--auth_token_file): the admin of tenant "",
  // which sees every job, as before tenants existed. Any non-empty token.
  static TokenTable Single(std::string token);

  // The caller `token` names, or nullopt. Every entry is compared, each in
  // a time that depends only on token.size(), never on where they differ.
  std::optional<Caller> Find(absl::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string token;
    Caller caller;
  };
  TokenTable() = default;
  std::vector<Entry> entries_;
};

// The tokens the server accepts now; Replace() swaps them while serving
// (SIGHUP). Thread-safe.
class Authenticator {
 public:
  // nullopt: no authentication, every call is Caller::Unrestricted().
  explicit Authenticator(std::optional<TokenTable> tokens);

  // The caller of a call whose "authorization" metadata is `header` (nullopt
  // when absent): UNAUTHENTICATED unless it is "Bearer <token>" with a
  // known token.
  absl::StatusOr<Caller> Authenticate(std::optional<absl::string_view> header) const;

  // Whether calls need a token.
  bool enabled() const { return enabled_; }

  // Takes effect for the calls that start afterwards. Only when enabled().
  void Replace(TokenTable tokens);

 private:
  const bool enabled_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> tokens_ ABSL_GUARDED_BY(mu_);
};

// Whether a == b, in a time that depends only on a.size() (for secrets).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_TOKEN_TABLE_H_
