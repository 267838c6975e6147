// SqliteJobStore beyond the shared conformance suite: its lock, its schema
// migration, what it writes per update, and how it detects corruption, a
// vanished file and storage errors.
#include "server/sqlite_job_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/sqlite_schema.h"
#include "server/sqlite_util.h"

namespace autolrs::server {
namespace {

std::string FreshPath(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  return path;
}

JobState MakeJob(const std::string& id, int stages, const std::string& marker = "") {
  JobState s;
  s.set_version(1);
  s.mutable_job()->set_job_id(id);
  s.mutable_job()->set_steps_spent(100);
  s.mutable_action()->set_job_id(marker.empty() ? id : marker);
  for (int i = 0; i < stages; ++i) {
    v1::Stage* stage = s.mutable_schedule()->add_stages();
    stage->set_index(i);
    stage->add_probes()->set_lr(0.001 * (i + 1));
  }
  return s;
}

FamilyState MakeFamily(const std::string& name, int64_t version, const std::string& marker = "") {
  FamilyState s;
  s.set_version(version);
  s.mutable_family()->set_tenant("acme");
  s.mutable_family()->set_name(name);
  s.mutable_family()->add_runs()->set_job_id(marker.empty() ? name + "-run" : marker);
  return s;
}

// Runs `sql` on the database at `path` outside the store.
void RunSql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_TRUE(Exec(db, sql).ok()) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

std::unique_ptr<SqliteJobStore> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

std::string ReadFile(const std::string& path) {
  std::stringstream bytes;
  bytes << std::ifstream(path, std::ios::binary).rdbuf();
  return bytes.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(SqliteJobStoreTest, SecondOpenOfTheSameFileIsRefused) {
  const std::string path = FreshPath("locked.db");
  auto first = OpenOrDie(path);
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> second = SqliteJobStore::Open(path);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_NE(second.status().message().find("in use by another process"), absl::string_view::npos);
  first.reset();
  EXPECT_TRUE(SqliteJobStore::Open(path).ok()) << "the lock outlived the store";
}

// Bytes of one job's record changed on disk (the SQLite file itself stays
// valid): that job answers DATA_LOSS, the others are served, List lists all.
TEST(SqliteJobStoreTest, CorruptRecordIsDataLossForThatJobOnly) {
  const std::string path = FreshPath("corrupt_record.db");
  {
    auto store = OpenOrDie(path);
    ASSERT_TRUE(store->Insert(MakeJob("a", 2)).ok());
    ASSERT_TRUE(store->Insert(MakeJob("b", 2, "MARKER-OF-JOB-B")).ok());
    ASSERT_TRUE(store->Insert(MakeJob("c", 2)).ok());
  }  // Closing checkpoints the WAL into the file.
  std::string bytes = ReadFile(path);
  const size_t at = bytes.find("MARKER-OF-JOB-B");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'X';  // Still parses: only a checksum can tell.
  WriteFile(path, bytes);

  auto store = OpenOrDie(path);
  absl::StatusOr<JobState> b = store->Get("b");
  EXPECT_TRUE(absl::IsDataLoss(b.status())) << b.status();
  EXPECT_TRUE(store->Get("a").ok());
  EXPECT_TRUE(store->Get("c").ok());
  absl::StatusOr<std::vector<JobState>> page = store->List("", 10);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].version(), 1);
  EXPECT_EQ((*page)[1].job().job_id(), "b");
  EXPECT_EQ((*page)[1].version(), 0) << "a corrupt job is listed as a placeholder";
  EXPECT_EQ((*page)[2].version(), 1);
}

// A family record's bytes changed on disk, or its row moved to another name
// or version: DATA_LOSS for that family only, listed as a placeholder.
TEST(SqliteJobStoreTest, CorruptFamilyRecordIsDataLossForThatFamilyOnly) {
  const std::string path = FreshPath("corrupt_family.db");
  {
    auto store = OpenOrDie(path);
    ASSERT_TRUE(store->PutFamily(MakeFamily("a", 1)).ok());
    ASSERT_TRUE(store->PutFamily(MakeFamily("b", 1, "MARKER-OF-FAMILY-B")).ok());
    ASSERT_TRUE(store->PutFamily(MakeFamily("c", 1)).ok());
    ASSERT_TRUE(store->PutFamily(MakeFamily("d", 1)).ok());
    ASSERT_TRUE(store->PutFamily(MakeFamily("e", 1)).ok());
  }  // Closing checkpoints the WAL into the file.
  std::string bytes = ReadFile(path);
  const size_t at = bytes.find("MARKER-OF-FAMILY-B");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'X';  // Still parses: only the checksum can tell.
  WriteFile(path, bytes);
  // Rows that no longer match their record: another name, another version.
  RunSql(path,
         "UPDATE families SET name = 'cc' WHERE name = 'c'; "
         "UPDATE families SET version = 7 WHERE name = 'd';");

  auto store = OpenOrDie(path);
  for (const char* name : {"b", "cc", "d"}) {
    absl::StatusOr<FamilyState> got = store->GetFamily("acme", name);
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << name << ": " << got.status();
    EXPECT_NE(got.status().message().find(std::string("family '") + name + "' of tenant 'acme'"),
              absl::string_view::npos)
        << got.status();
  }
  EXPECT_TRUE(store->GetFamily("acme", "a").ok());
  EXPECT_TRUE(store->GetFamily("acme", "e").ok());
  absl::StatusOr<std::vector<FamilyState>> page = store->ListFamilies("acme", "", 10);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 5u);
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"a", 1}, {"b", 0}, {"cc", 0}, {"d", 0}, {"e", 1}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ((*page)[i].family().name(), expected[i].first);
    EXPECT_EQ((*page)[i].family().tenant(), "acme");
    EXPECT_EQ((*page)[i].version(), expected[i].second) << "a corrupt family is a placeholder";
  }
  EXPECT_EQ((*page)[1].family().runs_size(), 0);
  // A corrupt family can be deleted and written again.
  ASSERT_TRUE(store->DeleteFamily("acme", "b").ok());
  ASSERT_TRUE(store->PutFamily(MakeFamily("b", 1)).ok());
  EXPECT_TRUE(store->GetFamily("acme", "b").ok());
}

TEST(SqliteJobStoreTest, DamagedFileFailsTheIntegrityCheckAtOpen) {
  const std::string path = FreshPath("damaged.db");
  {
    auto store = OpenOrDie(path);
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(store->Insert(MakeJob("job-" + std::to_string(i), 3)).ok());
    }
  }
  std::string bytes = ReadFile(path);
  ASSERT_GT(bytes.size(), 6u * 4096);
  // Overwrite a page in the middle of the file (page size 4096).
  for (size_t i = 4 * 4096; i < 5 * 4096; ++i) bytes[i] = '\x5a';
  WriteFile(path, bytes);
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
}

TEST(SqliteJobStoreTest, DeletedFileFailsEveryLaterCall) {
  const std::string path = FreshPath("deleted.db");
  auto store = OpenOrDie(path);
  ASSERT_TRUE(store->Insert(MakeJob("a", 1)).ok());
  ASSERT_TRUE(store->CheckHealth().ok());
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  absl::Status s = store->Insert(MakeJob("b", 1));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("was deleted"), absl::string_view::npos) << s;
  JobState a2 = MakeJob("a", 2);
  a2.set_version(2);
  EXPECT_TRUE(absl::IsUnavailable(store->Update(a2)));
  EXPECT_TRUE(absl::IsUnavailable(store->Get("a").status()));
  EXPECT_TRUE(absl::IsUnavailable(store->CheckHealth()));
}

TEST(SqliteJobStoreTest, ReplacedFileFailsEveryLaterCall) {
  const std::string path = FreshPath("replaced.db");
  const std::string other = FreshPath("other.db");
  { auto store = OpenOrDie(other); }
  auto store = OpenOrDie(path);
  ASSERT_TRUE(store->Insert(MakeJob("a", 1)).ok());
  ASSERT_EQ(std::rename(other.c_str(), path.c_str()), 0);
  absl::Status s = store->Insert(MakeJob("b", 1));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("was replaced"), absl::string_view::npos) << s;
  EXPECT_TRUE(absl::IsUnavailable(store->CheckHealth()));
}

// An update writes the head and the stages from the last stored one on: a
// (contract-breaking) change to an earlier stage is not written, which shows
// the earlier stages are not rewritten.
TEST(SqliteJobStoreTest, UpdateWritesOnlyTheLastStoredStageOnward) {
  const std::string path = FreshPath("incremental.db");
  auto store = OpenOrDie(path);
  ASSERT_TRUE(store->Insert(MakeJob("a", 5)).ok());
  JobState next = MakeJob("a", 6);
  next.set_version(2);
  for (int i = 0; i < 6; ++i) next.mutable_schedule()->mutable_stages(i)->set_chosen_lr(0.5);
  ASSERT_TRUE(store->Update(next).ok());
  absl::StatusOr<JobState> got = store->Get("a");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->schedule().stages_size(), 6);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got->schedule().stages(i).chosen_lr(), 0) << i;
  EXPECT_EQ(got->schedule().stages(4).chosen_lr(), 0.5);
  EXPECT_EQ(got->schedule().stages(5).chosen_lr(), 0.5);
  // Fewer stages than stored: the extra rows go.
  JobState shorter = MakeJob("a", 2);
  shorter.set_version(3);
  ASSERT_TRUE(store->Update(shorter).ok());
  got = store->Get("a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->schedule().stages_size(), 2);
}

// A database written by the single-blob schema (version 1) opens, and its
// jobs read back whole; an unparseable blob becomes DATA_LOSS for its job.
TEST(SqliteJobStoreTest, MigratesTheSingleBlobSchema) {
  const std::string path = FreshPath("schema1.db");
  const JobState good = MakeJob("good", 3);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_TRUE(Exec(db, R"sql(
      CREATE TABLE jobs (job_id TEXT PRIMARY KEY NOT NULL, request_id TEXT UNIQUE,
        version INTEGER NOT NULL, state INTEGER NOT NULL, update_time_ms INTEGER NOT NULL,
        blob BLOB NOT NULL);
      PRAGMA user_version = 1;)sql")
                    .ok());
    Statement ins(db, "INSERT INTO jobs VALUES (?1, ?2, 1, 1, 0, ?3);");
    ins.Bind(1, "good");
    ins.Bind(2, "req-good");
    ins.BindBlob(3, good.SerializeAsString());
    ASSERT_EQ(ins.Step(), SQLITE_DONE);
    Statement bad(db, "INSERT INTO jobs VALUES ('bad', NULL, 1, 1, 0, x'ffffffff');");
    ASSERT_EQ(bad.Step(), SQLITE_DONE);
    sqlite3_close(db);
  }
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<JobState> got = store->Get("good");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), good.SerializeAsString());
  auto found = store->FindByRequestId("req-good");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_TRUE(absl::IsDataLoss(store->Get("bad").status()));
  absl::StatusOr<std::vector<JobState>> page = store->List("", 10);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->size(), 2u);
  JobState next = MakeJob("good", 4);
  next.set_version(2);
  ASSERT_TRUE(store->Update(next).ok());
  ASSERT_TRUE(store->PutFamily(MakeFamily("f", 1)).ok());  // Schema 3 too.
  store.reset();
  store = OpenOrDie(path);
  got = store->Get("good");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), next.SerializeAsString());
  EXPECT_TRUE(store->GetFamily("acme", "f").ok());
}

// A database written by schema 2 (jobs and stages, no families) opens at
// schema 3: its jobs are intact and families can be kept.
TEST(SqliteJobStoreTest, MigratesSchema2ToFamilies) {
  const std::string path = FreshPath("schema2.db");
  const JobState job = MakeJob("old", 3);
  {
    auto store = OpenOrDie(path);
    ASSERT_TRUE(store->Insert(job).ok());
  }
  // Back to schema 2 exactly: the schema-3 step only added this table.
  RunSql(path, "DROP TABLE families; PRAGMA user_version = 2;");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    Statement q(db, "SELECT count(*) FROM sqlite_master WHERE name = 'families';");
    ASSERT_EQ(q.Step(), SQLITE_ROW);
    EXPECT_EQ(q.ColumnInt(0), 0);
    sqlite3_close(db);
  }
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<JobState> got = store->Get("old");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), job.SerializeAsString());
  EXPECT_TRUE(absl::IsNotFound(store->GetFamily("acme", "f").status()));
  ASSERT_TRUE(store->PutFamily(MakeFamily("f", 1)).ok());
  store.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    Statement q(db, "PRAGMA user_version;");
    ASSERT_EQ(q.Step(), SQLITE_ROW);
    EXPECT_EQ(q.ColumnInt(0), kSqliteSchemaVersion);
    EXPECT_EQ(kSqliteSchemaVersion, 3);
    sqlite3_close(db);
  }
  store = OpenOrDie(path);
  absl::StatusOr<FamilyState> family = store->GetFamily("acme", "f");
  ASSERT_TRUE(family.ok()) << family.status();
  EXPECT_EQ(family->SerializeAsString(), MakeFamily("f", 1).SerializeAsString());
}

TEST(SqliteJobStoreTest, StorageErrorsAreUnavailableAndCorruptionIsDataLoss) {
  EXPECT_TRUE(absl::IsUnavailable(SqliteStatus(SQLITE_FULL, "commit", "disk full")));
  EXPECT_TRUE(absl::IsUnavailable(SqliteStatus(SQLITE_IOERR_WRITE, "commit", "io")));
  EXPECT_TRUE(absl::IsUnavailable(SqliteStatus(SQLITE_IOERR_FSYNC, "commit", "io")));
  EXPECT_TRUE(absl::IsUnavailable(SqliteStatus(SQLITE_BUSY, "begin", "busy")));
  EXPECT_TRUE(absl::IsUnavailable(SqliteStatus(SQLITE_LOCKED, "begin", "locked")));
  EXPECT_TRUE(absl::IsUnavailable(SqliteStatus(SQLITE_CANTOPEN, "open", "cannot")));
  EXPECT_TRUE(absl::IsDataLoss(SqliteStatus(SQLITE_CORRUPT, "read", "corrupt")));
  EXPECT_TRUE(absl::IsDataLoss(SqliteStatus(SQLITE_NOTADB, "read", "not a db")));
  EXPECT_TRUE(absl::IsInternal(SqliteStatus(SQLITE_ERROR, "prepare", "syntax")));
}

}  // namespace
}  // namespace autolrs::server
