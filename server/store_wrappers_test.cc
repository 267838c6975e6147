// The stores that wrap another (quotas, metrics) pass on what replicas rely
// on: shared() and GetVersion, so that a Scheduler on a shared store never
// answers from a stale cache because a wrapper hid the store's nature.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/instrumented_job_store.h"
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

}  // namespace
}  // namespace autolrs::server
