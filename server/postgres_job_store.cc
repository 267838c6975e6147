#include "server/postgres_job_store.h"

#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/postgres_schema.h"
#include "server/stored_job_codec.h"

namespace autolrs::server {
namespace {

// Columns 0-6 of every job read: the head and one stage per row (NULL stage
// columns for a job without stages), ordered by job_id, stage_index.
constexpr char kJobColumns[] =
    "SELECT j.job_id, j.head, j.head_crc, j.stage_count, s.stage_index, s.blob, s.crc ";
constexpr char kGetSql[] =
    "FROM autolrs_jobs j LEFT JOIN autolrs_stages s ON s.job_id = j.job_id "
    "WHERE j.job_id = $1 ORDER BY s.stage_index";
constexpr char kListSql[] =
    "FROM (SELECT * FROM autolrs_jobs WHERE job_id > $1 ORDER BY job_id LIMIT $2) j "
    "LEFT JOIN autolrs_stages s ON s.job_id = j.job_id ORDER BY j.job_id, s.stage_index";

// Update's fast path, one statement (one round trip, its own transaction):
// locks the job row; if the version is $2 - 1 and the stages sent ($9-$11,
// indexes from $8 on) cover every stage from the last stored one on, writes
// those stages, deletes stored ones from $5 (the new count) on, and writes
// the head ($2-$7). Returns the locked row's version and stage count, from
// which the caller tells whether it wrote.
constexpr char kUpdateSql[] = R"sql(
WITH old AS (
  SELECT version, stage_count FROM autolrs_jobs WHERE job_id = $1 FOR UPDATE),
ok AS (
  SELECT stage_count FROM old
  WHERE version = $2 - 1 AND GREATEST(stage_count - 1, 0) >= $8),
put AS (
  INSERT INTO autolrs_stages (job_id, stage_index, blob, crc)
  SELECT $1, t.i, t.b, t.c
  FROM ok, unnest($9::bigint[], $10::bytea[], $11::bigint[]) AS t(i, b, c)
  WHERE t.i >= ok.stage_count - 1
  ON CONFLICT (job_id, stage_index) DO UPDATE SET blob = EXCLUDED.blob, crc = EXCLUDED.crc),
del AS (
  DELETE FROM autolrs_stages s USING ok WHERE s.job_id = $1 AND s.stage_index >= $5),
upd AS (
  UPDATE autolrs_jobs j SET version = $2, state = $3, update_time_ms = $4, stage_count = $5,
    head = $6, head_crc = $7
  FROM ok WHERE j.job_id = $1)
SELECT version, stage_count FROM old)sql";

int64_t UpdateTimeMs(const JobState& s) {
  return s.job().update_time().seconds() * 1000 + s.job().update_time().nanos() / 1'000'000;
}

absl::Status NoJob(absl::string_view job_id) {
  return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
}

// The jobs in `rows` (kJobColumns), in order; a job whose records are
// corrupt is DATA_LOSS.
std::vector<std::pair<std::string, absl::StatusOr<JobState>>> DecodeJobs(const PgResult& rows) {
  std::vector<std::pair<std::string, absl::StatusOr<JobState>>> jobs;
  for (int first = 0; first < rows.rows();) {
    const absl::string_view job_id = rows.Bytes(first, 0);
    std::vector<StoredStage> stages;
    int end = first;
    for (; end < rows.rows() && rows.Bytes(end, 0) == job_id; ++end) {
      if (rows.IsNull(end, 4)) continue;  // No stages.
      stages.push_back({rows.Int(end, 4), rows.Bytes(end, 5), rows.Int(end, 6)});
    }
    jobs.emplace_back(std::string(job_id),
                      DecodeStoredJob(job_id, rows.Bytes(first, 1), rows.Int(first, 2),
                                      rows.Int(first, 3), stages));
    first = end;
  }
  return jobs;
}

// Writes stages [first, count) of `state` (replacing stored ones) and
// deletes stored ones from count on when `stored_count` > count.
absl::Status WriteStages(PgConnection* conn, const JobState& state, int first,
                         int64_t stored_count) {
  const std::string& id = state.job().job_id();
  const int count = state.schedule().stages_size();
  for (int i = first; i < count; ++i) {
    const std::string bytes = EncodeStage(state.schedule().stages(i));
    absl::StatusOr<PgResult> put = PgExec(
        conn, "write stage",
        "INSERT INTO autolrs_stages (job_id, stage_index, blob, crc) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (job_id, stage_index) "
        "DO UPDATE SET blob = EXCLUDED.blob, crc = EXCLUDED.crc",
        {PgParam::Text(id), PgParam::Int(i), PgParam::Bytes(bytes), PgParam::Int(Crc32c(bytes))});
    if (!put.ok()) return put.status();
  }
  if (stored_count > count) {
    absl::StatusOr<PgResult> del = PgExec(
        conn, "delete stages", "DELETE FROM autolrs_stages WHERE job_id = $1 AND stage_index >= $2",
        {PgParam::Text(id), PgParam::Int(count)});
    if (!del.ok()) return del.status();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresJobStore>> PostgresJobStore::Open(const std::string& uri,
                                                                         int pool_size) {
  absl::StatusOr<std::unique_ptr<PgConnectionPool>> pool = PgConnectionPool::Create(uri, pool_size);
  if (!pool.ok()) return pool.status();
  {
    absl::StatusOr<PgConnectionPool::Lease> conn = (*pool)->Acquire();
    if (!conn.ok()) return conn.status();
    if (absl::Status s = MigratePostgresSchema(conn->get()); !s.ok()) return s;
  }
  return std::unique_ptr<PostgresJobStore>(new PostgresJobStore(*std::move(pool)));
}

absl::Status PostgresJobStore::WithConnection(
    absl::FunctionRef<absl::Status(PgConnection*, bool*)> work) {
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<PgConnectionPool::Lease> lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    bool maybe_committed = false;
    absl::Status s = work(lease->get(), &maybe_committed);
    if (attempt == 1 && absl::IsUnavailable(s) && lease->broken() && !maybe_committed) continue;
    return s;
  }
}

absl::Status PostgresJobStore::InTransaction(absl::string_view what,
                                             absl::FunctionRef<absl::Status(PgConnection*)> body) {
  return WithConnection([&](PgConnection* conn, bool* maybe_committed) -> absl::Status {
    if (absl::StatusOr<PgResult> r = PgExec(conn, what, "BEGIN"); !r.ok()) return r.status();
    if (absl::Status s = body(conn); !s.ok()) {
      PgExec(conn, what, "ROLLBACK").IgnoreError();
      return s;
    }
    *maybe_committed = true;
    absl::StatusOr<PgResult> commit = PgExec(conn, what, "COMMIT");
    if (!commit.ok() && absl::IsUnavailable(commit.status())) {
      return absl::UnavailableError(
          absl::StrCat(commit.status().message(), " (the write may or may not have landed)"));
    }
    return commit.status();
  });
}

absl::Status PostgresJobStore::Insert(const JobState& s) {
  if (s.version() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("a new job has version 1, got ", s.version()));
  }
  const std::string& id = s.job().job_id();
  const std::string head = EncodeHead(s);
  return InTransaction("insert", [&](PgConnection* conn) -> absl::Status {
    absl::StatusOr<PgResult> ins =
        PgExec(conn, "insert",
               "INSERT INTO autolrs_jobs (job_id, request_id, version, state, update_time_ms, "
               "stage_count, head, head_crc) VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, $7, $8)",
               {PgParam::Text(id), PgParam::Text(s.request_id()), PgParam::Int(s.version()),
                PgParam::Int(s.job().state()), PgParam::Int(UpdateTimeMs(s)),
                PgParam::Int(s.schedule().stages_size()), PgParam::Bytes(head),
                PgParam::Int(Crc32c(head))});
    if (absl::IsAlreadyExists(ins.status())) {
      return absl::AlreadyExistsError(
          absl::StrCat("job '", id, "' or request_id '", s.request_id(), "' exists"));
    }
    if (!ins.ok()) return ins.status();
    return WriteStages(conn, s, 0, 0);
  });
}

absl::Status PostgresJobStore::Update(const JobState& s) {
  const std::string& id = s.job().job_id();
  const std::string head = EncodeHead(s);
  const std::vector<PgParam> head_params = {PgParam::Text(id),
                                            PgParam::Int(s.version()),
                                            PgParam::Int(s.job().state()),
                                            PgParam::Int(UpdateTimeMs(s)),
                                            PgParam::Int(s.schedule().stages_size()),
                                            PgParam::Bytes(head),
                                            PgParam::Int(Crc32c(head))};
  // Fast path, one statement: the last kSentStages stages are sent along and
  // written from the last stored one on. It writes nothing (and the slow
  // path below runs) when more stages than that were added since.
  constexpr int kSentStages = 2;
  const int count = s.schedule().stages_size();
  const int first_sent = std::max(0, count - kSentStages);
  std::vector<int64_t> indexes, crcs;
  std::vector<std::string> blobs;
  for (int i = first_sent; i < count; ++i) {
    blobs.push_back(EncodeStage(s.schedule().stages(i)));
    indexes.push_back(i);
    crcs.push_back(Crc32c(blobs.back()));
  }
  std::vector<PgParam> params = head_params;
  params.push_back(PgParam::Int(first_sent));
  params.push_back(PgParam::IntArray(indexes));
  params.push_back(PgParam::BytesArray(blobs));
  params.push_back(PgParam::IntArray(crcs));
  bool written = false;
  // A retry after a lost connection is safe even if the first attempt
  // committed: it then finds the new version and answers ABORTED.
  absl::Status fast = WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    absl::StatusOr<PgResult> row = PgExec(conn, "update", kUpdateSql, params);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return NoJob(id);
    if (row->Int(0, 0) != s.version() - 1) {
      return absl::AbortedError(
          absl::StrCat("job '", id, "' is at version ", row->Int(0, 0), ", not ", s.version() - 1));
    }
    written = std::max<int64_t>(row->Int(0, 1) - 1, 0) >= first_sent;
    return absl::OkStatus();
  });
  if (written) ++one_statement_updates_;
  if (!fast.ok() || written) return fast;
  return InTransaction("update", [&](PgConnection* conn) -> absl::Status {
    absl::StatusOr<PgResult> row =
        PgExec(conn, "update",
               "SELECT version, stage_count FROM autolrs_jobs WHERE job_id = $1 FOR UPDATE",
               {PgParam::Text(id)});
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return NoJob(id);
    if (row->Int(0, 0) != s.version() - 1) {
      return absl::AbortedError(
          absl::StrCat("job '", id, "' is at version ", row->Int(0, 0), ", not ", s.version() - 1));
    }
    const int64_t stored_count = row->Int(0, 1);
    // The last stored stage may have grown; the ones before it never change.
    const int first = static_cast<int>(std::clamp<int64_t>(stored_count - 1, 0, INT32_MAX));
    if (absl::Status st = WriteStages(conn, s, first, stored_count); !st.ok()) return st;
    absl::StatusOr<PgResult> upd =
        PgExec(conn, "update",
               "UPDATE autolrs_jobs SET version = $2, state = $3, update_time_ms = $4, "
               "stage_count = $5, head = $6, head_crc = $7 WHERE job_id = $1",
               head_params);
    return upd.status();
  });
}

absl::Status PostgresJobStore::Delete(absl::string_view job_id) {
  return WithConnection([&](PgConnection* conn, bool* maybe_committed) -> absl::Status {
    *maybe_committed = true;  // One statement: it commits as it runs.
    absl::StatusOr<PgResult> del =
        PgExec(conn, "delete", "DELETE FROM autolrs_jobs WHERE job_id = $1",
               {PgParam::Text(job_id)});  // Stages cascade.
    if (!del.ok()) return del.status();
    return del->affected() == 0 ? NoJob(job_id) : absl::OkStatus();
  });
}

absl::StatusOr<JobState> PostgresJobStore::Get(absl::string_view job_id) {
  absl::StatusOr<JobState> job = NoJob(job_id);
  absl::Status s = WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    absl::StatusOr<PgResult> rows =
        PgExec(conn, "get", absl::StrCat(kJobColumns, kGetSql).c_str(), {PgParam::Text(job_id)});
    if (!rows.ok()) return rows.status();
    auto jobs = DecodeJobs(*rows);
    job = jobs.empty() ? NoJob(job_id) : std::move(jobs[0].second);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return job;
}

absl::StatusOr<int64_t> PostgresJobStore::GetVersion(absl::string_view job_id) {
  int64_t version = 0;
  absl::Status s = WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    absl::StatusOr<PgResult> row =
        PgExec(conn, "get version", "SELECT version FROM autolrs_jobs WHERE job_id = $1",
               {PgParam::Text(job_id)});
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return NoJob(job_id);
    version = row->Int(0, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return version;
}

absl::StatusOr<std::optional<JobState>> PostgresJobStore::FindByRequestId(
    absl::string_view request_id) {
  if (request_id.empty()) return std::optional<JobState>();
  std::optional<JobState> found;
  absl::Status s = WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    absl::StatusOr<PgResult> rows =
        PgExec(conn, "find by request_id",
               absl::StrCat(kJobColumns,
                            "FROM autolrs_jobs j LEFT JOIN autolrs_stages s ON s.job_id = j.job_id "
                            "WHERE j.request_id = $1 ORDER BY s.stage_index")
                   .c_str(),
               {PgParam::Text(request_id)});
    if (!rows.ok()) return rows.status();
    auto jobs = DecodeJobs(*rows);
    if (jobs.empty()) return absl::OkStatus();
    if (!jobs[0].second.ok()) return jobs[0].second.status();
    found = *std::move(jobs[0].second);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return found;
}

absl::StatusOr<std::vector<JobState>> PostgresJobStore::List(absl::string_view after, int limit) {
  std::vector<JobState> page;
  absl::Status s = WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    page.clear();
    absl::StatusOr<PgResult> rows =
        PgExec(conn, "list", absl::StrCat(kJobColumns, kListSql).c_str(),
               {PgParam::Text(after), PgParam::Int(limit)});
    if (!rows.ok()) return rows.status();
    for (auto& [id, state] : DecodeJobs(*rows)) {
      if (state.ok()) {
        page.push_back(*std::move(state));
      } else {
        JobState placeholder;  // Listed by id only; Get says DATA_LOSS.
        placeholder.mutable_job()->set_job_id(id);
        page.push_back(std::move(placeholder));
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::Status PostgresJobStore::CheckHealth() {
  return WithConnection([&](PgConnection* conn, bool*) -> absl::Status {
    return PgExec(conn, "health check", "SELECT 1").status();
  });
}

}  // namespace autolrs::server
