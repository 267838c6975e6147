#ifndef AUTOLRS_SERVER_SQLITE_UTIL_H_
#define AUTOLRS_SERVER_SQLITE_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace autolrs::server {

// The status for SQLite result code `rc` (primary or extended): DATA_LOSS for
// a corrupt file (SQLITE_CORRUPT, SQLITE_NOTADB); UNAVAILABLE, which callers
// may retry, for the environment's failures (disk full, I/O errors, busy or
// locked, cannot open, read-only, out of memory); INTERNAL otherwise (a bug:
// bad SQL, misuse).
absl::Status SqliteStatus(int rc, absl::string_view what, absl::string_view detail);

// SqliteStatus of `db`'s last error.
absl::Status SqlError(sqlite3* db, absl::string_view what);

// Runs SQL without results.
absl::Status Exec(sqlite3* db, const char* sql);

// A prepared statement, finalized on scope exit. Not thread-safe; the
// connection must outlive it.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Whether preparing succeeded; otherwise SqlError(db, ...) says why.
  bool ok() const { return rc_ == 0; }
  sqlite3_stmt* get() { return stmt_; }
  // Parameters are 1-based; values are copied.
  void Bind(int i, absl::string_view text);
  void BindBlob(int i, absl::string_view blob);
  void Bind(int i, int64_t value);
  // sqlite3_step's result code.
  int Step();
  int64_t ColumnInt(int i);
  // Valid until the next Step().
  absl::string_view ColumnBlob(int i);
  // Empty for NULL.
  std::string ColumnText(int i);

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SQLITE_UTIL_H_
