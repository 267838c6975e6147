#include "server/postgres_schema.h"

#include "absl/strings/str_cat.h"
#include "server/postgres_connection.h"

namespace autolrs::server {
namespace {

// Any constant shared by every server: the key of the migration lock.
constexpr char kLockSql[] = "SELECT pg_advisory_xact_lock(7303746571)";

absl::Status CreateVersion1(PgConnection* conn) {
  for (const char* sql : {
           "CREATE TABLE autolrs_jobs ("
           "  job_id TEXT PRIMARY KEY,"
           "  request_id TEXT UNIQUE,"
           "  version BIGINT NOT NULL,"
           "  state INTEGER NOT NULL,"
           "  update_time_ms BIGINT NOT NULL,"
           "  stage_count BIGINT NOT NULL,"
           "  head BYTEA NOT NULL,"
           "  head_crc BIGINT NOT NULL)",
           "CREATE TABLE autolrs_stages ("
           "  job_id TEXT NOT NULL REFERENCES autolrs_jobs ON DELETE CASCADE,"
           "  stage_index BIGINT NOT NULL,"
           "  blob BYTEA NOT NULL,"
           "  crc BIGINT NOT NULL,"
           "  PRIMARY KEY (job_id, stage_index))",
       }) {
    if (absl::StatusOr<PgResult> r = PgExec(conn, "creating schema 1", sql); !r.ok()) {
      return r.status();
    }
  }
  return absl::OkStatus();
}

absl::Status AddFamilies(PgConnection* conn) {
  return PgExec(conn, "creating schema 2",
                "CREATE TABLE autolrs_families ("
                "  tenant TEXT COLLATE \"C\" NOT NULL,"
                "  name TEXT COLLATE \"C\" NOT NULL,"
                "  version BIGINT NOT NULL,"
                "  record BYTEA NOT NULL,"
                "  crc BIGINT NOT NULL,"
                "  PRIMARY KEY (tenant, name))")
      .status();
}

// kMigrations[v] takes the schema from version v to v + 1.
absl::Status (*const kMigrations[])(PgConnection*) = {CreateVersion1, AddFamilies};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kPostgresSchemaVersion);

// One migration step (or none, when the schema is current) in one
// transaction; sets `*done` when the schema is current.
absl::Status MigrateOneStep(PgConnection* conn, bool* done) {
  auto exec = [&](const char* sql, const std::vector<PgParam>& params = {}) {
    return PgExec(conn, "migrating the schema", sql, params);
  };
  for (const char* sql :
       {"BEGIN", kLockSql,
        "CREATE TABLE IF NOT EXISTS autolrs_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)"}) {
    if (absl::StatusOr<PgResult> r = exec(sql); !r.ok()) return r.status();
  }
  absl::StatusOr<PgResult> row =
      exec("SELECT value FROM autolrs_meta WHERE key = 'schema_version'");
  if (!row.ok()) return row.status();
  const int64_t version = row->rows() == 0 ? 0 : row->Int(0, 0);
  if (version > kPostgresSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("postgresql: the database has schema version ", version,
                     ", newer than this server's ", kPostgresSchemaVersion));
  }
  if (version < kPostgresSchemaVersion) {
    if (absl::Status s = kMigrations[version](conn); !s.ok()) return s;
    absl::StatusOr<PgResult> set = exec(
        "INSERT INTO autolrs_meta (key, value) VALUES ('schema_version', $1) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        {PgParam::Int(version + 1)});
    if (!set.ok()) return set.status();
  }
  *done = version + 1 >= kPostgresSchemaVersion;
  absl::StatusOr<PgResult> commit = exec("COMMIT");
  return commit.status();
}

}  // namespace

absl::Status MigratePostgresSchema(PgConnection* conn) {
  for (bool done = false; !done;) {
    absl::Status s = MigrateOneStep(conn, &done);
    if (!s.ok()) {
      PgExec(conn, "rollback", "ROLLBACK").IgnoreError();
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace autolrs::server
