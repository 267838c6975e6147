#ifndef AUTOLRS_SERVER_SQLITE_SCHEMA_H_
#define AUTOLRS_SERVER_SQLITE_SCHEMA_H_

#include "absl/status/status.h"

struct sqlite3;

namespace autolrs::server {

// The schema SqliteJobStore writes (PRAGMA user_version):
//   1: jobs(job_id, request_id, version, state, update_time_ms, blob), blob
//      the whole serialized JobState.
//   2: jobs(job_id PRIMARY KEY, request_id UNIQUE, version, state,
//      update_time_ms, stage_count, head, head_crc) and
//      stages(job_id, stage_index, blob, crc) WITHOUT ROWID, in the format of
//      stored_job_codec.h; store_meta(key, value) for the health probe.
//   3: adds families(tenant, name, version, record, crc; PRIMARY KEY
//      (tenant, name)) WITHOUT ROWID, in the format of family_records.h.
inline constexpr int kSqliteSchemaVersion = 3;

// Takes `db` from its schema version to kSqliteSchemaVersion, one
// transaction per step. A version-1 job whose blob does not parse is kept
// as a head record that DecodeStoredJob reports as DATA_LOSS.
// FAILED_PRECONDITION for a database from a newer server; see SqliteStatus
// for the rest.
absl::Status MigrateSqliteSchema(sqlite3* db);

// PRAGMA quick_check: DATA_LOSS naming the first problems when the file's
// structure is damaged.
absl::Status CheckSqliteIntegrity(sqlite3* db);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SQLITE_SCHEMA_H_
