#include "server/sqlite_job_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace autolrs::server {
namespace {

// Migrations: kMigrations[v] takes the schema from version v to v + 1.
constexpr const char* kMigrations[] = {
    R"sql(
      CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY NOT NULL,
        request_id TEXT UNIQUE,
        version INTEGER NOT NULL,
        state INTEGER NOT NULL,
        update_time_ms INTEGER NOT NULL,
        blob BLOB NOT NULL
      );
    )sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == SqliteJobStore::kSchemaVersion);

absl::Status SqlError(sqlite3* db, absl::string_view what) {
  return absl::InternalError(absl::StrCat("sqlite: ", what, ": ", sqlite3_errmsg(db)));
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    absl::Status s = absl::InternalError(absl::StrCat("sqlite: ", sql, ": ", error ? error : ""));
    sqlite3_free(error);
    return s;
  }
  return absl::OkStatus();
}

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    status_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  bool ok() const { return status_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Bind(int i, absl::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), text.size(), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, const std::string& blob) {
    sqlite3_bind_blob(stmt_, i, blob.data(), blob.size(), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t value) { sqlite3_bind_int64(stmt_, i, value); }
  int Step() { return sqlite3_step(stmt_); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int status_;
};

absl::StatusOr<sqlite3*> OpenConnection(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("sqlite: cannot open '", path, "': ", db ? sqlite3_errmsg(db) : "no memory"));
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 10'000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;"}) {
    if (absl::Status s = Exec(db, pragma); !s.ok()) {
      sqlite3_close(db);
      return s;
    }
  }
  return db;
}

absl::Status Migrate(sqlite3* db) {
  int version = 0;
  {
    Statement q(db, "PRAGMA user_version;");
    if (!q.ok() || q.Step() != SQLITE_ROW) return SqlError(db, "reading user_version");
    version = sqlite3_column_int(q.get(), 0);
  }
  if (version > SqliteJobStore::kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: the database has schema version ", version,
                     ", newer than this server's ", SqliteJobStore::kSchemaVersion));
  }
  for (; version < SqliteJobStore::kSchemaVersion; ++version) {
    if (absl::Status s = Exec(db, "BEGIN IMMEDIATE;"); !s.ok()) return s;
    absl::Status s = Exec(db, kMigrations[version]);
    if (s.ok()) {
      s = Exec(db, absl::StrCat("PRAGMA user_version = ", version + 1, ";").c_str());
    }
    if (!s.ok()) {
      Exec(db, "ROLLBACK;").IgnoreError();
      return s;
    }
    if (absl::Status c = Exec(db, "COMMIT;"); !c.ok()) return c;
  }
  return absl::OkStatus();
}

absl::StatusOr<JobState> ParseBlob(sqlite3_stmt* stmt, int column) {
  JobState state;
  const void* data = sqlite3_column_blob(stmt, column);
  const int size = sqlite3_column_bytes(stmt, column);
  if (!state.ParseFromArray(data, size)) {
    return absl::DataLossError("sqlite: a stored job state does not parse");
  }
  return state;
}

int64_t UpdateTimeMs(const JobState& s) {
  return s.job().update_time().seconds() * 1000 + s.job().update_time().nanos() / 1'000'000;
}

}  // namespace

struct SqliteJobStore::Write {
  enum Kind { kInsert, kUpdate, kDelete } kind;
  const JobState* state = nullptr;  // kInsert, kUpdate
  std::string job_id;               // kDelete
  absl::Status result;
  absl::Notification done;
};

// Opens `path` (creating it empty if missing) and takes an exclusive flock()
// on it for the life of the returned descriptor, so that a second server on
// the same file refuses to start. flock() locks are independent of the POSIX
// record locks SQLite takes (on local file systems).
absl::StatusOr<int> LockFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("sqlite: cannot open '", path, "': ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sqlite: '", path, "' is in use by another process (another server on the same file?)"));
    }
    return absl::UnavailableError(
        absl::StrCat("sqlite: cannot lock '", path, "': ", std::strerror(error)));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& path) {
  absl::StatusOr<int> lock = LockFile(path);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<sqlite3*> writer = OpenConnection(path);
  if (!writer.ok()) {
    close(*lock);
    return writer.status();
  }
  if (absl::Status s = Migrate(*writer); !s.ok()) {
    sqlite3_close(*writer);
    close(*lock);
    return s;
  }
  absl::StatusOr<sqlite3*> reader = OpenConnection(path);
  if (!reader.ok()) {
    sqlite3_close(*writer);
    close(*lock);
    return reader.status();
  }
  return std::unique_ptr<SqliteJobStore>(new SqliteJobStore(*lock, *writer, *reader));
}

SqliteJobStore::SqliteJobStore(int lock_fd, sqlite3* writer, sqlite3* reader)
    : lock_fd_(lock_fd),
      writer_db_(writer),
      reader_db_(reader),
      writer_([this] { WriterLoop(); }) {}

SqliteJobStore::~SqliteJobStore() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  writer_.join();
  sqlite3_close(writer_db_);
  {
    absl::MutexLock lock(&read_mu_);
    sqlite3_close(reader_db_);
  }
  close(lock_fd_);  // Releases the flock.
}

int64_t SqliteJobStore::commits() const {
  absl::MutexLock lock(&queue_mu_);
  return commits_;
}

absl::Status SqliteJobStore::Submit(Write* write) {
  {
    absl::MutexLock lock(&queue_mu_);
    if (stopping_) return absl::UnavailableError("sqlite: the store is closing");
    queue_.push_back(write);
  }
  write->done.WaitForNotification();
  return write->result;
}

void SqliteJobStore::WriterLoop() {
  while (true) {
    std::deque<Write*> batch;
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](SqliteJobStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->queue_mu_) {
            return s->stopping_ || !s->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // Stopping, and every write is done.
      batch.swap(queue_);
    }
    absl::Status begin = Exec(writer_db_, "BEGIN IMMEDIATE;");
    for (Write* w : batch) w->result = begin.ok() ? Apply(*w) : begin;
    if (begin.ok()) {
      if (absl::Status commit = Exec(writer_db_, "COMMIT;"); !commit.ok()) {
        Exec(writer_db_, "ROLLBACK;").IgnoreError();
        for (Write* w : batch) w->result = commit;
      }
    }
    {
      absl::MutexLock lock(&queue_mu_);
      ++commits_;
    }
    for (Write* w : batch) w->done.Notify();
  }
}

absl::Status SqliteJobStore::Apply(const Write& w) {
  if (w.kind == Write::kDelete) {
    Statement del(writer_db_, "DELETE FROM jobs WHERE job_id = ?1;");
    del.Bind(1, w.job_id);
    if (!del.ok() || del.Step() != SQLITE_DONE) return SqlError(writer_db_, "delete");
    if (sqlite3_changes(writer_db_) == 0) {
      return absl::NotFoundError(absl::StrCat("no job '", w.job_id, "'"));
    }
    return absl::OkStatus();
  }
  const JobState& s = *w.state;
  const std::string& id = s.job().job_id();
  const std::string blob = s.SerializeAsString();
  if (w.kind == Write::kInsert) {
    Statement ins(writer_db_,
                  "INSERT INTO jobs (job_id, request_id, version, state, update_time_ms, blob) "
                  "VALUES (?1, NULLIF(?2, ''), ?3, ?4, ?5, ?6);");
    ins.Bind(1, id);
    ins.Bind(2, s.request_id());
    ins.Bind(3, s.version());
    ins.Bind(4, static_cast<int64_t>(s.job().state()));
    ins.Bind(5, UpdateTimeMs(s));
    ins.BindBlob(6, blob);
    if (!ins.ok()) return SqlError(writer_db_, "insert");
    const int rc = ins.Step();
    if (rc == SQLITE_CONSTRAINT) {
      return absl::AlreadyExistsError(absl::StrCat("job '", id, "' or request_id '",
                                                   s.request_id(), "' exists"));
    }
    if (rc != SQLITE_DONE) return SqlError(writer_db_, "insert");
    return absl::OkStatus();
  }
  Statement upd(writer_db_,
                "UPDATE jobs SET version = ?2, state = ?3, update_time_ms = ?4, blob = ?5 "
                "WHERE job_id = ?1 AND version = ?6;");
  upd.Bind(1, id);
  upd.Bind(2, s.version());
  upd.Bind(3, static_cast<int64_t>(s.job().state()));
  upd.Bind(4, UpdateTimeMs(s));
  upd.BindBlob(5, blob);
  upd.Bind(6, s.version() - 1);
  if (!upd.ok() || upd.Step() != SQLITE_DONE) return SqlError(writer_db_, "update");
  if (sqlite3_changes(writer_db_) == 1) return absl::OkStatus();
  // Tell a lost race from a deleted job.
  Statement q(writer_db_, "SELECT version FROM jobs WHERE job_id = ?1;");
  q.Bind(1, id);
  if (!q.ok()) return SqlError(writer_db_, "update");
  if (q.Step() != SQLITE_ROW) return absl::NotFoundError(absl::StrCat("no job '", id, "'"));
  return absl::AbortedError(absl::StrCat("job '", id, "' is at version ",
                                         sqlite3_column_int64(q.get(), 0), ", not ",
                                         s.version() - 1));
}

absl::Status SqliteJobStore::Insert(const JobState& state) {
  if (state.version() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a new job has version 1, got ", state.version()));
  }
  Write w{Write::kInsert, &state};
  return Submit(&w);
}

absl::Status SqliteJobStore::Update(const JobState& state) {
  Write w{Write::kUpdate, &state};
  return Submit(&w);
}

absl::Status SqliteJobStore::Delete(absl::string_view job_id) {
  Write w{Write::kDelete, nullptr, std::string(job_id)};
  return Submit(&w);
}

absl::StatusOr<JobState> SqliteJobStore::Get(absl::string_view job_id) {
  absl::MutexLock lock(&read_mu_);
  Statement q(reader_db_, "SELECT blob FROM jobs WHERE job_id = ?1;");
  q.Bind(1, job_id);
  if (!q.ok()) return SqlError(reader_db_, "get");
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  if (rc != SQLITE_ROW) return SqlError(reader_db_, "get");
  return ParseBlob(q.get(), 0);
}

absl::StatusOr<std::optional<JobState>> SqliteJobStore::FindByRequestId(
    absl::string_view request_id) {
  absl::MutexLock lock(&read_mu_);
  Statement q(reader_db_, "SELECT blob FROM jobs WHERE request_id = ?1;");
  q.Bind(1, request_id);
  if (!q.ok()) return SqlError(reader_db_, "find by request_id");
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<JobState>();
  if (rc != SQLITE_ROW) return SqlError(reader_db_, "find by request_id");
  absl::StatusOr<JobState> state = ParseBlob(q.get(), 0);
  if (!state.ok()) return state.status();
  return std::optional<JobState>(*std::move(state));
}

absl::StatusOr<std::vector<JobState>> SqliteJobStore::List(absl::string_view after, int limit) {
  absl::MutexLock lock(&read_mu_);
  Statement q(reader_db_, "SELECT blob FROM jobs WHERE job_id > ?1 ORDER BY job_id LIMIT ?2;");
  q.Bind(1, after);
  q.Bind(2, static_cast<int64_t>(limit));
  if (!q.ok()) return SqlError(reader_db_, "list");
  std::vector<JobState> page;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    absl::StatusOr<JobState> state = ParseBlob(q.get(), 0);
    if (!state.ok()) return state.status();
    page.push_back(*std::move(state));
  }
  if (rc != SQLITE_DONE) return SqlError(reader_db_, "list");
  return page;
}

}  // namespace autolrs::server
