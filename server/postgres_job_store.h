#ifndef AUTOLRS_SERVER_POSTGRES_JOB_STORE_H_
#define AUTOLRS_SERVER_POSTGRES_JOB_STORE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "server/job_store.h"
#include "server/postgres_connection.h"

namespace autolrs::server {

// A JobStore in a PostgreSQL database that several server replicas share
// (shared() is true).
//
// Layout (postgres_schema.h): a head row per job and a row per stage of its
// schedule, each with a CRC-32C (stored_job_codec.h), as in SQLite: an Update
// rewrites the head and the stages from the last stored one onward. A family
// is one checksummed row (family_records.h) in autolrs_families
// (postgres_job_store_families.cc); PutFamily is compare-and-swap in one
// statement (version 1: one INSERT transaction), like Update.
//
// Every write is one transaction. Update locks the job's row (SELECT ... FOR
// UPDATE), compares its version (ABORTED when it is not state.version() - 1)
// and writes; concurrent writers to one job through different replicas are
// therefore serialized by the database and exactly one wins each version.
// An Update that added at most one stage since the stored version (every
// report) is one statement, one round trip; others take a transaction of a
// few statements.
// A call returns once its transaction committed with synchronous_commit=on
// (durable on the database's disk). Reads are single statements (one
// snapshot each).
//
// Connections come from a pool (`pool_size`, opened on demand). Group commit
// is the database's own: the pool's concurrent transactions share WAL
// flushes, so durable throughput grows with concurrency without batching in
// this process (which would make one slow write delay unrelated ones).
//
// Failures: a lost connection, a database that is down or restarting, a
// standby that refuses writes are UNAVAILABLE (retryable; nothing was
// written unless the loss came during COMMIT, when the write may have
// landed: a retry of the same report is then recognized as already applied
// by the job). A statement that failed on a connection which had broken
// while idle in the pool (e.g. the database restarted since) is retried once
// on a new connection. A record whose checksum or parse fails is DATA_LOSS
// for that job only.
//
// Thread-safe.
class PostgresJobStore final : public JobStore {
 public:
  static constexpr int kDefaultPoolSize = 8;

  // Connects to `uri` (a libpq URI, postgresql://user[:password]@host:port/db
  // with optional ?parameters; a password may instead come from PGPASSWORD or
  // ~/.pgpass) and migrates the database to the current schema.
  // INVALID_ARGUMENT for a malformed URI, UNAVAILABLE when the database
  // cannot be reached, FAILED_PRECONDITION when it was written by a newer
  // server.
  static absl::StatusOr<std::unique_ptr<PostgresJobStore>> Open(const std::string& uri,
                                                                int pool_size = kDefaultPoolSize);

  absl::Status Insert(const JobState& state) override;
  absl::StatusOr<JobState> Get(absl::string_view job_id) override;
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view request_id) override;
  absl::Status Update(const JobState& state) override;
  absl::Status Delete(absl::string_view job_id) override;
  absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) override;
  absl::StatusOr<int64_t> GetVersion(absl::string_view job_id) override;
  absl::StatusOr<FamilyState> GetFamily(absl::string_view tenant, absl::string_view name) override;
  absl::Status PutFamily(const FamilyState& state) override;
  absl::StatusOr<std::vector<FamilyState>> ListFamilies(absl::string_view tenant,
                                                        absl::string_view after,
                                                        int limit) override;
  absl::Status DeleteFamily(absl::string_view tenant, absl::string_view name) override;
  bool shared() const override { return true; }
  // UNAVAILABLE while the database cannot be reached or does not answer.
  absl::Status CheckHealth() override;

  // Connections opened so far (reconnections included).
  int64_t connects() const { return pool_->connects(); }
  // Updates written by the one-statement fast path (see Update) so far.
  int64_t one_statement_updates() const { return one_statement_updates_.load(); }

 private:
  explicit PostgresJobStore(std::unique_ptr<PgConnectionPool> pool) : pool_(std::move(pool)) {}

  // Runs `work` on a pooled connection. When `work` fails with UNAVAILABLE
  // because the connection broke before anything could have been committed
  // (`*maybe_committed` still false), runs it once more on a new one.
  absl::Status WithConnection(
      absl::FunctionRef<absl::Status(PgConnection*, bool* maybe_committed)> work);
  // Runs `body` between BEGIN and COMMIT (ROLLBACK when it fails).
  absl::Status InTransaction(absl::string_view what,
                             absl::FunctionRef<absl::Status(PgConnection*)> body);

  std::unique_ptr<PgConnectionPool> pool_;
  std::atomic<int64_t> one_statement_updates_{0};
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_POSTGRES_JOB_STORE_H_
