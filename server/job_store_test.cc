// One conformance suite that every JobStore implementation passes.
#include "server/job_store.h"

#include <sqlite3.h>

#include <cctype>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/memory_job_store.h"
#include "server/postgres_job_store.h"
#include "server/sqlite_job_store.h"
#include "testing/postgres_process.h"

namespace autolrs::server {
namespace {

JobState MakeState(const std::string& id, int64_t version, const std::string& request_id = "") {
  JobState s;
  s.set_version(version);
  s.set_request_id(request_id);
  s.mutable_job()->set_job_id(id);
  s.mutable_job()->set_steps_spent(version * 10);
  return s;
}

// A new database name for the current test ([a-z0-9_]).
std::string DatabaseForTest() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  static int counter = 0;
  std::string name = "t" + std::to_string(++counter) + "_" + info->name();
  for (char& c : name) {
    c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(static_cast<unsigned char>(c))
                                                    : '_';
  }
  return name.substr(0, 63);
}

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<JobStore>(const std::string& dir)> make;
};

void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

class JobStoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    dir_ = ::testing::TempDir() + "/" + name;
    std::remove((dir_ + ".db").c_str());
    store_ = GetParam().make(dir_ + ".db");
    ASSERT_NE(store_, nullptr);
  }
  std::string dir_;
  std::unique_ptr<JobStore> store_;
};

TEST_P(JobStoreConformanceTest, InsertThenGet) {
  ASSERT_TRUE(store_->Insert(MakeState("a", 1)).ok());
  absl::StatusOr<JobState> got = store_->Get("a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->job().job_id(), "a");
  EXPECT_EQ(got->version(), 1);
  EXPECT_EQ(got->job().steps_spent(), 10);
}

TEST_P(JobStoreConformanceTest, InsertRejectsTakenIdsAndRequestIdsAndBadVersions) {
  ASSERT_TRUE(store_->Insert(MakeState("a", 1, "req-1")).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->Insert(MakeState("a", 1))));
  EXPECT_TRUE(absl::IsAlreadyExists(store_->Insert(MakeState("b", 1, "req-1"))));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Insert(MakeState("c", 2))));
  EXPECT_TRUE(absl::IsNotFound(store_->Get("b").status()));
}

TEST_P(JobStoreConformanceTest, GetUnknownIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(store_->Get("nope").status()));
}

TEST_P(JobStoreConformanceTest, FindByRequestId) {
  ASSERT_TRUE(store_->Insert(MakeState("a", 1, "req-1")).ok());
  ASSERT_TRUE(store_->Insert(MakeState("b", 1)).ok());
  auto found = store_->FindByRequestId("req-1");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->job().job_id(), "a");
  auto missing = store_->FindByRequestId("req-2");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  // An empty request id never matches the jobs created without one.
  auto empty = store_->FindByRequestId("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
}

TEST_P(JobStoreConformanceTest, UpdateIsCompareAndSwapOnVersion) {
  ASSERT_TRUE(store_->Insert(MakeState("a", 1)).ok());
  ASSERT_TRUE(store_->Update(MakeState("a", 2)).ok());
  // A writer still at version 1 lost the race.
  EXPECT_TRUE(absl::IsAborted(store_->Update(MakeState("a", 2))));
  EXPECT_TRUE(absl::IsAborted(store_->Update(MakeState("a", 4))));
  EXPECT_EQ(store_->Get("a")->version(), 2);
  EXPECT_EQ(store_->Get("a")->job().steps_spent(), 20);
  EXPECT_TRUE(absl::IsNotFound(store_->Update(MakeState("zz", 2))));
}

TEST_P(JobStoreConformanceTest, DeleteRemovesTheJobAndItsRequestId) {
  ASSERT_TRUE(store_->Insert(MakeState("a", 1, "req-1")).ok());
  ASSERT_TRUE(store_->Delete("a").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Get("a").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Delete("a")));
  EXPECT_FALSE(store_->FindByRequestId("req-1")->has_value());
  EXPECT_TRUE(store_->Insert(MakeState("a", 1, "req-1")).ok());
}

TEST_P(JobStoreConformanceTest, ListPagesInJobIdOrder) {
  for (const char* id : {"d", "b", "a", "e", "c"})
    ASSERT_TRUE(store_->Insert(MakeState(id, 1)).ok());
  auto first = store_->List("", 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].job().job_id(), "a");
  EXPECT_EQ((*first)[1].job().job_id(), "b");
  auto rest = store_->List("b", 10);
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[2].job().job_id(), "e");
  EXPECT_TRUE(store_->List("e", 10)->empty());
}

TEST_P(JobStoreConformanceTest, SchedulesGrowChangeTheirLastStageAndShrink) {
  auto with_stages = [](int64_t version, std::vector<int64_t> steps) {
    JobState s = MakeState("a", version);
    for (int64_t n : steps) s.mutable_schedule()->add_stages()->set_tau(n);
    return s;
  };
  auto stored_steps = [&]() {
    std::vector<int64_t> steps;
    absl::StatusOr<JobState> got = store_->Get("a");
    EXPECT_TRUE(got.ok()) << got.status();
    if (got.ok()) {
      for (const auto& stage : got->schedule().stages()) steps.push_back(stage.tau());
    }
    return steps;
  };
  ASSERT_TRUE(store_->Insert(with_stages(1, {10, 20})).ok());
  EXPECT_EQ(stored_steps(), (std::vector<int64_t>{10, 20}));
  ASSERT_TRUE(store_->Update(with_stages(2, {10, 25, 30, 40})).ok());
  EXPECT_EQ(stored_steps(), (std::vector<int64_t>{10, 25, 30, 40}));
  ASSERT_TRUE(store_->Update(with_stages(3, {10, 25, 30, 45})).ok());
  EXPECT_EQ(stored_steps(), (std::vector<int64_t>{10, 25, 30, 45}));
  ASSERT_TRUE(store_->Update(with_stages(4, {10})).ok());
  EXPECT_EQ(stored_steps(), (std::vector<int64_t>{10}));
  EXPECT_EQ(store_->List("", 10)->at(0).schedule().stages_size(), 1);
  // A job created again under a deleted job's id starts from its own stages.
  ASSERT_TRUE(store_->Delete("a").ok());
  ASSERT_TRUE(store_->Insert(with_stages(1, {7})).ok());
  EXPECT_EQ(stored_steps(), (std::vector<int64_t>{7}));
}

TEST_P(JobStoreConformanceTest, GetVersionIsTheStoredVersion) {
  ASSERT_TRUE(store_->Insert(MakeState("a", 1)).ok());
  ASSERT_TRUE(store_->Update(MakeState("a", 2)).ok());
  absl::StatusOr<int64_t> version = store_->GetVersion("a");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 2);
  EXPECT_TRUE(absl::IsNotFound(store_->GetVersion("b").status()));
}

TEST_P(JobStoreConformanceTest, ConcurrentWritersEachLandExactlyOnce) {
  constexpr int kThreads = 8, kJobsPerThread = 20, kUpdates = 5;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < kJobsPerThread; ++j) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(j);
        ASSERT_TRUE(store_->Insert(MakeState(id, 1)).ok());
        for (int v = 2; v <= kUpdates + 1; ++v) ASSERT_TRUE(store_->Update(MakeState(id, v)).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto all = store_->List("", 1000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), kThreads * kJobsPerThread);
  for (const JobState& s : *all) EXPECT_EQ(s.version(), kUpdates + 1);
}

// Families: one record per (tenant, name), compare-and-swap on version.
FamilyState MakeFamily(const std::string& tenant, const std::string& name, int64_t version,
                       int runs = 1) {
  FamilyState s;
  s.set_version(version);
  s.mutable_family()->set_tenant(tenant);
  s.mutable_family()->set_name(name);
  s.mutable_family()->set_runs_recorded(version * 100 + runs);
  for (int i = 0; i < runs; ++i) {
    v1::FamilyRun* run = s.mutable_family()->add_runs();
    run->set_job_id(name + "-run-" + std::to_string(i));
    run->set_seed(i);
    v1::FamilyStage* stage = run->add_stages();
    stage->set_start_progress(0.1 * i);
    stage->set_lr(0.01 * (i + 1));
  }
  return s;
}

std::vector<std::string> FamilyNames(const absl::StatusOr<std::vector<FamilyState>>& page) {
  std::vector<std::string> names;
  EXPECT_TRUE(page.ok()) << page.status();
  if (page.ok()) {
    for (const FamilyState& f : *page) names.push_back(f.family().name());
  }
  return names;
}

TEST_P(JobStoreConformanceTest, FamilyPutThenGetRoundTrips) {
  const FamilyState family = MakeFamily("", "resnet", 1, 3);
  ASSERT_TRUE(store_->PutFamily(family).ok());
  absl::StatusOr<FamilyState> got = store_->GetFamily("", "resnet");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), family.SerializeAsString());
  // Jobs and families are separate: a job of the same name is another record.
  EXPECT_TRUE(absl::IsNotFound(store_->Get("resnet").status()));
}

TEST_P(JobStoreConformanceTest, FamilyInsertRejectsTakenNamesAndBadInput) {
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 1)).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->PutFamily(MakeFamily("", "f", 1, 2))));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->PutFamily(MakeFamily("", "g", 0))));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->PutFamily(MakeFamily("", "g", -3))));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->PutFamily(MakeFamily("", "", 1))));
  EXPECT_EQ(store_->GetFamily("", "f")->family().runs_size(), 1);
  EXPECT_TRUE(absl::IsNotFound(store_->GetFamily("", "g").status()));
  EXPECT_TRUE(FamilyNames(store_->ListFamilies("", "", 10)) == std::vector<std::string>{"f"});
}

TEST_P(JobStoreConformanceTest, FamilyPutIsCompareAndSwapOnVersion) {
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 1)).ok());
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 2, 2)).ok());
  // A writer still at version 1 lost the race; one from the future too.
  EXPECT_TRUE(absl::IsAborted(store_->PutFamily(MakeFamily("", "f", 2, 5))));
  EXPECT_TRUE(absl::IsAborted(store_->PutFamily(MakeFamily("", "f", 4, 5))));
  absl::StatusOr<FamilyState> got = store_->GetFamily("", "f");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), MakeFamily("", "f", 2, 2).SerializeAsString());
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 3, 4)).ok());
  EXPECT_EQ(store_->GetFamily("", "f")->version(), 3);
  EXPECT_EQ(store_->GetFamily("", "f")->family().runs_size(), 4);
}

TEST_P(JobStoreConformanceTest, MissingFamilyIsNotFoundForEveryCall) {
  EXPECT_TRUE(absl::IsNotFound(store_->GetFamily("", "nope").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->PutFamily(MakeFamily("", "nope", 2))));
  EXPECT_TRUE(absl::IsNotFound(store_->DeleteFamily("", "nope")));
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 1)).ok());
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 2)).ok());
  ASSERT_TRUE(store_->DeleteFamily("", "f").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->GetFamily("", "f").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->PutFamily(MakeFamily("", "f", 3))));
  EXPECT_TRUE(absl::IsNotFound(store_->DeleteFamily("", "f")));
  EXPECT_TRUE(store_->ListFamilies("", "", 10)->empty());
  // The name is free again, from version 1.
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 1, 2)).ok());
  EXPECT_EQ(store_->GetFamily("", "f")->family().runs_size(), 2);
}

TEST_P(JobStoreConformanceTest, FamiliesOfDifferentTenantsAreSeparate) {
  ASSERT_TRUE(store_->PutFamily(MakeFamily("t", "f", 1, 1)).ok());
  ASSERT_TRUE(store_->PutFamily(MakeFamily("t1", "f", 1, 2)).ok());
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 1, 3)).ok());
  ASSERT_TRUE(store_->PutFamily(MakeFamily("t1", "g", 1)).ok());
  EXPECT_EQ(store_->GetFamily("t", "f")->family().runs_size(), 1);
  EXPECT_EQ(store_->GetFamily("t1", "f")->family().runs_size(), 2);
  EXPECT_EQ(store_->GetFamily("", "f")->family().runs_size(), 3);
  EXPECT_TRUE(absl::IsNotFound(store_->GetFamily("t", "g").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->GetFamily("other", "f").status()));
  // Each tenant's versions are its own.
  ASSERT_TRUE(store_->PutFamily(MakeFamily("t", "f", 2)).ok());
  EXPECT_TRUE(absl::IsAborted(store_->PutFamily(MakeFamily("t1", "f", 3))));
  EXPECT_EQ(store_->GetFamily("t1", "f")->version(), 1);
  EXPECT_TRUE(FamilyNames(store_->ListFamilies("t", "", 10)) == std::vector<std::string>{"f"});
  EXPECT_TRUE(FamilyNames(store_->ListFamilies("t1", "", 10)) ==
              (std::vector<std::string>{"f", "g"}));
  EXPECT_TRUE(FamilyNames(store_->ListFamilies("", "", 10)) == std::vector<std::string>{"f"});
  EXPECT_TRUE(store_->ListFamilies("other", "", 10)->empty());
  absl::StatusOr<std::vector<FamilyState>> t1 = store_->ListFamilies("t1", "", 10);
  ASSERT_TRUE(t1.ok()) << t1.status();
  for (const FamilyState& f : *t1) EXPECT_EQ(f.family().tenant(), "t1");
  ASSERT_TRUE(store_->DeleteFamily("t1", "f").ok());
  EXPECT_EQ(store_->GetFamily("t", "f")->version(), 2);
  EXPECT_EQ(store_->GetFamily("", "f")->version(), 1);
}

TEST_P(JobStoreConformanceTest, ListFamiliesPagesInNameOrder) {
  // Byte order: '-' < digits < '_' < letters.
  for (const char* name : {"zeta", "a_b", "alpha", "a-b", "a0", "mid"}) {
    ASSERT_TRUE(store_->PutFamily(MakeFamily("t", name, 1)).ok());
  }
  ASSERT_TRUE(store_->PutFamily(MakeFamily("u", "b", 1)).ok());
  EXPECT_TRUE(FamilyNames(store_->ListFamilies("t", "", 2)) ==
              (std::vector<std::string>{"a-b", "a0"}));
  EXPECT_TRUE(FamilyNames(store_->ListFamilies("t", "a0", 3)) ==
              (std::vector<std::string>{"a_b", "alpha", "mid"}));
  EXPECT_TRUE(FamilyNames(store_->ListFamilies("t", "mid", 3)) == std::vector<std::string>{"zeta"});
  EXPECT_TRUE(FamilyNames(store_->ListFamilies("t", "b", 10)) ==
              (std::vector<std::string>{"mid", "zeta"}));
  EXPECT_TRUE(store_->ListFamilies("t", "zeta", 10)->empty());
  // Paging through with the last name seen lists every family once.
  std::vector<std::string> all;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    std::vector<std::string> page = FamilyNames(store_->ListFamilies("t", after, 4));
    all.insert(all.end(), page.begin(), page.end());
    if (page.size() < 4) break;
    after = page.back();
  }
  EXPECT_TRUE(all == (std::vector<std::string>{"a-b", "a0", "a_b", "alpha", "mid", "zeta"}));
  absl::StatusOr<std::vector<FamilyState>> full = store_->ListFamilies("t", "", 10);
  ASSERT_TRUE(full.ok()) << full.status();
  for (const FamilyState& f : *full) {
    EXPECT_EQ(f.SerializeAsString(), MakeFamily("t", f.family().name(), 1).SerializeAsString());
  }
}

TEST_P(JobStoreConformanceTest, ConcurrentFamilyWritersEachLandExactlyOnce) {
  ASSERT_TRUE(store_->PutFamily(MakeFamily("", "f", 1, 0)).ok());
  constexpr int kThreads = 4, kRuns = 5;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRuns;) {
        absl::StatusOr<FamilyState> s = store_->GetFamily("", "f");
        ASSERT_TRUE(s.ok()) << s.status();
        s->set_version(s->version() + 1);
        s->mutable_family()->add_runs()->set_job_id("run");
        const absl::Status written = store_->PutFamily(*s);
        if (absl::IsAborted(written)) continue;
        ASSERT_TRUE(written.ok()) << written;
        ++i;
      }
    });
  }
  for (auto& t : threads) t.join();
  absl::StatusOr<FamilyState> got = store_->GetFamily("", "f");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->version(), 1 + kThreads * kRuns);
  EXPECT_EQ(got->family().runs_size(), kThreads * kRuns);
}

INSTANTIATE_TEST_SUITE_P(
    Stores, JobStoreConformanceTest,
    ::testing::Values(StoreFactory{"memory",
                                 [](const std::string&) -> std::unique_ptr<JobStore> {
                                   return std::make_unique<MemoryJobStore>();
                                 }},
                    StoreFactory{"sqlite",
                                 [](const std::string& path) -> std::unique_ptr<JobStore> {
                                   auto store = SqliteJobStore::Open(path);
                                   EXPECT_TRUE(store.ok()) << store.status();
                                   return store.ok() ? std::move(*store) : nullptr;
                                 }},
                    StoreFactory{"postgresql",
                                 [](const std::string&) -> std::unique_ptr<JobStore> {
                                   auto uri = ::autolrs::testing::SharedPostgres()
                                                  .CreateDatabase(DatabaseForTest());
                                   EXPECT_TRUE(uri.ok()) << uri.status();
                                   if (!uri.ok()) return nullptr;
                                   auto store = PostgresJobStore::Open(*uri);
                                   EXPECT_TRUE(store.ok()) << store.status();
                                   return store.ok() ? std::move(*store) : nullptr;
                                 }}),
    [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

// SQLite-only: the data outlives the process's connection.
TEST(SqliteJobStoreTest, ReopenSeesCommittedWrites) {
  const std::string path = ::testing::TempDir() + "/reopen.db";
  std::remove(path.c_str());
  {
    auto store = SqliteJobStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Insert(MakeState("a", 1, "r")).ok());
    ASSERT_TRUE((*store)->Update(MakeState("a", 2)).ok());
  }
  auto store = SqliteJobStore::Open(path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Get("a")->version(), 2);
  EXPECT_TRUE((*(*store)->FindByRequestId("r")).has_value());
}

TEST(SqliteJobStoreTest, ReopenSeesCommittedFamilies) {
  const std::string path = ::testing::TempDir() + "/reopen_families.db";
  std::remove(path.c_str());
  {
    auto store = SqliteJobStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->PutFamily(MakeFamily("t", "f", 1)).ok());
    ASSERT_TRUE((*store)->PutFamily(MakeFamily("t", "f", 2, 3)).ok());
    ASSERT_TRUE((*store)->PutFamily(MakeFamily("t", "gone", 1)).ok());
    ASSERT_TRUE((*store)->DeleteFamily("t", "gone").ok());
  }
  auto store = SqliteJobStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<FamilyState> got = (*store)->GetFamily("t", "f");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), MakeFamily("t", "f", 2, 3).SerializeAsString());
  EXPECT_TRUE(absl::IsNotFound((*store)->GetFamily("t", "gone").status()));
  EXPECT_TRUE(absl::IsAborted((*store)->PutFamily(MakeFamily("t", "f", 2))));
  EXPECT_TRUE((*store)->PutFamily(MakeFamily("t", "f", 3)).ok());
}

// PostgreSQL: what one connection pool wrote, a new one (a restarted
// replica) reads, and compare-and-swap continues from the stored version.
TEST(PostgresJobStoreTest, ReconnectSeesCommittedFamilies) {
  absl::StatusOr<std::string> uri =
      ::autolrs::testing::SharedPostgres().CreateDatabase("reconnect_families");
  ASSERT_TRUE(uri.ok()) << uri.status();
  {
    auto store = PostgresJobStore::Open(*uri);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->PutFamily(MakeFamily("t", "f", 1)).ok());
    ASSERT_TRUE((*store)->PutFamily(MakeFamily("t", "f", 2, 3)).ok());
    ASSERT_TRUE((*store)->PutFamily(MakeFamily("t", "gone", 1)).ok());
    ASSERT_TRUE((*store)->DeleteFamily("t", "gone").ok());
  }
  auto store = PostgresJobStore::Open(*uri);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<FamilyState> got = (*store)->GetFamily("t", "f");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), MakeFamily("t", "f", 2, 3).SerializeAsString());
  EXPECT_TRUE(absl::IsNotFound((*store)->GetFamily("t", "gone").status()));
  EXPECT_TRUE(absl::IsAborted((*store)->PutFamily(MakeFamily("t", "f", 2))));
  EXPECT_TRUE((*store)->PutFamily(MakeFamily("t", "f", 3)).ok());
}

TEST(SqliteJobStoreTest, RefusesADatabaseFromANewerSchema) {
  const std::string path = ::testing::TempDir() + "/newer.db";
  std::remove(path.c_str());
  { ASSERT_TRUE(SqliteJobStore::Open(path).ok()); }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = SqliteJobStore::Open(path);
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
}

TEST(SqliteJobStoreTest, ConcurrentWritesAreGroupCommitted) {
  const std::string path = ::testing::TempDir() + "/group.db";
  std::remove(path.c_str());
  auto store = SqliteJobStore::Open(path);
  ASSERT_TRUE(store.ok());
  constexpr int kThreads = 16;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string id = "j" + std::to_string(t);
      ASSERT_TRUE((*store)->Insert(MakeState(id, 1)).ok());
      for (int v = 2; v <= 20; ++v) ASSERT_TRUE((*store)->Update(MakeState(id, v)).ok());
    });
  }
  for (auto& t : threads) t.join();
  // 320 writes; with 16 writers waiting, transactions must hold several.
  EXPECT_LT((*store)->commits(), kThreads * 20);
}

}  // namespace
}  // namespace autolrs::server
