#ifndef AUTOLRS_SERVER_SQLITE_JOB_STORE_H_
#define AUTOLRS_SERVER_SQLITE_JOB_STORE_H_

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/job_store.h"

struct sqlite3;

namespace autolrs::server {

// A JobStore in one SQLite file (WAL journal, synchronous=FULL: a write is on
// disk when its call returns).
//
// Writes are group-committed: callers enqueue them and block; one writer
// thread applies everything queued in a single transaction (one savepoint
// per write, so a failed write changes nothing) and fsyncs once, so durable
// throughput grows with concurrency instead of being bounded by one fsync per
// write. Reads use their own connection and do not wait for writes (WAL
// snapshot isolation).
//
// Layout (sqlite_schema.h, schema 3): a head row per job and one row per
// stage of its schedule, each with a CRC-32C (stored_job_codec.h). An Update
// writes the head and the stages from the last stored one onward: the
// earlier stages of a schedule never change once a later stage exists.
// A family is one checksummed row (family_records.h) written through the
// same group-committed queue (sqlite_job_store_families.cc).
//
// Failures: a record whose checksum or parse fails is DATA_LOSS for that job
// or family only (List and ListFamilies report it as a placeholder, see
// JobStore). The file is
// flock()ed exclusively; its integrity is checked (PRAGMA quick_check) at
// Open. If the file is deleted or replaced while open, every later call
// fails with UNAVAILABLE (nothing more is acknowledged that a restart would
// lose) and CheckHealth() says so until the process restarts. SQLite's
// environment errors (disk full, I/O error, busy) are UNAVAILABLE.
//
// Thread-safe.
class SqliteJobStore final : public JobStore {
 public:
  // Opens (creating if needed) the database at `path`, takes an exclusive
  // lock on it for the store's life, checks its integrity and migrates it to
  // the current schema. FAILED_PRECONDITION when another process holds the
  // file or it was written by a newer server; DATA_LOSS when it is not a
  // database or fails the integrity check; UNAVAILABLE when it cannot be
  // opened.
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const std::string& path);

  // Finishes queued writes and closes the database.
  ~SqliteJobStore() override;

  absl::Status Insert(const JobState& state) override;
  absl::StatusOr<JobState> Get(absl::string_view job_id) override;
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view request_id) override;
  absl::Status Update(const JobState& state) override;
  absl::Status Delete(absl::string_view job_id) override;
  absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) override;
  absl::StatusOr<FamilyState> GetFamily(absl::string_view tenant, absl::string_view name) override;
  absl::Status PutFamily(const FamilyState& state) override;
  absl::StatusOr<std::vector<FamilyState>> ListFamilies(absl::string_view tenant,
                                                        absl::string_view after,
                                                        int limit) override;
  absl::Status DeleteFamily(absl::string_view tenant, absl::string_view name) override;
  // UNAVAILABLE when the file was deleted or replaced, or while writes fail:
  // then a probe write decides (SERVING again once it succeeds).
  absl::Status CheckHealth() override;

  // Transactions committed so far (each may hold many writes).
  int64_t commits() const;

 private:
  struct Write;

  SqliteJobStore(std::string path, int lock_fd, sqlite3* writer, sqlite3* reader);
  absl::Status Submit(Write* write);
  // Queues `apply`, run by the writer thread on its connection inside the
  // batch's transaction (its own savepoint), and waits for its result.
  absl::Status SubmitApply(absl::FunctionRef<absl::Status(sqlite3* writer)> apply);
  // Runs `read` on the reader's connection in one read transaction.
  absl::Status ReadInSnapshot(absl::FunctionRef<absl::Status(sqlite3* reader)> read);
  void WriterLoop();
  // Applies every write of `batch` in one transaction and sets its result.
  void Commit(const std::deque<Write*>& batch);
  absl::Status Apply(const Write& write);
  absl::Status ApplyInsert(const JobState& state);
  absl::Status ApplyUpdate(const JobState& state);
  absl::Status ApplyDelete(const std::string& job_id);
  // Writes stages [first, end) of `state` and deletes stored ones from end on.
  absl::Status WriteStages(const JobState& state, int first, int stored_count);
  // The job `job_id` as read in the reader's current transaction; NOT_FOUND
  // when absent, DATA_LOSS when corrupt.
  absl::StatusOr<JobState> ReadLocked(absl::string_view job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  // Runs `read` in one read transaction (one snapshot).
  template <typename T, typename Read>
  absl::StatusOr<T> InReadTransaction(Read read);
  // UNAVAILABLE (and sticky) once the path no longer names the open file.
  absl::Status CheckFile();

  const std::string path_;
  const int lock_fd_;         // The database file, flock()ed exclusively.
  sqlite3* const writer_db_;  // Used by the writer thread only.

  absl::Mutex read_mu_;
  sqlite3* const reader_db_ ABSL_GUARDED_BY(read_mu_);

  absl::Mutex file_mu_;
  std::string file_lost_ ABSL_GUARDED_BY(file_mu_);  // Why; empty while fine.
  // The last batch failed with UNAVAILABLE; cleared by a successful commit.
  std::atomic<bool> writes_failing_{false};

  mutable absl::Mutex queue_mu_;
  std::deque<Write*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  int64_t commits_ ABSL_GUARDED_BY(queue_mu_) = 0;
  std::thread writer_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SQLITE_JOB_STORE_H_
