#include "server/sqlite_job_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/sqlite_schema.h"
#include "server/sqlite_util.h"
#include "server/stored_job_codec.h"

namespace autolrs::server {
namespace {

absl::StatusOr<sqlite3*> OpenConnection(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = SqliteStatus(rc, absl::StrCat("cannot open '", path, "'"),
                                  db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 10'000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;"}) {
    if (absl::Status s = Exec(db, pragma); !s.ok()) {
      sqlite3_close(db);
      return absl::Status(s.code(), absl::StrCat("'", path, "': ", s.message()));
    }
  }
  return db;
}

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

int64_t UpdateTimeMs(const JobState& s) {
  return s.job().update_time().seconds() * 1000 + s.job().update_time().nanos() / 1'000'000;
}

absl::Status NoJob(absl::string_view job_id) {
  return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
}

// The stage rows of `job_id`, in index order, as read by `q` (bound to the
// job); the views are into `storage`.
absl::Status ReadStages(sqlite3* db, absl::string_view job_id, std::vector<std::string>& storage,
                        std::vector<StoredStage>& stages) {
  Statement q(db,
              "SELECT stage_index, blob, crc FROM stages WHERE job_id = ?1 "
              "ORDER BY stage_index;");
  if (!q.ok()) return SqlError(db, "reading stages");
  q.Bind(1, job_id);
  std::vector<std::pair<int64_t, int64_t>> index_crc;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    index_crc.emplace_back(q.ColumnInt(0), q.ColumnInt(2));
    storage.emplace_back(q.ColumnBlob(1));
  }
  if (rc != SQLITE_DONE) return SqlError(db, "reading stages");
  for (size_t i = 0; i < storage.size(); ++i) {
    stages.push_back({index_crc[i].first, storage[i], index_crc[i].second});
  }
  return absl::OkStatus();
}

}  // namespace

struct SqliteJobStore::Write {
  enum Kind { kInsert, kUpdate, kDelete, kProbe, kApply } kind;
  const JobState* state = nullptr;  // kInsert, kUpdate
  std::string job_id;               // kDelete
  absl::Status result;
  absl::Notification done;
  const absl::FunctionRef<absl::Status(sqlite3*)>* apply = nullptr;  // kApply
};

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& path) {
  absl::StatusOr<int> lock = LockFile(path);
  if (!lock.ok()) return lock.status();
  sqlite3* writer = nullptr;
  sqlite3* reader = nullptr;
  auto fail = [&](absl::Status s) {
    sqlite3_close(reader);
    sqlite3_close(writer);
    close(*lock);
    return s;
  };
  absl::StatusOr<sqlite3*> opened = OpenConnection(path);
  if (!opened.ok()) return fail(opened.status());
  writer = *opened;
  if (absl::Status s = CheckSqliteIntegrity(writer); !s.ok()) {
    return fail(absl::Status(s.code(), absl::StrCat("'", path, "': ", s.message())));
  }
  if (absl::Status s = MigrateSqliteSchema(writer); !s.ok()) return fail(s);
  opened = OpenConnection(path);
  if (!opened.ok()) return fail(opened.status());
  reader = *opened;
  return std::unique_ptr<SqliteJobStore>(new SqliteJobStore(path, *lock, writer, reader));
}

SqliteJobStore::SqliteJobStore(std::string path, int lock_fd, sqlite3* writer, sqlite3* reader)
    : path_(std::move(path)),
      lock_fd_(lock_fd),
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

absl::Status SqliteJobStore::CheckFile() {
  absl::MutexLock lock(&file_mu_);
  if (file_lost_.empty()) {
    struct stat open_file, named_file;
    if (fstat(lock_fd_, &open_file) != 0) {
      return absl::UnavailableError(
          absl::StrCat("sqlite: cannot stat the open database: ", std::strerror(errno)));
    }
    if (stat(path_.c_str(), &named_file) != 0) {
      if (errno != ENOENT) {
        return absl::UnavailableError(
            absl::StrCat("sqlite: cannot stat '", path_, "': ", std::strerror(errno)));
      }
      file_lost_ = "was deleted";
    } else if (named_file.st_dev != open_file.st_dev || named_file.st_ino != open_file.st_ino) {
      file_lost_ = "was replaced by another file";
    } else if (open_file.st_nlink == 0) {
      file_lost_ = "was deleted";
    }
  }
  if (file_lost_.empty()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("sqlite: the database file '", path_, "' ", file_lost_,
                   " while the server ran; nothing more is written (restart the server)"));
}

absl::Status SqliteJobStore::CheckHealth() {
  if (absl::Status s = CheckFile(); !s.ok()) return s;
  if (!writes_failing_.load()) return absl::OkStatus();
  Write probe{Write::kProbe};
  return Submit(&probe);
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
    Commit(batch);
    bool unavailable = false;
    for (Write* w : batch) unavailable |= absl::IsUnavailable(w->result);
    writes_failing_.store(unavailable);
    {
      absl::MutexLock lock(&queue_mu_);
      ++commits_;
    }
    for (Write* w : batch) w->done.Notify();
  }
}

void SqliteJobStore::Commit(const std::deque<Write*>& batch) {
  auto fail_all = [&](const absl::Status& s) {
    for (Write* w : batch) w->result = s;
  };
  if (absl::Status s = CheckFile(); !s.ok()) return fail_all(s);
  if (absl::Status s = Exec(writer_db_, "BEGIN IMMEDIATE;"); !s.ok()) return fail_all(s);
  for (Write* w : batch) {
    if (absl::Status s = Exec(writer_db_, "SAVEPOINT write;"); !s.ok()) {
      w->result = s;
    } else {
      w->result = Apply(*w);
      if (!w->result.ok()) Exec(writer_db_, "ROLLBACK TO write;").IgnoreError();
      Exec(writer_db_, "RELEASE write;").IgnoreError();
    }
    if (sqlite3_get_autocommit(writer_db_)) {
      // SQLite rolled the whole transaction back (I/O error, disk full):
      // the batch's earlier writes are gone too.
      const absl::Status cause =
          w->result.ok() ? SqlError(writer_db_, "transaction rolled back") : w->result;
      return fail_all(cause);
    }
  }
  if (absl::Status s = Exec(writer_db_, "COMMIT;"); !s.ok()) {
    Exec(writer_db_, "ROLLBACK;").IgnoreError();
    return fail_all(s);
  }
  // A file deleted during the transaction took the commit with it.
  if (absl::Status s = CheckFile(); !s.ok()) return fail_all(s);
}

absl::Status SqliteJobStore::Apply(const Write& w) {
  switch (w.kind) {
    case Write::kInsert:
      return ApplyInsert(*w.state);
    case Write::kUpdate:
      return ApplyUpdate(*w.state);
    case Write::kDelete:
      return ApplyDelete(w.job_id);
    case Write::kProbe: {
      Statement probe(writer_db_,
                      "INSERT OR REPLACE INTO store_meta (key, value) "
                      "VALUES ('health_probe', strftime('%s', 'now'));");
      if (!probe.ok() || probe.Step() != SQLITE_DONE) return SqlError(writer_db_, "probe write");
      return absl::OkStatus();
    }
    case Write::kApply:
      return (*w.apply)(writer_db_);
  }
  return absl::InternalError("unknown write");
}

absl::Status SqliteJobStore::WriteStages(const JobState& state, int first, int stored_count) {
  const std::string& id = state.job().job_id();
  const int count = state.schedule().stages_size();
  if (first < count) {
    Statement put(writer_db_,
                  "INSERT OR REPLACE INTO stages (job_id, stage_index, blob, crc) "
                  "VALUES (?1, ?2, ?3, ?4);");
    if (!put.ok()) return SqlError(writer_db_, "write stage");
    for (int i = first; i < count; ++i) {
      const std::string bytes = EncodeStage(state.schedule().stages(i));
      sqlite3_reset(put.get());
      put.Bind(1, id);
      put.Bind(2, int64_t{i});
      put.BindBlob(3, bytes);
      put.Bind(4, int64_t{Crc32c(bytes)});
      if (put.Step() != SQLITE_DONE) return SqlError(writer_db_, "write stage");
    }
  }
  if (stored_count > count) {
    Statement del(writer_db_, "DELETE FROM stages WHERE job_id = ?1 AND stage_index >= ?2;");
    del.Bind(1, id);
    del.Bind(2, int64_t{count});
    if (!del.ok() || del.Step() != SQLITE_DONE) return SqlError(writer_db_, "delete stages");
  }
  return absl::OkStatus();
}

absl::Status SqliteJobStore::ApplyInsert(const JobState& s) {
  const std::string& id = s.job().job_id();
  const std::string head = EncodeHead(s);
  Statement ins(
      writer_db_,
      "INSERT INTO jobs (job_id, request_id, version, state, update_time_ms, "
      "stage_count, head, head_crc) VALUES (?1, NULLIF(?2, ''), ?3, ?4, ?5, ?6, ?7, ?8);");
  if (!ins.ok()) return SqlError(writer_db_, "insert");
  ins.Bind(1, id);
  ins.Bind(2, s.request_id());
  ins.Bind(3, s.version());
  ins.Bind(4, static_cast<int64_t>(s.job().state()));
  ins.Bind(5, UpdateTimeMs(s));
  ins.Bind(6, int64_t{s.schedule().stages_size()});
  ins.BindBlob(7, head);
  ins.Bind(8, int64_t{Crc32c(head)});
  const int rc = ins.Step();
  if (rc == SQLITE_CONSTRAINT) {
    return absl::AlreadyExistsError(
        absl::StrCat("job '", id, "' or request_id '", s.request_id(), "' exists"));
  }
  if (rc != SQLITE_DONE) return SqlError(writer_db_, "insert");
  // Rows a deleted job may have left behind are replaced.
  return WriteStages(s, 0, INT32_MAX);
}

absl::Status SqliteJobStore::ApplyUpdate(const JobState& s) {
  const std::string& id = s.job().job_id();
  int64_t stored_count = 0;
  {
    Statement q(writer_db_, "SELECT version, stage_count FROM jobs WHERE job_id = ?1;");
    if (!q.ok()) return SqlError(writer_db_, "update");
    q.Bind(1, id);
    const int rc = q.Step();
    if (rc == SQLITE_DONE) return NoJob(id);
    if (rc != SQLITE_ROW) return SqlError(writer_db_, "update");
    if (q.ColumnInt(0) != s.version() - 1) {
      return absl::AbortedError(
          absl::StrCat("job '", id, "' is at version ", q.ColumnInt(0), ", not ", s.version() - 1));
    }
    stored_count = q.ColumnInt(1);
  }
  // The last stored stage may have grown; the ones before it never change.
  const int first = static_cast<int>(std::clamp<int64_t>(stored_count - 1, 0, INT32_MAX));
  if (absl::Status st =
          WriteStages(s, first, static_cast<int>(std::min<int64_t>(stored_count, INT32_MAX)));
      !st.ok()) {
    return st;
  }
  const std::string head = EncodeHead(s);
  Statement upd(writer_db_,
                "UPDATE jobs SET version = ?2, state = ?3, update_time_ms = ?4, stage_count = ?5, "
                "head = ?6, head_crc = ?7 WHERE job_id = ?1;");
  if (!upd.ok()) return SqlError(writer_db_, "update");
  upd.Bind(1, id);
  upd.Bind(2, s.version());
  upd.Bind(3, static_cast<int64_t>(s.job().state()));
  upd.Bind(4, UpdateTimeMs(s));
  upd.Bind(5, int64_t{s.schedule().stages_size()});
  upd.BindBlob(6, head);
  upd.Bind(7, int64_t{Crc32c(head)});
  if (upd.Step() != SQLITE_DONE) return SqlError(writer_db_, "update");
  return absl::OkStatus();
}

absl::Status SqliteJobStore::ApplyDelete(const std::string& job_id) {
  Statement del(writer_db_, "DELETE FROM jobs WHERE job_id = ?1;");
  del.Bind(1, job_id);
  if (!del.ok() || del.Step() != SQLITE_DONE) return SqlError(writer_db_, "delete");
  if (sqlite3_changes(writer_db_) == 0) return NoJob(job_id);
  Statement stages(writer_db_, "DELETE FROM stages WHERE job_id = ?1;");
  stages.Bind(1, job_id);
  if (!stages.ok() || stages.Step() != SQLITE_DONE) return SqlError(writer_db_, "delete");
  return absl::OkStatus();
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

absl::Status SqliteJobStore::SubmitApply(absl::FunctionRef<absl::Status(sqlite3*)> apply) {
  Write w{Write::kApply};
  w.apply = &apply;
  return Submit(&w);
}

template <typename T, typename Read>
absl::StatusOr<T> SqliteJobStore::InReadTransaction(Read read) {
  if (absl::Status s = CheckFile(); !s.ok()) return s;
  absl::MutexLock lock(&read_mu_);
  if (absl::Status s = Exec(reader_db_, "BEGIN;"); !s.ok()) return s;
  absl::StatusOr<T> result = read();
  Exec(reader_db_, "COMMIT;").IgnoreError();  // Read-only: ends the snapshot.
  return result;
}

absl::Status SqliteJobStore::ReadInSnapshot(absl::FunctionRef<absl::Status(sqlite3*)> read) {
  return InReadTransaction<bool>([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::StatusOr<bool> {
           if (absl::Status s = read(reader_db_); !s.ok()) return s;
           return true;
         })
      .status();
}

absl::StatusOr<JobState> SqliteJobStore::ReadLocked(absl::string_view job_id) {
  Statement q(reader_db_, "SELECT head, head_crc, stage_count FROM jobs WHERE job_id = ?1;");
  if (!q.ok()) return SqlError(reader_db_, "get");
  q.Bind(1, job_id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return NoJob(job_id);
  if (rc != SQLITE_ROW) return SqlError(reader_db_, "get");
  std::vector<std::string> storage;
  std::vector<StoredStage> stages;
  if (absl::Status s = ReadStages(reader_db_, job_id, storage, stages); !s.ok()) return s;
  return DecodeStoredJob(job_id, q.ColumnBlob(0), q.ColumnInt(1), q.ColumnInt(2), stages);
}

absl::StatusOr<JobState> SqliteJobStore::Get(absl::string_view job_id) {
  return InReadTransaction<JobState>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return ReadLocked(job_id); });
}

absl::StatusOr<std::optional<JobState>> SqliteJobStore::FindByRequestId(
    absl::string_view request_id) {
  return InReadTransaction<std::optional<JobState>>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::StatusOr<std::optional<JobState>> {
        Statement q(reader_db_, "SELECT job_id FROM jobs WHERE request_id = ?1;");
        if (!q.ok()) return SqlError(reader_db_, "find by request_id");
        q.Bind(1, request_id);
        const int rc = q.Step();
        if (rc == SQLITE_DONE) return std::optional<JobState>();
        if (rc != SQLITE_ROW) return SqlError(reader_db_, "find by request_id");
        absl::StatusOr<JobState> state = ReadLocked(q.ColumnText(0));
        if (!state.ok()) return state.status();
        return std::optional<JobState>(*std::move(state));
      });
}

absl::StatusOr<std::vector<JobState>> SqliteJobStore::List(absl::string_view after, int limit) {
  return InReadTransaction<std::vector<JobState>>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::StatusOr<std::vector<JobState>> {
        Statement q(reader_db_,
                    "SELECT job_id FROM jobs WHERE job_id > ?1 ORDER BY job_id LIMIT ?2;");
        if (!q.ok()) return SqlError(reader_db_, "list");
        q.Bind(1, after);
        q.Bind(2, static_cast<int64_t>(limit));
        std::vector<std::string> ids;
        int rc;
        while ((rc = q.Step()) == SQLITE_ROW) ids.push_back(q.ColumnText(0));
        if (rc != SQLITE_DONE) return SqlError(reader_db_, "list");
        std::vector<JobState> page;
        for (const std::string& id : ids) {
          absl::StatusOr<JobState> state = ReadLocked(id);
          if (absl::IsDataLoss(state.status())) {
            JobState placeholder;  // Listed by id only; Get says DATA_LOSS.
            placeholder.mutable_job()->set_job_id(id);
            state = std::move(placeholder);
          }
          if (!state.ok()) return state.status();
          page.push_back(*std::move(state));
        }
        return page;
      });
}

}  // namespace autolrs::server
