#ifndef AUTOLRS_SERVER_POSTGRES_SCHEMA_H_
#define AUTOLRS_SERVER_POSTGRES_SCHEMA_H_

#include "absl/status/status.h"
#include "server/postgres_connection.h"

namespace autolrs::server {

// The schema PostgresJobStore writes, recorded in
// autolrs_meta(key = 'schema_version'):
//   1: autolrs_jobs(job_id PRIMARY KEY, request_id UNIQUE, version, state,
//      update_time_ms, stage_count, head, head_crc) and
//      autolrs_stages(job_id REFERENCES autolrs_jobs ON DELETE CASCADE,
//      stage_index, blob, crc; PRIMARY KEY (job_id, stage_index)), in the
//      format of stored_job_codec.h (the same records as SQLite's schema 2).
//   2: adds autolrs_families(tenant, name, version, record, crc; PRIMARY KEY
//      (tenant, name)), tenant and name in the "C" collation so names page
//      in byte order whatever the database's locale (family_records.h; the
//      same records as SQLite's schema 3).
// Tables are prefixed so that the store can share a database with others.
inline constexpr int kPostgresSchemaVersion = 2;

// Takes the database from its schema version to kPostgresSchemaVersion, one
// transaction per step, holding an advisory lock so that replicas starting
// together migrate once. FAILED_PRECONDITION for a database from a newer
// server; see PgStatus for the rest.
absl::Status MigratePostgresSchema(PgConnection* conn);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_POSTGRES_SCHEMA_H_
