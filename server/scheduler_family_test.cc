// The Scheduler's family contract: a finished job joins its family before
// its DONE state is stored, so a failed family write fails the report, leaves
// the job exactly as before, and the retry records it; concurrent jobs of one
// family all land in it.
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/memory_job_store.h"
#include "server/scheduler.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::server {
namespace {

// A MemoryJobStore whose next PutFamily can be made to fail.
class FamilyFlakyStore final : public JobStore {
 public:
  absl::Status Insert(const JobState& s) override { return inner_.Insert(s); }
  absl::StatusOr<JobState> Get(absl::string_view id) override { return inner_.Get(id); }
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view r) override {
    return inner_.FindByRequestId(r);
  }
  absl::Status Update(const JobState& s) override { return inner_.Update(s); }
  absl::Status Delete(absl::string_view id) override { return inner_.Delete(id); }
  absl::StatusOr<std::vector<JobState>> List(absl::string_view a, int n) override {
    return inner_.List(a, n);
  }
  absl::StatusOr<FamilyState> GetFamily(absl::string_view t, absl::string_view n) override {
    return inner_.GetFamily(t, n);
  }
  absl::Status PutFamily(const FamilyState& s) override {
    if (!fail_next_put.ok()) {
      absl::Status s = fail_next_put;
      fail_next_put = absl::OkStatus();
      return s;
    }
    return inner_.PutFamily(s);
  }
  absl::StatusOr<std::vector<FamilyState>> ListFamilies(absl::string_view t, absl::string_view a,
                                                        int n) override {
    return inner_.ListFamilies(t, a, n);
  }
  absl::Status DeleteFamily(absl::string_view t, absl::string_view n) override {
    return inner_.DeleteFamily(t, n);
  }

  absl::Status fail_next_put;

 private:
  MemoryJobStore inner_;
};

v1::CreateJobRequest FamilyJob(const std::string& id, uint64_t seed) {
  v1::CreateJobRequest req;
  req.set_job_id(id);
  v1::JobConfig* c = req.mutable_config();
  c->set_lr_min(1e-3);
  c->set_lr_max(1.0);
  c->set_tau_initial(40);
  c->set_tau_max(80);
  c->set_probes_per_stage(3);
  c->set_total_steps(600);
  c->set_seed(seed);
  c->set_family("fam");
  return req;
}

// Drives job `id` until the report that would finish it; returns that
// report (not sent).
v1::ReportLossesRequest DriveToLastReport(Scheduler& scheduler, const std::string& id,
                                          testing::SyntheticTrainer& trainer) {
  v1::NextActionRequest next;
  next.set_job_id(id);
  v1::Action action = *scheduler.NextAction(next);
  for (;;) {
    v1::ReportLossesRequest report = testing::RunAction(action, trainer);
    report.set_job_id(id);
    if (action.phase() == v1::PHASE_COOLDOWN) return report;
    absl::StatusOr<v1::Action> after = scheduler.ReportLosses(report);
    EXPECT_TRUE(after.ok()) << after.status();
    if (!after.ok()) return report;
    action = *after;
  }
}

TEST(SchedulerFamilyTest, AFailedFamilyWriteFailsTheLastReportAndTheRetryRecordsIt) {
  FamilyFlakyStore store;
  Scheduler scheduler(&store);
  ASSERT_TRUE(scheduler.CreateJob(FamilyJob("a", 1)).ok());
  testing::SyntheticTrainer trainer(1);
  v1::ReportLossesRequest last = DriveToLastReport(scheduler, "a", trainer);
  const JobState before = *store.Get("a");

  store.fail_next_put = absl::UnavailableError("disk full");
  absl::StatusOr<v1::Action> failed = scheduler.ReportLosses(last);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.Get("a")->SerializeAsString(), before.SerializeAsString());
  v1::GetJobRequest get;
  get.set_job_id("a");
  EXPECT_EQ(scheduler.GetJob(get)->state(), v1::JOB_STATE_RUNNING);
  v1::GetFamilyRequest family;
  family.set_name("fam");
  EXPECT_EQ(scheduler.GetFamily(family).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<v1::Action> done = scheduler.ReportLosses(last);  // The trainer's retry.
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->phase(), v1::PHASE_DONE);
  absl::StatusOr<v1::Family> recorded = scheduler.GetFamily(family);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_EQ(recorded->runs_size(), 1);
  EXPECT_EQ(recorded->runs(0).job_id(), "a");
  // A repeated report of the finished job records nothing twice.
  EXPECT_TRUE(scheduler.ReportLosses(last).ok());
  EXPECT_EQ(scheduler.GetFamily(family)->runs_recorded(), 1);
}

TEST(SchedulerFamilyTest, JobsOfOneFamilyFinishingAtOnceAllLand) {
  FamilyFlakyStore store;
  Scheduler scheduler(&store);
  constexpr int kJobs = 6;
  std::vector<std::thread> threads;
  for (int i = 0; i < kJobs; ++i) {
    threads.emplace_back([&, i] {
      const std::string id = "j" + std::to_string(i);
      ASSERT_TRUE(scheduler.CreateJob(FamilyJob(id, i + 1)).ok());
      testing::SyntheticTrainer trainer(i + 1);
      v1::ReportLossesRequest last = DriveToLastReport(scheduler, id, trainer);
      absl::StatusOr<v1::Action> done = scheduler.ReportLosses(last);
      ASSERT_TRUE(done.ok()) << done.status();
      EXPECT_EQ(done->phase(), v1::PHASE_DONE);
    });
  }
  for (std::thread& t : threads) t.join();
  v1::GetFamilyRequest family;
  family.set_name("fam");
  absl::StatusOr<v1::Family> recorded = scheduler.GetFamily(family);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(recorded->runs_size(), kJobs);
  EXPECT_EQ(recorded->runs_recorded(), kJobs);
}

}  // namespace
}  // namespace autolrs::server
