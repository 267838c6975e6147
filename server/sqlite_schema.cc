#include "server/sqlite_schema.h"

#include <sqlite3.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "server/sqlite_util.h"
#include "server/stored_job_codec.h"

namespace autolrs::server {
namespace {

absl::Status CreateVersion1(sqlite3* db) {
  return Exec(db, R"sql(
    CREATE TABLE jobs (
      job_id TEXT PRIMARY KEY NOT NULL,
      request_id TEXT UNIQUE,
      version INTEGER NOT NULL,
      state INTEGER NOT NULL,
      update_time_ms INTEGER NOT NULL,
      blob BLOB NOT NULL
    );
  )sql");
}

// Splits every whole-state blob into a head and stage records.
absl::Status SplitStages(sqlite3* db) {
  if (absl::Status s = Exec(db, R"sql(
        CREATE TABLE jobs_v2 (
          job_id TEXT PRIMARY KEY NOT NULL,
          request_id TEXT UNIQUE,
          version INTEGER NOT NULL,
          state INTEGER NOT NULL,
          update_time_ms INTEGER NOT NULL,
          stage_count INTEGER NOT NULL,
          head BLOB NOT NULL,
          head_crc INTEGER NOT NULL
        );
        CREATE TABLE stages (
          job_id TEXT NOT NULL,
          stage_index INTEGER NOT NULL,
          blob BLOB NOT NULL,
          crc INTEGER NOT NULL,
          PRIMARY KEY (job_id, stage_index)
        ) WITHOUT ROWID;
        CREATE TABLE store_meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER);
      )sql");
      !s.ok()) {
    return s;
  }
  Statement old(db, "SELECT job_id, request_id, version, state, update_time_ms, blob FROM jobs;");
  Statement head(db,
                 "INSERT INTO jobs_v2 (job_id, request_id, version, state, update_time_ms, "
                 "stage_count, head, head_crc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8);");
  Statement stage(db,
                  "INSERT INTO stages (job_id, stage_index, blob, crc) VALUES (?1, ?2, ?3, ?4);");
  if (!old.ok() || !head.ok() || !stage.ok()) return SqlError(db, "migrating to schema 2");
  int rc;
  while ((rc = old.Step()) == SQLITE_ROW) {
    const std::string job_id = old.ColumnText(0);
    const absl::string_view blob = old.ColumnBlob(5);
    JobState state;
    std::string head_bytes(blob);
    int64_t stage_count = 0;
    if (state.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
      head_bytes = EncodeHead(state);
      stage_count = state.schedule().stages_size();
      for (int i = 0; i < stage_count; ++i) {
        const std::string bytes = EncodeStage(state.schedule().stages(i));
        sqlite3_reset(stage.get());
        stage.Bind(1, job_id);
        stage.Bind(2, int64_t{i});
        stage.BindBlob(3, bytes);
        stage.Bind(4, int64_t{Crc32c(bytes)});
        if (stage.Step() != SQLITE_DONE) return SqlError(db, "migrating a stage to schema 2");
      }
    }
    sqlite3_reset(head.get());
    head.Bind(1, job_id);
    if (sqlite3_column_type(old.get(), 1) == SQLITE_NULL) {
      sqlite3_bind_null(head.get(), 2);
    } else {
      head.Bind(2, old.ColumnText(1));
    }
    head.Bind(3, old.ColumnInt(2));
    head.Bind(4, old.ColumnInt(3));
    head.Bind(5, old.ColumnInt(4));
    head.Bind(6, stage_count);
    head.BindBlob(7, head_bytes);
    head.Bind(8, int64_t{Crc32c(head_bytes)});
    if (head.Step() != SQLITE_DONE) return SqlError(db, "migrating a job to schema 2");
  }
  if (rc != SQLITE_DONE) return SqlError(db, "reading schema-1 jobs");
  return Exec(db, "DROP TABLE jobs; ALTER TABLE jobs_v2 RENAME TO jobs;");
}

// Family records (JobStore::GetFamily), one per (tenant, name); names sort
// by their bytes (BINARY collation), as ListFamilies pages.
absl::Status AddFamilies(sqlite3* db) {
  return Exec(db, R"sql(
    CREATE TABLE families (
      tenant TEXT NOT NULL,
      name TEXT NOT NULL,
      version INTEGER NOT NULL,
      record BLOB NOT NULL,
      crc INTEGER NOT NULL,
      PRIMARY KEY (tenant, name)
    ) WITHOUT ROWID;
  )sql");
}

// kMigrations[v] takes the schema from version v to v + 1.
absl::Status (*const kMigrations[])(sqlite3*) = {CreateVersion1, SplitStages, AddFamilies};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSqliteSchemaVersion);

}  // namespace

absl::Status MigrateSqliteSchema(sqlite3* db) {
  int version = 0;
  {
    Statement q(db, "PRAGMA user_version;");
    if (!q.ok() || q.Step() != SQLITE_ROW) return SqlError(db, "reading user_version");
    version = static_cast<int>(q.ColumnInt(0));
  }
  if (version > kSqliteSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("sqlite: the database has schema version ",
                                                      version, ", newer than this server's ",
                                                      kSqliteSchemaVersion));
  }
  for (; version < kSqliteSchemaVersion; ++version) {
    if (absl::Status s = Exec(db, "BEGIN IMMEDIATE;"); !s.ok()) return s;
    absl::Status s = kMigrations[version](db);
    if (s.ok()) s = Exec(db, absl::StrCat("PRAGMA user_version = ", version + 1, ";").c_str());
    if (!s.ok()) {
      Exec(db, "ROLLBACK;").IgnoreError();
      return s;
    }
    if (absl::Status c = Exec(db, "COMMIT;"); !c.ok()) return c;
  }
  return absl::OkStatus();
}

absl::Status CheckSqliteIntegrity(sqlite3* db) {
  Statement q(db, "PRAGMA quick_check(5);");
  if (!q.ok()) return SqlError(db, "integrity check");
  std::string problems;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    const std::string line = q.ColumnText(0);
    if (line != "ok") absl::StrAppend(&problems, problems.empty() ? "" : "; ", line);
  }
  if (rc != SQLITE_DONE) return SqlError(db, "integrity check");
  if (!problems.empty()) {
    return absl::DataLossError(
        absl::StrCat("sqlite: the database fails its integrity check: ", problems));
  }
  return absl::OkStatus();
}

}  // namespace autolrs::server
