// The stores that wrap another (quotas, metrics) pass on what replicas rely
// on: shared() and GetVersion, so that a Scheduler on a shared store never
// answers from a stale cache because a wrapper hid the store's nature; and
// the family calls, which a wrapper that forgot them would answer
// UNIMPLEMENTED (JobStore's defaults).
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/instrumented_job_store.h"
#include "server/log.h"
#include "server/memory_job_store.h"
#include "server/quota_job_store.h"

namespace autolrs::server {
namespace {

// A memory store that says it is shared and counts GetVersion calls.
class SharedStore final : public JobStore {
 public:
  explicit SharedStore(int* version_calls) : version_calls_(version_calls) {}
  absl::Status Insert(const JobState& s) override { return inner_.Insert(s); }
  absl::StatusOr<JobState> Get(absl::string_view id) override { return inner_.Get(id); }
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view r) override {
    return inner_.FindByRequestId(r);
  }
  absl::Status Update(const JobState& s) override { return inner_.Update(s); }
  absl::StatusOr<int64_t> GetVersion(absl::string_view id) override {
    ++*version_calls_;
    return inner_.GetVersion(id);
  }
  bool shared() const override { return true; }
  absl::Status Delete(absl::string_view id) override { return inner_.Delete(id); }
  absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) override {
    return inner_.List(after, limit);
  }

 private:
  MemoryJobStore inner_;
  int* version_calls_;
};

JobState State(const std::string& id) {
  JobState s;
  s.set_version(1);
  s.mutable_job()->set_job_id(id);
  return s;
}

TEST(StoreWrappersTest, QuotaAndMetricsWrappersPassOnSharedAndGetVersion) {
  int calls = 0;
  auto instrumented =
      std::make_unique<InstrumentedJobStore>(std::make_unique<SharedStore>(&calls), nullptr);
  EXPECT_TRUE(instrumented->shared());
  StoreQuotas quotas;
  quotas.max_live_jobs = 10;
  absl::StatusOr<std::unique_ptr<QuotaJobStore>> quota =
      QuotaJobStore::Wrap(std::move(instrumented), quotas);
  ASSERT_TRUE(quota.ok()) << quota.status();
  EXPECT_TRUE((*quota)->shared());
  ASSERT_TRUE((*quota)->Insert(State("a")).ok());
  absl::StatusOr<int64_t> version = (*quota)->GetVersion("a");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 1);
  EXPECT_EQ(calls, 1);  // The store's own cheap lookup, not a Get.
  EXPECT_TRUE(absl::IsNotFound((*quota)->GetVersion("missing").status()));

  auto unshared =
      std::make_unique<InstrumentedJobStore>(std::make_unique<MemoryJobStore>(), nullptr);
  EXPECT_FALSE(unshared->shared());
}

FamilyState Family(const std::string& tenant, const std::string& name, int64_t version) {
  FamilyState s;
  s.set_version(version);
  s.mutable_family()->set_tenant(tenant);
  s.mutable_family()->set_name(name);
  s.mutable_family()->set_runs_recorded(version);
  return s;
}

TEST(StoreWrappersTest, QuotaAndMetricsWrappersPassOnFamilies) {
  absl::StatusOr<std::unique_ptr<QuotaJobStore>> wrapped = QuotaJobStore::Wrap(
      std::make_unique<InstrumentedJobStore>(std::make_unique<MemoryJobStore>(), nullptr),
      StoreQuotas{});
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  JobStore& store = **wrapped;
  ASSERT_TRUE(store.PutFamily(Family("t", "f", 1)).ok());
  ASSERT_TRUE(store.PutFamily(Family("t", "f", 2)).ok());
  ASSERT_TRUE(store.PutFamily(Family("t", "g", 1)).ok());
  absl::StatusOr<FamilyState> got = store.GetFamily("t", "f");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->family().runs_recorded(), 2);
  // The inner store's answers come through unchanged.
  EXPECT_TRUE(absl::IsAborted(store.PutFamily(Family("t", "f", 2))));
  EXPECT_TRUE(absl::IsAlreadyExists(store.PutFamily(Family("t", "g", 1))));
  EXPECT_TRUE(absl::IsNotFound(store.GetFamily("u", "f").status()));
  absl::StatusOr<std::vector<FamilyState>> page = store.ListFamilies("t", "f", 10);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].family().name(), "g");
  ASSERT_TRUE(store.DeleteFamily("t", "f").ok());
  EXPECT_TRUE(absl::IsNotFound(store.DeleteFamily("t", "f")));
  EXPECT_TRUE(absl::IsNotFound(store.GetFamily("t", "f").status()));
}

// A store whose family records are corrupt, whose PutFamily finds no family,
// and that deletes no families (JobStore's UNIMPLEMENTED default).
class CorruptFamiliesStore final : public JobStore {
 public:
  absl::Status Insert(const JobState& s) override { return inner_.Insert(s); }
  absl::StatusOr<JobState> Get(absl::string_view id) override { return inner_.Get(id); }
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view r) override {
    return inner_.FindByRequestId(r);
  }
  absl::Status Update(const JobState& s) override { return inner_.Update(s); }
  absl::Status Delete(absl::string_view id) override { return inner_.Delete(id); }
  absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) override {
    return inner_.List(after, limit);
  }
  absl::StatusOr<FamilyState> GetFamily(absl::string_view, absl::string_view) override {
    return absl::DataLossError("stored record fails its checksum");
  }
  absl::Status PutFamily(const FamilyState& state) override {
    return absl::NotFoundError("no family");
  }

 private:
  MemoryJobStore inner_;
};

TEST(StoreWrappersTest, MetricsWrapperLogsFamilyStorageFailuresNamingTheFamily) {
  std::vector<std::string> lines;
  SetLogSink([&](absl::string_view line) { lines.emplace_back(line); });
  InstrumentedJobStore store(std::make_unique<CorruptFamiliesStore>(), nullptr);
  EXPECT_TRUE(absl::IsDataLoss(store.GetFamily("acme", "resnet").status()));
  // A caller's NOT_FOUND is no storage failure: not logged.
  EXPECT_TRUE(absl::IsNotFound(store.PutFamily(FamilyState())));
  // A store that keeps no families is: UNIMPLEMENTED is logged.
  EXPECT_TRUE(absl::IsUnimplemented(store.DeleteFamily("acme", "resnet")));
  SetLogSink(nullptr);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("op=GetFamily"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("family=resnet"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("tenant=acme"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("op=DeleteFamily"), std::string::npos) << lines[1];
}

}  // namespace
}  // namespace autolrs::server
