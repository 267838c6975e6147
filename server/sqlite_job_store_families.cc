// SqliteJobStore's family records (sqlite_schema.h's `families` table, one
// checksummed row per (tenant, name), family_records.h): writes go through
// the store's group-committed queue, reads through its reader connection.
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "server/family_records.h"
#include "server/sqlite_job_store.h"
#include "server/sqlite_util.h"
#include "server/stored_job_codec.h"

namespace autolrs::server {
namespace {

// Inserts version 1 or replaces version - 1; on the writer's connection,
// inside its transaction, so the version check and the write are atomic.
absl::Status WriteFamily(sqlite3* db, const FamilyState& state) {
  const std::string& tenant = state.family().tenant();
  const std::string& name = state.family().name();
  const std::string record = EncodeFamily(state);
  if (state.version() == 1) {
    Statement ins(db,
                  "INSERT INTO families (tenant, name, version, record, crc) "
                  "VALUES (?1, ?2, 1, ?3, ?4);");
    if (!ins.ok()) return SqlError(db, "insert family");
    ins.Bind(1, tenant);
    ins.Bind(2, name);
    ins.BindBlob(3, record);
    ins.Bind(4, int64_t{Crc32c(record)});
    const int rc = ins.Step();
    if (rc == SQLITE_CONSTRAINT) return FamilyExists(tenant, name);
    if (rc != SQLITE_DONE) return SqlError(db, "insert family");
    return absl::OkStatus();
  }
  {
    Statement q(db, "SELECT version FROM families WHERE tenant = ?1 AND name = ?2;");
    if (!q.ok()) return SqlError(db, "put family");
    q.Bind(1, tenant);
    q.Bind(2, name);
    const int rc = q.Step();
    if (rc == SQLITE_DONE) return NoFamily(tenant, name);
    if (rc != SQLITE_ROW) return SqlError(db, "put family");
    if (q.ColumnInt(0) != state.version() - 1) {
      return FamilyVersionMismatch(tenant, name, q.ColumnInt(0), state.version());
    }
  }
  Statement upd(db,
                "UPDATE families SET version = ?3, record = ?4, crc = ?5 "
                "WHERE tenant = ?1 AND name = ?2;");
  if (!upd.ok()) return SqlError(db, "put family");
  upd.Bind(1, tenant);
  upd.Bind(2, name);
  upd.Bind(3, state.version());
  upd.BindBlob(4, record);
  upd.Bind(5, int64_t{Crc32c(record)});
  if (upd.Step() != SQLITE_DONE) return SqlError(db, "put family");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FamilyState> SqliteJobStore::GetFamily(absl::string_view tenant,
                                                      absl::string_view name) {
  absl::StatusOr<FamilyState> family = NoFamily(tenant, name);
  absl::Status read = ReadInSnapshot([&](sqlite3* db) -> absl::Status {
    Statement q(db, "SELECT version, record, crc FROM families WHERE tenant = ?1 AND name = ?2;");
    if (!q.ok()) return SqlError(db, "get family");
    q.Bind(1, tenant);
    q.Bind(2, name);
    const int rc = q.Step();
    if (rc == SQLITE_DONE) return absl::OkStatus();  // Stays NOT_FOUND.
    if (rc != SQLITE_ROW) return SqlError(db, "get family");
    family = DecodeStoredFamily(tenant, name, q.ColumnInt(0), q.ColumnBlob(1), q.ColumnInt(2));
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  return family;
}

absl::Status SqliteJobStore::PutFamily(const FamilyState& state) {
  if (absl::Status s = CheckFamilyWrite(state); !s.ok()) return s;
  return SubmitApply([&](sqlite3* db) { return WriteFamily(db, state); });
}

absl::Status SqliteJobStore::DeleteFamily(absl::string_view tenant, absl::string_view name) {
  return SubmitApply([&](sqlite3* db) -> absl::Status {
    Statement del(db, "DELETE FROM families WHERE tenant = ?1 AND name = ?2;");
    if (!del.ok()) return SqlError(db, "delete family");
    del.Bind(1, tenant);
    del.Bind(2, name);
    if (del.Step() != SQLITE_DONE) return SqlError(db, "delete family");
    return sqlite3_changes(db) == 0 ? NoFamily(tenant, name) : absl::OkStatus();
  });
}

absl::StatusOr<std::vector<FamilyState>> SqliteJobStore::ListFamilies(absl::string_view tenant,
                                                                      absl::string_view after,
                                                                      int limit) {
  std::vector<FamilyState> page;
  absl::Status read = ReadInSnapshot([&](sqlite3* db) -> absl::Status {
    Statement q(db,
                "SELECT name, version, record, crc FROM families "
                "WHERE tenant = ?1 AND name > ?2 ORDER BY name LIMIT ?3;");
    if (!q.ok()) return SqlError(db, "list families");
    q.Bind(1, tenant);
    q.Bind(2, after);
    q.Bind(3, static_cast<int64_t>(limit));
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      const std::string name = q.ColumnText(0);
      absl::StatusOr<FamilyState> family =
          DecodeStoredFamily(tenant, name, q.ColumnInt(1), q.ColumnBlob(2), q.ColumnInt(3));
      // A corrupt record is listed by name only; GetFamily says DATA_LOSS.
      page.push_back(family.ok() ? *std::move(family) : FamilyPlaceholder(tenant, name));
    }
    if (rc != SQLITE_DONE) return SqlError(db, "list families");
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  return page;
}

}  // namespace autolrs::server
