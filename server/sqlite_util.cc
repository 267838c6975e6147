#include "server/sqlite_util.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace autolrs::server {

absl::Status SqliteStatus(int rc, absl::string_view what, absl::string_view detail) {
  const std::string message = absl::StrCat("sqlite: ", what, ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status SqlError(sqlite3* db, absl::string_view what) {
  return SqliteStatus(sqlite3_extended_errcode(db), what, sqlite3_errmsg(db));
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  absl::Status s =
      SqliteStatus(sqlite3_extended_errcode(db), sql, error ? error : sqlite3_errstr(rc));
  sqlite3_free(error);
  return s;
}

Statement::Statement(sqlite3* db, const char* sql) {
  rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::Bind(int i, absl::string_view text) {
  sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void Statement::BindBlob(int i, absl::string_view blob) {
  sqlite3_bind_blob(stmt_, i, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
}

void Statement::Bind(int i, int64_t value) { sqlite3_bind_int64(stmt_, i, value); }

int Statement::Step() { return stmt_ == nullptr ? SQLITE_MISUSE : sqlite3_step(stmt_); }

int64_t Statement::ColumnInt(int i) { return sqlite3_column_int64(stmt_, i); }

absl::string_view Statement::ColumnBlob(int i) {
  const void* data = sqlite3_column_blob(stmt_, i);
  const int size = sqlite3_column_bytes(stmt_, i);
  return data == nullptr ? absl::string_view()
                         : absl::string_view(static_cast<const char*>(data), size);
}

std::string Statement::ColumnText(int i) {
  const unsigned char* text = sqlite3_column_text(stmt_, i);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}

}  // namespace autolrs::server
