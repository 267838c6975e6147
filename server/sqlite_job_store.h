#ifndef AUTOLRS_SERVER_SQLITE_JOB_STORE_H_
#define AUTOLRS_SERVER_SQLITE_JOB_STORE_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/job_store.h"

struct sqlite3;

namespace autolrs::server {

// A JobStore in one SQLite file (WAL journal, synchronous=FULL: a write is on
// disk when its call returns).
//
// Writes are group-committed: callers enqueue them and block; one writer
// thread applies everything queued in a single transaction and fsyncs once,
// so durable throughput grows with concurrency instead of being bounded by
// one fsync per write. Reads use their own connection and do not wait for
// writes (WAL snapshot isolation).
//
// Schema: `jobs(job_id PRIMARY KEY, request_id UNIQUE, version, state,
// update_time_ms, blob)` where blob is the serialized JobState; the schema
// version is PRAGMA user_version and migrations run at Open().
//
// Thread-safe.
class SqliteJobStore final : public JobStore {
 public:
  // Opens (creating if needed) the database at `path`, takes an exclusive
  // lock on it for the store's life and migrates it to the current schema.
  // FAILED_PRECONDITION when another process holds the file or it was written
  // by a newer server; UNAVAILABLE when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const std::string& path);

  // The schema version this build writes.
  static constexpr int kSchemaVersion = 1;

  // Finishes queued writes and closes the database.
  ~SqliteJobStore() override;

  absl::Status Insert(const JobState& state) override;
  absl::StatusOr<JobState> Get(absl::string_view job_id) override;
  absl::StatusOr<std::optional<JobState>> FindByRequestId(
      absl::string_view request_id) override;
  absl::Status Update(const JobState& state) override;
  absl::Status Delete(absl::string_view job_id) override;
  absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) override;

  // Transactions committed so far (each may hold many writes).
  int64_t commits() const;

 private:
  struct Write;

  SqliteJobStore(int lock_fd, sqlite3* writer, sqlite3* reader);
  absl::Status Submit(Write* write);
  void WriterLoop();
  absl::Status Apply(const Write& write);

  const int lock_fd_;         // The database file, flock()ed exclusively.
  sqlite3* const writer_db_;  // Used by the writer thread only.

  absl::Mutex read_mu_;
  sqlite3* const reader_db_ ABSL_GUARDED_BY(read_mu_);

  mutable absl::Mutex queue_mu_;
  std::deque<Write*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  int64_t commits_ ABSL_GUARDED_BY(queue_mu_) = 0;
  std::thread writer_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SQLITE_JOB_STORE_H_
