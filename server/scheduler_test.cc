#include "server/scheduler.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/memory_job_store.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::server {
namespace {

// A MemoryJobStore whose next Update can be made to fail, and which can play
// another replica that changes a job behind the scheduler's back.
class FlakyStore final : public JobStore {
 public:
  absl::Status Insert(const JobState& s) override { return inner_.Insert(s); }
  absl::StatusOr<JobState> Get(absl::string_view id) override { return inner_.Get(id); }
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view r) override {
    return inner_.FindByRequestId(r);
  }
  absl::Status Update(const JobState& s) override {
    ++updates;
    if (!fail_next.ok()) {
      absl::Status s = fail_next;
      fail_next = absl::OkStatus();
      return s;
    }
    return inner_.Update(s);
  }
  absl::Status Delete(absl::string_view id) override { return inner_.Delete(id); }
  absl::StatusOr<std::vector<JobState>> List(absl::string_view a, int n) override {
    return inner_.List(a, n);
  }
  MemoryJobStore& inner() { return inner_; }

  absl::Status fail_next;
  int updates = 0;

 private:
  MemoryJobStore inner_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  v1::Action Create(const std::string& id) {
    v1::CreateJobRequest req;
    req.set_job_id(id);
    req.mutable_config()->set_lr_min(1e-3);
    req.mutable_config()->set_lr_max(1.0);
    req.mutable_config()->set_tau_initial(100);
    req.mutable_config()->set_probes_per_stage(3);
    EXPECT_TRUE(scheduler_.CreateJob(req).ok());
    return Next(id);
  }
  v1::Action Next(const std::string& id) {
    v1::NextActionRequest req;
    req.set_job_id(id);
    absl::StatusOr<v1::Action> a = scheduler_.NextAction(req);
    EXPECT_TRUE(a.ok()) << a.status();
    return *a;
  }

  FlakyStore store_;
  Scheduler scheduler_{&store_};
  autolrs::testing::SyntheticTrainer trainer_{1};
};

TEST_F(SchedulerTest, AFailedWriteLosesNothingAndAppliesNothing) {
  const v1::Action first = Create("j");
  const v1::ReportLossesRequest report = autolrs::testing::RunAction(first, trainer_);
  store_.fail_next = absl::UnavailableError("disk on fire");
  absl::StatusOr<v1::Action> failed = scheduler_.ReportLosses(report);
  EXPECT_TRUE(absl::IsUnavailable(failed.status())) << failed.status();
  // The report was not applied: the job still waits on the first action.
  EXPECT_EQ(Next("j").action_id(), first.action_id());
  // The client's retry applies it once.
  absl::StatusOr<v1::Action> retried = scheduler_.ReportLosses(report);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->action_id(), first.action_id() + 1);
  EXPECT_EQ(store_.inner().Get("j")->version(), 2);
}

TEST_F(SchedulerTest, ALostRaceReloadsAndReapplies) {
  const v1::Action first = Create("j");
  // Another replica bumps the stored version without changing the action.
  JobState other = *store_.inner().Get("j");
  other.set_version(2);
  ASSERT_TRUE(store_.inner().Update(other).ok());
  absl::StatusOr<v1::Action> next =
      scheduler_.ReportLosses(autolrs::testing::RunAction(first, trainer_));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->action_id(), first.action_id() + 1);
  EXPECT_EQ(store_.inner().Get("j")->version(), 3);
  EXPECT_EQ(store_.updates, 2);  // The lost race, then the retry.
}

TEST_F(SchedulerTest, ReloadsJobsFromTheStoreAfterARestart) {
  const v1::Action first = Create("j");
  ASSERT_TRUE(scheduler_.ReportLosses(autolrs::testing::RunAction(first, trainer_)).ok());
  Scheduler restarted(&store_);
  v1::NextActionRequest req;
  req.set_job_id("j");
  absl::StatusOr<v1::Action> a = restarted.NextAction(req);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->action_id(), first.action_id() + 1);
  EXPECT_EQ(restarted.cached_jobs(), 1u);
}

TEST_F(SchedulerTest, JobsProgressIndependentlyFromManyThreads) {
  constexpr int kJobs = 8, kReports = 12;
  for (int j = 0; j < kJobs; ++j) Create("job-" + std::to_string(j));
  std::vector<std::thread> threads;
  for (int j = 0; j < kJobs; ++j) {
    threads.emplace_back([this, j] {
      autolrs::testing::SyntheticTrainer trainer(j);
      v1::Action action = Next("job-" + std::to_string(j));
      for (int r = 0; r < kReports; ++r) {
        absl::StatusOr<v1::Action> next =
            scheduler_.ReportLosses(autolrs::testing::RunAction(action, trainer));
        ASSERT_TRUE(next.ok()) << next.status();
        action = *next;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int j = 0; j < kJobs; ++j) {
    EXPECT_EQ(Next("job-" + std::to_string(j)).action_id(), kReports + 1);
  }
}

TEST_F(SchedulerTest, DeletedJobsAreGoneForEveryone) {
  Create("j");
  v1::DeleteJobRequest del;
  del.set_job_id("j");
  ASSERT_TRUE(scheduler_.DeleteJob(del).ok());
  v1::NextActionRequest req;
  req.set_job_id("j");
  EXPECT_TRUE(absl::IsNotFound(scheduler_.NextAction(req).status()));
  EXPECT_TRUE(absl::IsNotFound(scheduler_.DeleteJob(del)));
  EXPECT_EQ(scheduler_.cached_jobs(), 0u);
}

}  // namespace
}  // namespace autolrs::server
