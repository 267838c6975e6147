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
  std::vector<int64_t> first(kJobs);
  for (int j = 0; j < kJobs; ++j) first[j] = Create("job-" + std::to_string(j)).action_id();
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
    EXPECT_EQ(Next("job-" + std::to_string(j)).action_id(), first[j] + kReports);
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

v1::ReportLossesRequest ConstantReport(const v1::Action& action, double loss, int rank = 0) {
  v1::ReportLossesRequest r;
  r.set_job_id(action.job_id());
  r.set_action_id(action.action_id());
  r.set_worker_rank(rank);
  for (int64_t i = 0; i < action.steps(); ++i) r.add_losses(loss);
  return r;
}

TEST_F(SchedulerTest, AReportTheJobCannotApplyCorruptsNeitherCacheNorStore) {
  Create("j");
  // A stored action the state machine cannot apply (WAIT is never stored):
  // the report fails after the job began to change.
  JobState bad = *store_.inner().Get("j");
  bad.mutable_action()->set_phase(v1::PHASE_WAIT);
  bad.set_version(2);
  ASSERT_TRUE(store_.inner().Update(bad).ok());
  Scheduler fresh(&store_);
  v1::GetJobRequest get;
  get.set_job_id("j");
  for (int retry = 0; retry < 3; ++retry) {
    absl::StatusOr<v1::Action> failed = fresh.ReportLosses(ConstantReport(bad.action(), 1.0));
    EXPECT_TRUE(absl::IsInternal(failed.status())) << failed.status();
    // Neither steps nor probes were added in memory, retry after retry.
    EXPECT_EQ(fresh.GetJob(get)->steps_spent(), 0);
    EXPECT_EQ(fresh.GetJob(get)->SerializeAsString(),
              store_.inner().Get("j")->job().SerializeAsString());
  }
  EXPECT_EQ(store_.inner().Get("j")->version(), 2);
}

TEST_F(SchedulerTest, AStaleReportDoesNotLandInAJobRecreatedUnderTheSameId) {
  const v1::Action old_first = Create("j");
  v1::DeleteJobRequest del;
  del.set_job_id("j");
  ASSERT_TRUE(scheduler_.DeleteJob(del).ok());
  const v1::Action new_first = Create("j");
  EXPECT_NE(new_first.action_id(), old_first.action_id());
  absl::StatusOr<v1::Action> stale =
      scheduler_.ReportLosses(autolrs::testing::RunAction(old_first, trainer_));
  EXPECT_TRUE(absl::IsFailedPrecondition(stale.status())) << stale.status();
  EXPECT_EQ(Next("j").action_id(), new_first.action_id());
  EXPECT_EQ(store_.inner().Get("j")->version(), 1);
}

TEST_F(SchedulerTest, ARequestIdNamingAnotherJobIsAlreadyExists) {
  v1::CreateJobRequest req;
  req.set_job_id("a");
  req.set_request_id("r1");
  req.mutable_config()->set_lr_min(1e-3);
  req.mutable_config()->set_lr_max(1.0);
  ASSERT_TRUE(scheduler_.CreateJob(req).ok());
  EXPECT_EQ(scheduler_.CreateJob(req)->job_id(), "a");  // A retry.
  req.set_job_id("b");
  absl::StatusOr<v1::Job> other = scheduler_.CreateJob(req);
  EXPECT_TRUE(absl::IsAlreadyExists(other.status())) << other.status();
  EXPECT_NE(other.status().message().find("'a'"), std::string::npos) << other.status();
  req.clear_job_id();  // No job_id: the request_id's job.
  EXPECT_EQ(scheduler_.CreateJob(req)->job_id(), "a");
}

TEST(SchedulerRankTimeoutTest, ADeadRankTimesOutThroughTheOthersPolls) {
  MemoryJobStore store;
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  Scheduler scheduler(&store, [&] { return now; });
  v1::CreateJobRequest req;
  req.set_job_id("j");
  req.mutable_config()->set_lr_min(1e-3);
  req.mutable_config()->set_lr_max(1.0);
  req.mutable_config()->set_tau_initial(100);
  req.mutable_config()->set_num_workers(2);
  req.mutable_config()->set_rank_timeout_seconds(30);
  ASSERT_TRUE(scheduler.CreateJob(req).ok());
  v1::NextActionRequest next;
  next.set_job_id("j");
  const v1::Action first = *scheduler.NextAction(next);
  ASSERT_EQ(scheduler.ReportLosses(ConstantReport(first, 1.0, 0))->phase(), v1::PHASE_WAIT);
  now += absl::Seconds(29);
  EXPECT_EQ(scheduler.NextAction(next)->phase(), v1::PHASE_WAIT);
  now += absl::Seconds(1);
  const v1::Action second = *scheduler.NextAction(next);
  EXPECT_EQ(second.action_id(), first.action_id() + 1);
  // Persisted: a restarted server sees the timeout too.
  Scheduler restarted(&store, [&] { return now; });
  v1::GetJobRequest get;
  get.set_job_id("j");
  const v1::Job job = *restarted.GetJob(get);
  EXPECT_EQ(job.current_action_id(), second.action_id());
  EXPECT_EQ(job.rank_timeouts(), 1);
  ASSERT_EQ(job.timed_out_ranks_size(), 1);
  EXPECT_EQ(job.timed_out_ranks(0), 1);
}

TEST(SchedulerCacheTest, IdleJobsBeyondTheCapacityAndFinishedJobsLeaveTheCache) {
  MemoryJobStore store;
  Scheduler scheduler(&store, absl::Now, /*max_cached_jobs=*/3);
  auto create = [&](const std::string& id, int64_t total_steps) {
    v1::CreateJobRequest req;
    req.set_job_id(id);
    req.mutable_config()->set_lr_min(1e-3);
    req.mutable_config()->set_lr_max(1.0);
    req.mutable_config()->set_tau_initial(100);
    req.mutable_config()->set_total_steps(total_steps);
    ASSERT_TRUE(scheduler.CreateJob(req).ok());
  };
  v1::NextActionRequest next;
  for (int i = 0; i < 10; ++i) {
    create("j" + std::to_string(i), 0);
    next.set_job_id("j" + std::to_string(i));
    ASSERT_TRUE(scheduler.NextAction(next).ok());
    EXPECT_LE(scheduler.cached_jobs(), 3u);
  }
  // Evicted jobs are still served, from the store.
  next.set_job_id("j0");
  EXPECT_TRUE(scheduler.NextAction(next).ok());
  EXPECT_LE(scheduler.cached_jobs(), 3u);

  // A finished job leaves the cache once its last report is stored.
  create("short", 10);
  next.set_job_id("short");
  v1::Action action = *scheduler.NextAction(next);
  autolrs::testing::SyntheticTrainer trainer(1);
  while (action.phase() != v1::PHASE_DONE) {
    action = *scheduler.ReportLosses(autolrs::testing::RunAction(action, trainer));
  }
  EXPECT_LE(scheduler.cached_jobs(), 2u);  // "short" is not among them.
  EXPECT_EQ(scheduler.NextAction(next)->phase(), v1::PHASE_DONE);
}

// A store that other replicas share: every Scheduler on it is one replica.
class SharedStore final : public JobStore {
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
  bool shared() const override { return true; }

 private:
  MemoryJobStore inner_;
};

v1::CreateJobRequest ReplicaJob() {
  v1::CreateJobRequest req;
  req.set_job_id("r");
  req.mutable_config()->set_lr_min(1e-3);
  req.mutable_config()->set_lr_max(1.0);
  req.mutable_config()->set_tau_initial(100);
  req.mutable_config()->set_probes_per_stage(3);
  req.mutable_config()->set_total_steps(1200);
  req.mutable_config()->set_seed(7);
  return req;
}

// Runs job "r" to DONE, asking replicas[i % n] for the i-th call; returns
// its schedule.
v1::Schedule RunThroughReplicas(const std::vector<Scheduler*>& replicas) {
  EXPECT_TRUE(replicas[0]->CreateJob(ReplicaJob()).ok());
  autolrs::testing::SyntheticTrainer trainer(3);
  int call = 0;
  auto next_replica = [&]() { return replicas[call++ % replicas.size()]; };
  v1::NextActionRequest next;
  next.set_job_id("r");
  absl::StatusOr<v1::Action> action = next_replica()->NextAction(next);
  for (int reports = 0; action.ok() && action->phase() != v1::PHASE_DONE && reports < 300;
       ++reports) {
    absl::StatusOr<v1::Action> answer =
        next_replica()->ReportLosses(autolrs::testing::RunAction(*action, trainer));
    EXPECT_TRUE(answer.ok()) << answer.status();
    // Every replica, asked now, gives the answer the report got.
    for (Scheduler* replica : replicas) {
      absl::StatusOr<v1::Action> polled = replica->NextAction(next);
      EXPECT_TRUE(polled.ok()) << polled.status();
      if (polled.ok() && answer.ok()) {
        EXPECT_EQ(polled->SerializeAsString(), answer->SerializeAsString());
      }
    }
    action = answer;
  }
  EXPECT_TRUE(action.ok() && action->phase() == v1::PHASE_DONE);
  v1::GetScheduleRequest get;
  get.set_job_id("r");
  absl::StatusOr<v1::Schedule> schedule = next_replica()->GetSchedule(get);
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  return schedule.value_or(v1::Schedule());
}

TEST(SchedulerReplicaTest, AJobDrivenThroughTwoReplicasGetsTheScheduleOfOne) {
  MemoryJobStore alone_store;
  Scheduler alone(&alone_store);
  const v1::Schedule expected = RunThroughReplicas({&alone});
  SharedStore shared;
  Scheduler a(&shared), b(&shared);
  const v1::Schedule actual = RunThroughReplicas({&a, &b});
  ASSERT_GT(expected.stages_size(), 2);
  EXPECT_EQ(actual.SerializeAsString(), expected.SerializeAsString());
}

TEST(SchedulerReplicaTest, AJobDeletedThroughOneReplicaIsGoneFromTheOther) {
  SharedStore shared;
  Scheduler a(&shared), b(&shared);
  ASSERT_TRUE(a.CreateJob(ReplicaJob()).ok());
  v1::GetJobRequest get;
  get.set_job_id("r");
  ASSERT_TRUE(a.GetJob(get).ok());  // Cached in a.
  v1::DeleteJobRequest del;
  del.set_job_id("r");
  ASSERT_TRUE(b.DeleteJob(del).ok());
  EXPECT_TRUE(absl::IsNotFound(a.GetJob(get).status()));
  EXPECT_EQ(a.cached_jobs(), 0u);
}

TEST(SchedulerReplicaTest, OneReportSentToTwoReplicasAtOnceLandsOnce) {
  SharedStore shared;
  Scheduler a(&shared), b(&shared);
  ASSERT_TRUE(a.CreateJob(ReplicaJob()).ok());
  autolrs::testing::SyntheticTrainer trainer(3);
  v1::NextActionRequest next;
  next.set_job_id("r");
  for (int round = 0; round < 20; ++round) {
    absl::StatusOr<v1::Action> action = a.NextAction(next);
    ASSERT_TRUE(action.ok() && b.NextAction(next).ok());  // Both replicas hold it.
    if (action->phase() == v1::PHASE_DONE) break;
    const v1::ReportLossesRequest report = autolrs::testing::RunAction(*action, trainer);
    const int64_t version = shared.Get("r")->version();
    absl::StatusOr<v1::Action> from_a, from_b;
    std::thread ta([&] { from_a = a.ReportLosses(report); });
    std::thread tb([&] { from_b = b.ReportLosses(report); });
    ta.join();
    tb.join();
    // A replica that lost every race answers ABORTED (the client retries);
    // whoever answered OK answered the same action.
    ASSERT_TRUE(from_a.ok() || absl::IsAborted(from_a.status())) << from_a.status();
    ASSERT_TRUE(from_b.ok() || absl::IsAborted(from_b.status())) << from_b.status();
    ASSERT_TRUE(from_a.ok() || from_b.ok());
    if (from_a.ok() && from_b.ok()) {
      EXPECT_EQ(from_a->SerializeAsString(), from_b->SerializeAsString());
    }
    EXPECT_EQ(shared.Get("r")->version(), version + 1) << "the report landed twice or never";
  }
}

}  // namespace
}  // namespace autolrs::server
