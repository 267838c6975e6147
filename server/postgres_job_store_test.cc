// PostgreSQL-only behaviour of PostgresJobStore against a real server
// (testing/postgres_process.h); the shared contract is job_store_test.cc.
#include "server/postgres_job_store.h"

#include <postgresql/libpq-fe.h>
#include <signal.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/postgres_connection.h"
#include "testing/postgres_process.h"

namespace autolrs::server {
namespace {

using ::autolrs::testing::SharedPostgres;

JobState MakeState(const std::string& id, int64_t version) {
  JobState s;
  s.set_version(version);
  s.mutable_job()->set_job_id(id);
  s.mutable_job()->set_steps_spent(version * 10);
  s.mutable_schedule()->add_stages()->set_tau(version);
  return s;
}

std::string NewDatabase(const std::string& name) {
  absl::StatusOr<std::string> uri = SharedPostgres().CreateDatabase(name);
  EXPECT_TRUE(uri.ok()) << uri.status();
  return uri.value_or("");
}

// Runs `sql` on `uri` outside the store.
void RunSql(const std::string& uri, const std::string& sql) {
  PGconn* conn = PQconnectdb(uri.c_str());
  PGresult* r = PQexec(conn, sql.c_str());
  EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
      << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(conn);
}

TEST(PostgresJobStoreTest, RefusesADatabaseFromANewerSchema) {
  const std::string uri = NewDatabase("newer_schema");
  { ASSERT_TRUE(PostgresJobStore::Open(uri).ok()); }
  RunSql(uri, "UPDATE autolrs_meta SET value = 99 WHERE key = 'schema_version'");
  auto store = PostgresJobStore::Open(uri);
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
}

TEST(PostgresJobStoreTest, ReplicasOpeningTogetherMigrateOnce) {
  const std::string uri = NewDatabase("migrate_together");
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = PostgresJobStore::Open(uri);
      EXPECT_TRUE(store.ok()) << store.status();
      if (store.ok()) ++opened;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened.load(), 4);
}

TEST(PostgresJobStoreTest, BadOrUnreachableUris) {
  EXPECT_TRUE(absl::IsInvalidArgument(
      PostgresJobStore::Open("postgresql://u@h/db?no_such_option=1").status()));
  // Nothing listens on port 1.
  auto store = PostgresJobStore::Open("postgresql://postgres@127.0.0.1:1/x");
  EXPECT_TRUE(absl::IsUnavailable(store.status())) << store.status();
}

TEST(PostgresJobStoreTest, PasswordsAreRedactedInMessages) {
  EXPECT_EQ(RedactPostgresUri("postgresql://u:secret@h:5432/db?sslmode=require"),
            "postgresql://u:***@h:5432/db?sslmode=require");
  EXPECT_EQ(RedactPostgresUri("postgresql://h/db?user=u&password=secret&x=1"),
            "postgresql://h/db?user=u&password=***&x=1");
  EXPECT_EQ(RedactPostgresUri("postgresql://u@h/db"), "postgresql://u@h/db");
  auto store = PostgresJobStore::Open("postgresql://postgres:secret@127.0.0.1:1/x");
  EXPECT_EQ(std::string(store.status().message()).find("secret"), std::string::npos)
      << store.status();
}

TEST(PostgresJobStoreTest, CorruptRecordsAreDataLossForThatJobOnly) {
  const std::string uri = NewDatabase("corrupt");
  auto store = PostgresJobStore::Open(uri);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Insert(MakeState("a", 1)).ok());
  ASSERT_TRUE((*store)->Insert(MakeState("b", 1)).ok());
  RunSql(uri, "UPDATE autolrs_stages SET blob = '\\x0102' WHERE job_id = 'a'");
  EXPECT_TRUE(absl::IsDataLoss((*store)->Get("a").status())) << (*store)->Get("a").status();
  EXPECT_TRUE((*store)->Get("b").ok());
  auto all = (*store)->List("", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].version(), 0);  // The placeholder.
  EXPECT_EQ((*all)[1].version(), 1);
}

FamilyState MakeFamily(const std::string& name, int64_t version) {
  FamilyState s;
  s.set_version(version);
  s.mutable_family()->set_tenant("acme");
  s.mutable_family()->set_name(name);
  s.mutable_family()->add_runs()->set_job_id(name + "-run");
  return s;
}

// A family's record replaced by bytes that fail their checksum, or moved to
// another name: DATA_LOSS for that family only, listed as a placeholder.
TEST(PostgresJobStoreTest, CorruptFamilyRecordsAreDataLossForThatFamilyOnly) {
  const std::string uri = NewDatabase("corrupt_family");
  auto store = PostgresJobStore::Open(uri);
  ASSERT_TRUE(store.ok()) << store.status();
  for (const char* name : {"a", "b", "c", "d"}) {
    ASSERT_TRUE((*store)->PutFamily(MakeFamily(name, 1)).ok());
  }
  RunSql(uri, "UPDATE autolrs_families SET record = '\\x0102' WHERE name = 'a'");
  RunSql(uri, "UPDATE autolrs_families SET name = 'cc' WHERE name = 'c'");
  for (const char* name : {"a", "cc"}) {
    absl::StatusOr<FamilyState> got = (*store)->GetFamily("acme", name);
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << name << ": " << got.status();
  }
  EXPECT_TRUE((*store)->GetFamily("acme", "b").ok());
  auto all = (*store)->ListFamilies("acme", "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].family().name(), "a");
  EXPECT_EQ((*all)[0].version(), 0);  // The placeholder.
  EXPECT_EQ((*all)[1].version(), 1);
  EXPECT_EQ((*all)[2].family().name(), "cc");
  EXPECT_EQ((*all)[2].family().tenant(), "acme");
  EXPECT_EQ((*all)[2].version(), 0);
  EXPECT_EQ((*all)[3].version(), 1);
}

// A database at schema 1 (jobs and stages, no families) migrates to schema 2
// when a store opens it: its jobs are intact and families can be kept.
TEST(PostgresJobStoreTest, MigratesSchema1ToFamilies) {
  const std::string uri = NewDatabase("schema1_families");
  {
    auto store = PostgresJobStore::Open(uri);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Insert(MakeState("old", 1)).ok());
  }
  // Back to schema 1 exactly: the schema-2 step only added this table.
  RunSql(uri,
         "DROP TABLE autolrs_families; "
         "UPDATE autolrs_meta SET value = 1 WHERE key = 'schema_version'");
  auto store = PostgresJobStore::Open(uri);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<JobState> job = (*store)->Get("old");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->SerializeAsString(), MakeState("old", 1).SerializeAsString());
  EXPECT_TRUE(absl::IsNotFound((*store)->GetFamily("acme", "f").status()));
  ASSERT_TRUE((*store)->PutFamily(MakeFamily("f", 1)).ok());
  ASSERT_TRUE((*store)->PutFamily(MakeFamily("f", 2)).ok());
  EXPECT_EQ((*store)->GetFamily("acme", "f")->version(), 2);
  PGconn* conn = PQconnectdb(uri.c_str());
  PGresult* r = PQexec(conn, "SELECT value FROM autolrs_meta WHERE key = 'schema_version'");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 0)), "2");
  PQclear(r);
  PQfinish(conn);
}

TEST(PostgresJobStoreTest, ReportsTakeOneStatementAndBiggerChangesStillLand) {
  auto store = PostgresJobStore::Open(NewDatabase("one_statement"));
  ASSERT_TRUE(store.ok()) << store.status();
  JobState s = MakeState("a", 1);  // One stage.
  ASSERT_TRUE((*store)->Insert(s).ok());
  auto update = [&](int stages_added, int64_t last_tau) {
    s.set_version(s.version() + 1);
    for (int i = 0; i < stages_added; ++i) s.mutable_schedule()->add_stages();
    s.mutable_schedule()->mutable_stages(s.schedule().stages_size() - 1)->set_tau(last_tau);
    ASSERT_TRUE((*store)->Update(s).ok());
    absl::StatusOr<JobState> got = (*store)->Get("a");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->SerializeAsString(), s.SerializeAsString());
  };
  update(0, 5);  // The last stage grew.
  update(1, 6);  // A stage was added.
  EXPECT_EQ((*store)->one_statement_updates(), 2);
  update(3, 7);  // Three at once: the transaction.
  EXPECT_EQ((*store)->one_statement_updates(), 2);
  update(1, 8);
  EXPECT_EQ((*store)->one_statement_updates(), 3);
  EXPECT_TRUE(absl::IsAborted((*store)->Update(s)));  // Same version again.
}

// Two stores on one database stand for two replicas: read-modify-write
// loops that retry on ABORTED each land exactly once.
TEST(PostgresJobStoreTest, TwoReplicasRacingOnOneJobApplyEveryChangeOnce) {
  const std::string uri = NewDatabase("race");
  auto a = PostgresJobStore::Open(uri);
  auto b = PostgresJobStore::Open(uri);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Insert(MakeState("j", 1)).ok());
  constexpr int kThreads = 6, kIncrements = 15;
  std::atomic<int> aborted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    JobStore* store = (t % 2 == 0 ? *a : *b).get();
    threads.emplace_back([&, store] {
      for (int i = 0; i < kIncrements;) {
        absl::StatusOr<JobState> s = store->Get("j");
        ASSERT_TRUE(s.ok()) << s.status();
        s->set_version(s->version() + 1);
        s->mutable_job()->set_steps_spent(s->job().steps_spent() + 1);
        s->mutable_schedule()->add_stages()->set_tau(s->version());
        const absl::Status written = store->Update(*s);
        if (absl::IsAborted(written)) {
          ++aborted;
          continue;
        }
        ASSERT_TRUE(written.ok()) << written;
        ++i;
      }
    });
  }
  for (auto& t : threads) t.join();
  absl::StatusOr<JobState> final_state = (*a)->Get("j");
  ASSERT_TRUE(final_state.ok());
  EXPECT_EQ(final_state->version(), 1 + kThreads * kIncrements);
  EXPECT_EQ(final_state->job().steps_spent(), 10 + kThreads * kIncrements);
  EXPECT_EQ(final_state->schedule().stages_size(), 1 + kThreads * kIncrements);
  EXPECT_GT(aborted.load(), 0) << "the replicas never raced";
}

// The database goes down (fast shutdown, then a crash): calls fail with
// UNAVAILABLE meanwhile; once it is back, the same store works without
// being reopened and nothing acknowledged is lost.
TEST(PostgresJobStoreTest, SurvivesDatabaseRestartsAndCrashes) {
  const std::string uri = NewDatabase("restart");
  auto store = PostgresJobStore::Open(uri);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Insert(MakeState("a", 1)).ok());
  int64_t version = 1;
  for (int signal : {SIGINT, SIGKILL}) {
    SCOPED_TRACE(signal == SIGINT ? "fast shutdown" : "crash");
    ASSERT_TRUE((*store)->Update(MakeState("a", ++version)).ok());
    SharedPostgres().Stop(signal);
    EXPECT_TRUE(absl::IsUnavailable((*store)->Get("a").status())) << (*store)->Get("a").status();
    EXPECT_TRUE(absl::IsUnavailable((*store)->Update(MakeState("a", version + 1))));
    EXPECT_TRUE(absl::IsUnavailable((*store)->CheckHealth()));
    ASSERT_TRUE(SharedPostgres().Restart().ok());
    EXPECT_TRUE((*store)->CheckHealth().ok());
    absl::StatusOr<JobState> got = (*store)->Get("a");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->version(), version);
    EXPECT_EQ(got->schedule().stages(0).tau(), version);
  }
  // Pooled connections that broke while idle are replaced without a failed
  // call: several threads at once use the healed pool.
  SharedPostgres().Stop(SIGINT);
  ASSERT_TRUE(SharedPostgres().Restart().ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] { EXPECT_TRUE((*store)->GetVersion("a").ok()); });
  }
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace autolrs::server
