#include "client/tuner.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/checkpointer.h"
#include "client/client.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

namespace autolrs {
namespace {

using server::AutoLrsServer;
using testing::SyntheticTrainer;

// What happened in a training run, in order.
struct Event {
  enum Kind { kStep, kSave, kRestore, kEval } kind;
  int64_t action_id = 0;
  int64_t offset = 0;  // kStep: 1-based step within the action; kEval: the step before.
  double lr = 0;       // kStep only.
};

struct Run {
  std::vector<Event> events;
  std::map<int64_t, v1::Action> actions;  // Every action a step ran in, by id.
  int64_t steps = 0;
  int saves = 0, restores = 0, evals = 0;
};

// A Checkpointer over a SyntheticTrainer that logs every call; the next
// `fail_next` calls fail with UNAVAILABLE.
class FakeCheckpointer final : public Checkpointer {
 public:
  FakeCheckpointer(SyntheticTrainer* trainer, Run* run) : trainer_(trainer), run_(run) {}

  void set_tuner(const Tuner* tuner) { tuner_ = tuner; }
  int fail_next = 0;

  absl::Status Save() override {
    if (fail_next > 0) return Fail();
    trainer_->Save();
    ++run_->saves;
    run_->events.push_back({Event::kSave, ActionId()});
    return absl::OkStatus();
  }
  absl::Status Restore() override {
    if (fail_next > 0) return Fail();
    trainer_->Restore();
    ++run_->restores;
    run_->events.push_back({Event::kRestore, ActionId()});
    return absl::OkStatus();
  }

 private:
  absl::Status Fail() {
    --fail_next;
    return absl::UnavailableError("disk full");
  }
  int64_t ActionId() const { return tuner_ == nullptr ? -1 : tuner_->action().action_id(); }

  SyntheticTrainer* const trainer_;
  Run* const run_;
  const Tuner* tuner_ = nullptr;
};

// A recording evaluate callback; the next `fail_next` calls fail.
struct Evaluator {
  SyntheticTrainer* trainer;
  Run* run;
  const Tuner* tuner = nullptr;
  int fail_next = 0;

  absl::StatusOr<double> operator()() {
    if (fail_next > 0) {
      --fail_next;
      return absl::InternalError("evaluation crashed");
    }
    ++run->evals;
    run->events.push_back({Event::kEval, tuner->action().action_id(), tuner->step_in_action()});
    return trainer->ValidationLoss();
  }
};

// A trainer process: synthetic model, checkpointer, evaluator and Tuner.
struct Trainer {
  Trainer(uint64_t seed) : model(seed), checkpointer(&model, &run), evaluator{&model, &run} {}

  absl::Status Connect(Client* client, TunerOptions options, bool with_evaluate = true) {
    std::function<absl::StatusOr<double>()> evaluate;
    if (with_evaluate) evaluate = [this] { return evaluator(); };
    absl::StatusOr<std::unique_ptr<Tuner>> created =
        Tuner::Create(client, &checkpointer, evaluate, std::move(options));
    if (!created.ok()) return created.status();
    tuner = *std::move(created);
    checkpointer.set_tuner(tuner.get());
    evaluator.tuner = tuner.get();
    return absl::OkStatus();
  }

  // Trains until the job is DONE or `max_steps` steps ran; stops at the first
  // error and returns it.
  absl::Status Train(int64_t max_steps) {
    for (int64_t i = 0; i < max_steps; ++i) {
      absl::StatusOr<double> lr = tuner->NextLearningRate();
      if (tuner->done()) {
        EXPECT_TRUE(absl::IsOutOfRange(lr.status())) << lr.status();
        return absl::OkStatus();
      }
      if (!lr.ok()) return lr.status();
      const v1::Action& action = tuner->action();
      const int64_t offset = tuner->step_in_action() + 1;
      run.actions[action.action_id()] = action;
      run.events.push_back({Event::kStep, action.action_id(), offset, *lr});
      EXPECT_EQ(tuner->lr(), *lr);
      // The action's LR from its first step on (the reference's bug: the
      // first step after a restore ran at the previous LR).
      EXPECT_DOUBLE_EQ(*lr, testing::StepLearningRate(action, offset))
          << "action " << action.action_id() << " step " << offset;
      model.SetLearningRate(*lr);
      ++run.steps;
      if (absl::Status s = tuner->ReportStepLoss(model.TrainStep()); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  SyntheticTrainer model;
  Run run;
  FakeCheckpointer checkpointer;
  Evaluator evaluator;
  std::unique_ptr<Tuner> tuner;
};

// Stages of tau 20 and 40 (probes of 4 and 8 steps), 3 probes each, warmup,
// the validation objective from the third stage on, and a budget that ends
// in the middle of a stage (the last exploit is cut to 11 steps).
v1::JobConfig TestConfig() {
  v1::JobConfig config;
  config.set_lr_min(1e-3);
  config.set_lr_max(0.5);
  config.set_tau_initial(20);
  config.set_tau_max(40);
  config.set_probe_ratio(0.2);
  config.set_probes_per_stage(3);
  config.set_eval_points_per_probe(4);
  config.set_warmup_steps(5);
  config.set_warmup_lr(0.1);
  config.set_total_steps(200);
  config.set_cooldown_fraction(0.2);  // Room for a second stage's search.
  config.set_seed(7);
  config.set_first_stage_confirmation(4);  // The tuner runs them like probes.
  // ExpectRunMatchesSchedule derives the checkpoint operations from the
  // searches alone; the Python client's test runs the guard's SAVEs.
  config.set_overfit_guard(0);
  config.set_min_probe_steps(0);  // Probes of tau * 0.2 steps, as above.
  // Later stages search with probes that short: the protocol, not the policy.
  config.set_later_stage_min_probe_steps(0);
  return config;
}

class TunerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<AutoLrsServer>> server =
        AutoLrsServer::Start({.listen_address = "127.0.0.1:0", .store = "memory:"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = NewClient();
    ASSERT_NE(client_, nullptr);
  }

  std::unique_ptr<Client> NewClient() {
    ClientOptions options;
    options.target = absl::StrCat("127.0.0.1:", server_->port());
    options.seed = 3;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  v1::Schedule Schedule(const std::string& job_id) {
    v1::GetScheduleRequest request;
    request.set_job_id(job_id);
    absl::StatusOr<v1::Schedule> schedule = client_->GetSchedule(request);
    EXPECT_TRUE(schedule.ok()) << schedule.status();
    return schedule.ok() ? *schedule : v1::Schedule();
  }

  v1::Job GetJob(const std::string& job_id) {
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    absl::StatusOr<v1::Job> job = client_->GetJob(request);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : v1::Job();
  }

  std::unique_ptr<AutoLrsServer> server_;
  std::unique_ptr<Client> client_;
};

// Checks a finished run against the job's schedule: one Save per searched
// stage, probes - 1 restores plus one per confirmation and one for the exploit, an evaluation
// wherever an action asked for one, and every step at the LR the schedule records.
void ExpectRunMatchesSchedule(const Run& run, const v1::Schedule& schedule,
                              const v1::JobConfig& config, int extra_restores = 0) {
  int saves = 0, restores = 0, evals = 0;
  for (const v1::Stage& stage : schedule.stages()) {
    if (!stage.search_skipped()) {
      saves += 1;
      restores += stage.probes_size() - 1 + stage.confirmations_size();
      if (stage.training_loss().count() > 0) restores += 1;  // The exploit ran.
    }
    for (const v1::Probe& probe : stage.probes()) evals += probe.validation_loss().count();
    for (const v1::Probe& c : stage.confirmations()) evals += c.validation_loss().count();
    evals += stage.validation_loss().count();
  }
  evals += schedule.cooldown_validation_loss().count();
  EXPECT_GT(saves, 1);
  EXPECT_GT(evals, 0);  // The test config reaches the validation objective.
  EXPECT_EQ(run.saves, saves);
  EXPECT_EQ(run.restores, restores + extra_restores);
  EXPECT_EQ(run.evals, evals);

  for (const Event& e : run.events) {
    if (e.kind != Event::kStep) continue;
    const v1::Action& action = run.actions.at(e.action_id);
    switch (action.phase()) {
      case v1::PHASE_WARMUP:
        EXPECT_DOUBLE_EQ(e.lr, config.warmup_lr() * e.offset / config.warmup_steps());
        break;
      case v1::PHASE_PROBE:
        if (const v1::Stage& stage = schedule.stages(action.stage()); action.confirmation()) {
          EXPECT_EQ(e.lr, stage.confirmations(action.probe_index() - stage.probes_size()).lr());
        } else {
          EXPECT_EQ(e.lr, stage.probes(action.probe_index()).lr());
        }
        break;
      case v1::PHASE_EXPLOIT:
        EXPECT_EQ(e.lr, schedule.stages(action.stage()).chosen_lr());
        break;
      case v1::PHASE_COOLDOWN:
        EXPECT_NEAR(e.lr,
                    schedule.cooldown_lr() *
                        (1.0 - static_cast<double>(e.offset) / (schedule.cooldown_steps() + 1)),
                    1e-12 * schedule.cooldown_lr());
        break;
      default:
        ADD_FAILURE() << "a step ran in action " << action.ShortDebugString();
    }
  }
}

// Checks the order of events: each checkpoint op right before its action's
// first step, each evaluation right after a step its action lists.
void ExpectEventOrder(const Run& run) {
  for (size_t i = 0; i < run.events.size(); ++i) {
    const Event& e = run.events[i];
    const v1::Action& action = run.actions.at(e.action_id);
    const Event* next = i + 1 < run.events.size() ? &run.events[i + 1] : nullptr;
    const Event* previous = i > 0 ? &run.events[i - 1] : nullptr;
    switch (e.kind) {
      case Event::kSave:
      case Event::kRestore:
        EXPECT_EQ(action.checkpoint(),
                  e.kind == Event::kSave ? v1::CHECKPOINT_OP_SAVE : v1::CHECKPOINT_OP_RESTORE);
        ASSERT_NE(next, nullptr);
        EXPECT_EQ(next->kind, Event::kStep);
        EXPECT_EQ(next->action_id, e.action_id);
        EXPECT_EQ(next->offset, 1);
        break;
      case Event::kStep:
        if (e.offset == 1 && action.checkpoint() != v1::CHECKPOINT_OP_NONE) {
          ASSERT_NE(previous, nullptr);
          EXPECT_NE(previous->kind, Event::kStep)
              << "no checkpoint op before action " << e.action_id;
        }
        break;
      case Event::kEval: {
        ASSERT_NE(previous, nullptr);
        EXPECT_EQ(previous->kind, Event::kStep);
        EXPECT_EQ(previous->offset, e.offset);
        const auto& at = action.eval_steps();
        EXPECT_NE(std::find(at.begin(), at.end(), e.offset), at.end())
            << "unasked evaluation after step " << e.offset << " of action " << e.action_id;
        break;
      }
    }
  }
}

TEST_F(TunerTest, RunsTheWholeProtocol) {
  Trainer trainer(/*seed=*/11);
  const v1::JobConfig config = TestConfig();
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "protocol", .config = config}).ok());
  EXPECT_EQ(trainer.tuner->rpcs(), 2);  // CreateJob + NextAction.
  EXPECT_EQ(trainer.tuner->action().phase(), v1::PHASE_WARMUP);

  ASSERT_TRUE(trainer.Train(/*max_steps=*/1000).ok());
  ASSERT_TRUE(trainer.tuner->done());
  EXPECT_EQ(trainer.tuner->action().phase(), v1::PHASE_DONE);
  // Still done, still no RPC.
  const int64_t rpcs = trainer.tuner->rpcs();
  EXPECT_TRUE(absl::IsOutOfRange(trainer.tuner->NextLearningRate().status()));
  EXPECT_EQ(trainer.tuner->rpcs(), rpcs);

  // DONE exactly at total_steps.
  EXPECT_EQ(trainer.run.steps, config.total_steps());
  EXPECT_EQ(trainer.model.steps(), config.total_steps());
  const v1::Job job = GetJob("protocol");
  EXPECT_EQ(job.state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(job.steps_spent(), config.total_steps());

  // One ReportLosses per action: ids first..done-1 ran, done is DONE.
  const int64_t done_id = trainer.tuner->action().action_id();
  const int64_t first_id = job.first_action_id();
  EXPECT_EQ(trainer.run.actions.begin()->first, first_id);
  ASSERT_EQ(trainer.run.actions.size(), done_id - first_id);
  EXPECT_EQ(trainer.run.actions.rbegin()->first, done_id - 1);
  EXPECT_EQ(trainer.tuner->rpcs(), 2 + (done_id - first_id));
  EXPECT_EQ(client_->calls(), trainer.tuner->rpcs() + 1);  // + the GetJob above.
  int64_t steps_in_actions = 0;
  for (const auto& [id, action] : trainer.run.actions) steps_in_actions += action.steps();
  EXPECT_EQ(steps_in_actions, config.total_steps());

  const v1::Schedule schedule = Schedule("protocol");
  ExpectRunMatchesSchedule(trainer.run, schedule, config);
  ExpectEventOrder(trainer.run);
}

// The Tuner must drive a job exactly as the reference runner of the action
// protocol does: same config, seed and model give the same schedule and the
// same LR at every step.
TEST_F(TunerTest, MatchesTheReferenceActionRunner) {
  const v1::JobConfig config = TestConfig();
  Trainer trainer(/*seed=*/5);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "tuned", .config = config}).ok());
  ASSERT_TRUE(trainer.Train(1000).ok());
  ASSERT_TRUE(trainer.tuner->done());
  std::vector<double> tuned_lrs;
  for (const Event& e : trainer.run.events) {
    if (e.kind == Event::kStep) tuned_lrs.push_back(e.lr);
  }

  v1::CreateJobRequest create;
  create.set_job_id("reference");
  *create.mutable_config() = config;
  ASSERT_TRUE(client_->CreateJob(create).ok());
  SyntheticTrainer model(/*seed=*/5);
  std::vector<double> reference_lrs;
  v1::NextActionRequest next;
  next.set_job_id("reference");
  absl::StatusOr<v1::Action> action = client_->NextAction(next);
  for (int i = 0; i < 1000 && action.ok() && action->phase() != v1::PHASE_DONE; ++i) {
    action = client_->ReportLosses(testing::RunAction(*action, model, 0, &reference_lrs));
  }
  ASSERT_TRUE(action.ok()) << action.status();
  ASSERT_EQ(action->phase(), v1::PHASE_DONE);

  EXPECT_EQ(tuned_lrs, reference_lrs);
  v1::Schedule tuned = Schedule("tuned");
  v1::Schedule reference = Schedule("reference");
  tuned.set_job_id("reference");
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(tuned, reference))
      << tuned.DebugString() << "\nvs\n"
      << reference.DebugString();
}

TEST_F(TunerTest, WarmupRampsThenProbesAtTheActionLr) {
  v1::JobConfig config = TestConfig();
  config.set_warmup_steps(4);
  config.set_warmup_lr(0.2);
  Trainer trainer(1);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "ramp", .config = config}).ok());
  ASSERT_TRUE(trainer.Train(5).ok());
  std::vector<double> lrs;
  for (const Event& e : trainer.run.events) {
    if (e.kind == Event::kStep) lrs.push_back(e.lr);
  }
  ASSERT_EQ(lrs.size(), 5);
  EXPECT_DOUBLE_EQ(lrs[0], 0.05);
  EXPECT_DOUBLE_EQ(lrs[1], 0.10);
  EXPECT_DOUBLE_EQ(lrs[2], 0.15);
  EXPECT_DOUBLE_EQ(lrs[3], 0.20);
  // The first probe saved the checkpoint before its first step, at its LR.
  EXPECT_EQ(trainer.tuner->action().phase(), v1::PHASE_PROBE);
  EXPECT_EQ(lrs[4], trainer.tuner->action().lr());
  EXPECT_EQ(trainer.run.saves, 1);
  EXPECT_EQ(trainer.run.events[4].kind, Event::kSave);
}

TEST_F(TunerTest, CooldownRampsTheLastStepsTowardZeroThenTheJobIsDone) {
  v1::JobConfig config = TestConfig();
  config.set_cooldown_fraction(0.1);  // The last 20 of 200 steps.
  Trainer trainer(3);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "cool", .config = config}).ok());
  ASSERT_TRUE(trainer.Train(1000).ok());
  ASSERT_TRUE(trainer.tuner->done());
  std::vector<const Event*> steps;
  for (const Event& e : trainer.run.events) {
    if (e.kind == Event::kStep) steps.push_back(&e);
  }
  ASSERT_EQ(steps.size(), 200u);
  const v1::Action& cooldown = trainer.run.actions.at(steps.back()->action_id);
  ASSERT_EQ(cooldown.phase(), v1::PHASE_COOLDOWN);
  ASSERT_EQ(cooldown.steps(), 20);
  ASSERT_GT(cooldown.lr_ramp_start(), 0);
  for (int i = 1; i <= 20; ++i) {
    const Event& e = *steps[180 + i - 1];
    EXPECT_EQ(e.action_id, cooldown.action_id());
    // Toward 0 at step 21: no step is wasted at LR 0.
    EXPECT_NEAR(e.lr, cooldown.lr_ramp_start() * (21 - i) / 21, 1e-12 * cooldown.lr_ramp_start())
        << i;
  }
  EXPECT_GT(steps.back()->lr, 0);
}

TEST_F(TunerTest, ABudgetEndingInAProbeLeavesTheModelOnTheMainLine) {
  v1::JobConfig config = TestConfig();
  config.set_warmup_steps(0);
  config.clear_warmup_lr();
  config.set_total_steps(10);  // Probes of 4 steps: the third is cut to 2.
  config.set_cooldown_fraction(0);
  Trainer trainer(3);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "tiny", .config = config}).ok());
  ASSERT_TRUE(trainer.Train(1000).ok());
  ASSERT_TRUE(trainer.tuner->done());
  EXPECT_EQ(trainer.tuner->action().checkpoint(), v1::CHECKPOINT_OP_RESTORE);
  // Save before probe 1, restores before probes 2 and 3, and one at the end.
  EXPECT_EQ(trainer.run.saves, 1);
  EXPECT_EQ(trainer.run.restores, 3);
  ASSERT_FALSE(trainer.run.events.empty());
  EXPECT_EQ(trainer.run.events.back().kind, Event::kRestore);
  EXPECT_EQ(trainer.model.excess_loss(), 2.0);  // The initial model, untrained.
}

TEST_F(TunerTest, TwoWorkersSeeTheSameSchedule) {
  v1::JobConfig config = TestConfig();
  config.set_num_workers(2);
  Trainer rank0(1), rank1(2);
  ASSERT_TRUE(rank0
                  .Connect(client_.get(),
                           {.job_id = "pair", .config = config, .max_wait = absl::Seconds(60)})
                  .ok());
  // The second rank may use its own client or share one: both are fine.
  std::unique_ptr<Client> client1 = NewClient();
  ASSERT_TRUE(
      rank1
          .Connect(
              client1.get(),
              {.job_id = "pair", .config = config, .worker_rank = 1, .max_wait = absl::Seconds(60)})
          .ok());
  absl::Status status0, status1;
  std::thread t0([&] { status0 = rank0.Train(1000); });
  std::thread t1([&] { status1 = rank1.Train(1000); });
  t0.join();
  t1.join();
  ASSERT_TRUE(status0.ok()) << status0;
  ASSERT_TRUE(status1.ok()) << status1;
  ASSERT_TRUE(rank0.tuner->done());
  ASSERT_TRUE(rank1.tuner->done());
  EXPECT_EQ(rank0.run.steps, config.total_steps());
  EXPECT_EQ(rank1.run.steps, config.total_steps());

  // Both ranks ran the same actions at the same LRs.
  std::vector<std::pair<int64_t, double>> lrs0, lrs1;
  for (const Event& e : rank0.run.events) {
    if (e.kind == Event::kStep) lrs0.emplace_back(e.action_id, e.lr);
  }
  for (const Event& e : rank1.run.events) {
    if (e.kind == Event::kStep) lrs1.emplace_back(e.action_id, e.lr);
  }
  EXPECT_EQ(lrs0, lrs1);
  const v1::Schedule schedule = Schedule("pair");
  ExpectRunMatchesSchedule(rank0.run, schedule, config);
  ExpectRunMatchesSchedule(rank1.run, schedule, config);
  ExpectEventOrder(rank0.run);
  ExpectEventOrder(rank1.run);
  EXPECT_EQ(GetJob("pair").steps_spent(), config.total_steps());
}

TEST_F(TunerTest, ResumesTheJobAfterARestart) {
  v1::JobConfig config = TestConfig();
  config.set_first_stage_confirmation(0);  // Keeps stage 0 as counted below.
  Trainer trainer(3);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "resumed", .config = config}).ok());
  // Warmup (5) + 3 probes (12) + 18 of the 20 exploit steps of stage 0.
  ASSERT_TRUE(trainer.Train(35).ok());
  const v1::Action interrupted = trainer.tuner->action();
  ASSERT_EQ(interrupted.phase(), v1::PHASE_EXPLOIT);
  ASSERT_EQ(trainer.tuner->step_in_action(), 18);
  const v1::Job before = trainer.tuner->job();

  // The trainer restarts; its checkpointer's slot survived (same object).
  trainer.tuner.reset();
  const size_t first_new_event = trainer.run.events.size();
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "resumed", .config = config}).ok());
  EXPECT_EQ(trainer.tuner->job().job_id(), "resumed");
  EXPECT_EQ(trainer.tuner->job().create_time().seconds(), before.create_time().seconds());
  // The interrupted action is run again from its start, restore included.
  EXPECT_EQ(trainer.tuner->action().action_id(), interrupted.action_id());
  ASSERT_TRUE(trainer.Train(1000).ok());
  ASSERT_TRUE(trainer.tuner->done());
  ASSERT_GT(trainer.run.events.size(), first_new_event);
  EXPECT_EQ(trainer.run.events[first_new_event].kind, Event::kRestore);
  EXPECT_EQ(trainer.run.events[first_new_event].action_id, interrupted.action_id());

  // Action ids continue without a gap, and the job spent exactly its budget.
  const int64_t done_id = trainer.tuner->action().action_id();
  ASSERT_EQ(trainer.run.actions.size(), done_id - GetJob("resumed").first_action_id());
  EXPECT_EQ(trainer.run.actions.rbegin()->first, done_id - 1);
  EXPECT_EQ(trainer.run.steps, config.total_steps() + 18);
  EXPECT_EQ(GetJob("resumed").steps_spent(), config.total_steps());
  ExpectRunMatchesSchedule(trainer.run, Schedule("resumed"), config, /*extra_restores=*/1);
}

TEST_F(TunerTest, UsesAJobCreatedByOthersAndChecksItsConfig) {
  v1::CreateJobRequest create;
  create.set_job_id("shared");
  *create.mutable_config() = TestConfig();
  ASSERT_TRUE(client_->CreateJob(create).ok());

  Trainer trainer(1);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "shared", .config = TestConfig()}).ok());
  EXPECT_EQ(trainer.tuner->rpcs(), 3);  // CreateJob (ALREADY_EXISTS), GetJob, NextAction.
  EXPECT_EQ(trainer.tuner->action().action_id(), GetJob("shared").first_action_id());

  v1::JobConfig other = TestConfig();
  other.set_lr_max(0.25);
  Trainer stranger(1);
  absl::Status s = stranger.Connect(client_.get(), {.job_id = "shared", .config = other});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "lr_max")) << s;

  // Fields left unset take the job's values.
  v1::JobConfig minimal;
  minimal.set_lr_min(TestConfig().lr_min());
  minimal.set_lr_max(TestConfig().lr_max());
  Trainer lazy(1);
  EXPECT_TRUE(lazy.Connect(client_.get(), {.job_id = "shared", .config = minimal}).ok());
}

TEST_F(TunerTest, RejectsBadOptions) {
  Trainer trainer(1);
  EXPECT_EQ(trainer.Connect(client_.get(), {.job_id = "", .config = TestConfig()}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(trainer.Connect(client_.get(), {.job_id = "Bad Id", .config = TestConfig()}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      trainer.Connect(client_.get(), {.job_id = "r", .config = TestConfig(), .worker_rank = -1})
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      trainer.Connect(client_.get(), {.job_id = "r", .config = TestConfig(), .worker_rank = 1})
          .code(),
      absl::StatusCode::kInvalidArgument);  // num_workers is 1.
  v1::JobConfig bad = TestConfig();
  bad.set_lr_min(0);
  EXPECT_EQ(trainer.Connect(client_.get(), {.job_id = "bad", .config = bad}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Tuner::Create(client_.get(), nullptr, nullptr, {.job_id = "x", .config = TestConfig()})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TunerTest, CallsMustAlternate) {
  Trainer trainer(1);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "order", .config = TestConfig()}).ok());
  EXPECT_EQ(trainer.tuner->ReportStepLoss(1.0).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(trainer.tuner->NextLearningRate().ok());
  EXPECT_EQ(trainer.tuner->NextLearningRate().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(trainer.tuner->ReportStepLoss(1.0).ok());
  EXPECT_EQ(trainer.tuner->ReportStepLoss(1.0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(trainer.tuner->step_in_action(), 1);
}

TEST_F(TunerTest, RetriesAFailedCheckpointOp) {
  Trainer trainer(1);
  v1::JobConfig config = TestConfig();
  config.set_warmup_steps(0);
  config.set_warmup_lr(0);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "ckpt", .config = config}).ok());
  trainer.checkpointer.fail_next = 1;
  absl::StatusOr<double> lr = trainer.tuner->NextLearningRate();
  EXPECT_EQ(lr.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(lr.status().message(), "disk full")) << lr.status();
  EXPECT_EQ(trainer.run.saves, 0);
  ASSERT_TRUE(trainer.Train(1000).ok());
  ASSERT_TRUE(trainer.tuner->done());
  ExpectRunMatchesSchedule(trainer.run, Schedule("ckpt"), config);
}

TEST_F(TunerTest, RetriesAFailedEvaluation) {
  Trainer trainer(1);
  v1::JobConfig config = TestConfig();
  config.set_objective_switch(v1::OBJECTIVE_SWITCH_ALWAYS_VALIDATION);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "eval", .config = config}).ok());
  ASSERT_TRUE(trainer.Train(5).ok());  // Warmup.
  trainer.evaluator.fail_next = 1;
  // The first probe's first evaluation fails: the error surfaces once, then
  // the evaluation is run again before the next step.
  absl::Status failed = trainer.Train(1000);
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal) << failed;
  EXPECT_EQ(trainer.tuner->action().phase(), v1::PHASE_PROBE);
  ASSERT_TRUE(trainer.Train(1000).ok());
  ASSERT_TRUE(trainer.tuner->done());
  EXPECT_EQ(trainer.run.steps, config.total_steps());
  ExpectRunMatchesSchedule(trainer.run, Schedule("eval"), config);
}

TEST_F(TunerTest, EvaluationWithoutCallbackIsAnError) {
  Trainer trainer(1);
  v1::JobConfig config = TestConfig();
  config.set_warmup_steps(0);
  config.set_warmup_lr(0);
  config.set_objective_switch(v1::OBJECTIVE_SWITCH_ALWAYS_VALIDATION);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "noeval", .config = config}, false).ok());
  EXPECT_EQ(trainer.tuner->NextLearningRate().status().code(),
            absl::StatusCode::kFailedPrecondition);

  // Without evaluations the callback may be null.
  config.set_objective_switch(v1::OBJECTIVE_SWITCH_NEVER);
  Trainer plain(1);
  ASSERT_TRUE(plain.Connect(client_.get(), {.job_id = "plain", .config = config}, false).ok());
  ASSERT_TRUE(plain.Train(1000).ok());
  EXPECT_TRUE(plain.tuner->done());
}

}  // namespace
}  // namespace autolrs

namespace autolrs {
namespace {

// The best-probe slot of a SyntheticTrainer, counting its calls.
class BestProbeCheckpointer final : public Checkpointer {
 public:
  explicit BestProbeCheckpointer(SyntheticTrainer* trainer) : trainer_(trainer) {}
  absl::Status Save() override {
    trainer_->SaveBest();
    ++saves;
    return absl::OkStatus();
  }
  absl::Status Restore() override {
    trainer_->RestoreBest();
    ++restores;
    return absl::OkStatus();
  }
  int saves = 0, restores = 0;

 private:
  SyntheticTrainer* const trainer_;
};

TEST_F(TunerTest, ReuseBestProbeUsesTheSecondCheckpointLikeTheReferenceRunner) {
  v1::JobConfig config = TestConfig();
  config.set_reuse_best_probe(true);
  Trainer trainer(/*seed=*/3);
  BestProbeCheckpointer best(&trainer.model);
  ASSERT_TRUE(trainer
                  .Connect(client_.get(),
                           {.job_id = "reuse", .config = config, .best_probe_checkpointer = &best})
                  .ok());
  ASSERT_TRUE(trainer.Train(1000).ok());
  ASSERT_TRUE(trainer.tuner->done());
  int saves_asked = 0, restores_asked = 0;
  for (const auto& [id, action] : trainer.run.actions) {
    saves_asked += action.save_best();
    restores_asked += action.checkpoint() == v1::CHECKPOINT_OP_RESTORE_BEST;
  }
  EXPECT_GT(restores_asked, 0);
  EXPECT_EQ(best.saves, saves_asked);
  EXPECT_EQ(best.restores, restores_asked);

  // The reference runner of the protocol gives the same schedule.
  v1::CreateJobRequest create;
  create.set_job_id("reuse-reference");
  *create.mutable_config() = config;
  ASSERT_TRUE(client_->CreateJob(create).ok());
  SyntheticTrainer model(/*seed=*/3);
  v1::NextActionRequest next;
  next.set_job_id("reuse-reference");
  absl::StatusOr<v1::Action> action = client_->NextAction(next);
  for (int i = 0; i < 1000 && action.ok() && action->phase() != v1::PHASE_DONE; ++i) {
    action = client_->ReportLosses(testing::RunAction(*action, model));
  }
  ASSERT_TRUE(action.ok()) << action.status();
  v1::Schedule tuned = Schedule("reuse");
  tuned.set_job_id("reuse-reference");
  EXPECT_EQ(tuned.SerializeAsString(), Schedule("reuse-reference").SerializeAsString());
}

TEST_F(TunerTest, ReuseBestProbeWithoutASecondCheckpointIsAnError) {
  v1::JobConfig config = TestConfig();
  config.set_reuse_best_probe(true);
  config.set_warmup_steps(0);
  config.clear_warmup_lr();
  Trainer trainer(/*seed=*/3);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "no-best", .config = config}).ok());
  const absl::Status status = trainer.Train(1000);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_NE(status.message().find("best_probe_checkpointer"), std::string::npos) << status;
}

// The budget ends inside the first stage's search and there is no cooldown:
// DONE (with RESTORE) answers a probe's report. When that restore fails,
// done() stays false (the model still holds the probe's state) and the next
// NextLearningRate() retries it.
TEST_F(TunerTest, AFailedRestoreAtTheEndIsRetriedBeforeDone) {
  v1::JobConfig config;
  config.set_lr_min(1e-3);
  config.set_lr_max(1.0);
  config.set_tau_initial(1000);
  config.set_probes_per_stage(10);
  config.set_total_steps(250);              // Probes of 100, 100 and 50 steps.
  config.set_preset(v1::PRESET_REFERENCE);  // No cooldown.
  Trainer trainer(/*seed=*/3);
  ASSERT_TRUE(trainer.Connect(client_.get(), {.job_id = "ends-in-probe", .config = config}).ok());
  ASSERT_TRUE(trainer.Train(249).ok());
  ASSERT_EQ(trainer.tuner->action().phase(), v1::PHASE_PROBE);
  trainer.checkpointer.fail_next = 1;
  ASSERT_TRUE(trainer.tuner->NextLearningRate().ok());
  const absl::Status failed = trainer.tuner->ReportStepLoss(trainer.model.TrainStep());
  EXPECT_TRUE(absl::IsUnavailable(failed)) << failed;
  EXPECT_FALSE(trainer.tuner->done());
  EXPECT_NE(trainer.model.excess_loss(), 2.0);  // The probe's end state.
  EXPECT_TRUE(absl::IsOutOfRange(trainer.tuner->NextLearningRate().status()));
  EXPECT_TRUE(trainer.tuner->done());
  EXPECT_EQ(trainer.run.events.back().kind, Event::kRestore);
  EXPECT_EQ(trainer.model.excess_loss(), 2.0);  // The stage checkpoint: the initial model.
}

}  // namespace
}  // namespace autolrs
