// PostgresJobStore's family records (postgres_schema.h's autolrs_families,
// one checksummed row per (tenant, name), family_records.h).
#include <utility>

#include "server/family_records.h"
#include "server/postgres_job_store.h"
#include "server/stored_job_codec.h"

namespace autolrs::server {
namespace {

// PutFamily of version $3 > 1, one statement (its own transaction): locks
// the row, replaces it if its version is $3 - 1, and returns the locked
// version (no row: the family is gone), from which the caller tells whether
// it wrote. Concurrent writers are serialized by the row lock.
constexpr char kReplaceSql[] = R"sql(
WITH old AS (
  SELECT version FROM autolrs_families WHERE tenant = $1 AND name = $2 FOR UPDATE),
upd AS (
  UPDATE autolrs_families f SET version = $3, record = $4, crc = $5
  FROM old WHERE f.tenant = $1 AND f.name = $2 AND old.version = $3 - 1)
SELECT version FROM old)sql";

}  // namespace

absl::StatusOr<FamilyState> PostgresJobStore::GetFamily(absl::string_view tenant,
                                                        absl::string_view name) {
  absl::StatusOr<FamilyState> family = NoFamily(tenant, name);
  absl::Status s = WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    absl::StatusOr<PgResult> row =
        PgExec(conn, "get family",
               "SELECT version, record, crc FROM autolrs_families WHERE tenant = $1 AND name = $2",
               {PgParam::Text(tenant), PgParam::Text(name)});
    if (!row.ok()) return row.status();
    family = row->rows() == 0 ? NoFamily(tenant, name)
                              : DecodeStoredFamily(tenant, name, row->Int(0, 0), row->Bytes(0, 1),
                                                   row->Int(0, 2));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return family;
}

absl::Status PostgresJobStore::PutFamily(const FamilyState& state) {
  if (absl::Status s = CheckFamilyWrite(state); !s.ok()) return s;
  const std::string& tenant = state.family().tenant();
  const std::string& name = state.family().name();
  const std::string record = EncodeFamily(state);
  const std::vector<PgParam> params = {PgParam::Text(tenant), PgParam::Text(name),
                                       PgParam::Int(state.version()), PgParam::Bytes(record),
                                       PgParam::Int(Crc32c(record))};
  if (state.version() == 1) {
    return InTransaction("insert family", [&](PgConnection* conn) -> absl::Status {
      absl::StatusOr<PgResult> ins =
          PgExec(conn, "insert family",
                 "INSERT INTO autolrs_families (tenant, name, version, record, crc) "
                 "VALUES ($1, $2, $3, $4, $5)",
                 params);
      if (absl::IsAlreadyExists(ins.status())) return FamilyExists(tenant, name);
      return ins.status();
    });
  }
  // A retry after a lost connection is safe even if the first attempt
  // committed: it then finds the new version and answers ABORTED.
  return WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    absl::StatusOr<PgResult> row = PgExec(conn, "put family", kReplaceSql, params);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return NoFamily(tenant, name);
    if (row->Int(0, 0) != state.version() - 1) {
      return FamilyVersionMismatch(tenant, name, row->Int(0, 0), state.version());
    }
    return absl::OkStatus();
  });
}

absl::Status PostgresJobStore::DeleteFamily(absl::string_view tenant, absl::string_view name) {
  return WithConnection([&](PgConnection* conn, bool* maybe_committed) -> absl::Status {
    *maybe_committed = true;  // One statement: it commits as it runs.
    absl::StatusOr<PgResult> del = PgExec(
        conn, "delete family", "DELETE FROM autolrs_families WHERE tenant = $1 AND name = $2",
        {PgParam::Text(tenant), PgParam::Text(name)});
    if (!del.ok()) return del.status();
    return del->affected() == 0 ? NoFamily(tenant, name) : absl::OkStatus();
  });
}

absl::StatusOr<std::vector<FamilyState>> PostgresJobStore::ListFamilies(absl::string_view tenant,
                                                                        absl::string_view after,
                                                                        int limit) {
  std::vector<FamilyState> page;
  absl::Status s = WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    page.clear();
    absl::StatusOr<PgResult> rows =
        PgExec(conn, "list families",
               "SELECT name, version, record, crc FROM autolrs_families "
               "WHERE tenant = $1 AND name > $2 ORDER BY name LIMIT $3",
               {PgParam::Text(tenant), PgParam::Text(after), PgParam::Int(limit)});
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->rows(); ++i) {
      const absl::string_view name = rows->Bytes(i, 0);
      absl::StatusOr<FamilyState> family =
          DecodeStoredFamily(tenant, name, rows->Int(i, 1), rows->Bytes(i, 2), rows->Int(i, 3));
      // A corrupt record is listed by name only; GetFamily says DATA_LOSS.
      page.push_back(family.ok() ? *std::move(family) : FamilyPlaceholder(tenant, name));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

}  // namespace autolrs::server
