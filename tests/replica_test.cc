// Several autolrs_server replicas (real processes) on one real PostgreSQL
// (testing/postgres_process.h): a client may use any replica for any call,
// a replica may die, the database may restart, and every job still gets
// exactly the schedule a single server gives it, every acknowledged report
// applied once.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "testing/action_runner.h"
#include "testing/health_client.h"
#include "testing/postgres_process.h"
#include "testing/server_process.h"
#include "testing/synthetic_trainer.h"

namespace autolrs {
namespace {

using autolrs::testing::RunAction;
using autolrs::testing::ServerProcess;
using autolrs::testing::SharedPostgres;
using autolrs::testing::SyntheticTrainer;
using Stub = v1::AutoLrsService::Stub;

constexpr char kServer[] = "server/autolrs_server";

std::unique_ptr<ServerProcess> StartServer(const std::string& store) {
  auto server = ServerProcess::Start(kServer, store);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::shared_ptr<grpc::Channel> Channel(const ServerProcess& server) {
  return grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
}

std::string NewDatabase(const std::string& name) {
  absl::StatusOr<std::string> uri = SharedPostgres().CreateDatabase(name);
  EXPECT_TRUE(uri.ok()) << uri.status();
  return uri.value_or("");
}

v1::JobConfig Config(int seed) {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(100);
  c.set_tau_max(200);
  c.set_probes_per_stage(4);
  c.set_total_steps(1500);
  c.set_seed(seed);
  return c;
}

// The replicas a client knows; it sends each call to one of them and, when
// that one fails with a retryable status, to the next (as a client behind a
// load balancer would see it), until `deadline`.
class Client {
 public:
  explicit Client(const std::vector<std::string>& addresses) {
    for (const std::string& a : addresses) {
      stubs_.push_back(
          v1::AutoLrsService::NewStub(grpc::CreateChannel(a, grpc::InsecureChannelCredentials())));
    }
  }

  // Runs `call(stub, context)` on replica `*replica` (moving on to the next
  // one on UNAVAILABLE, ABORTED or DEADLINE_EXCEEDED) and returns the first
  // other status.
  template <typename Call>
  grpc::Status Retry(int* replica, Call call) {
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    while (true) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      const grpc::Status s = call(*stubs_[*replica % stubs_.size()], &ctx);
      const bool retryable = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                             s.error_code() == grpc::StatusCode::ABORTED ||
                             s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
      if (!retryable || absl::Now() > deadline) return s;
      ++retries;
      ++*replica;
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  std::atomic<int> retries{0};

 private:
  std::vector<std::unique_ptr<Stub>> stubs_;
};

// Runs job `id` (seed `seed`) to DONE through `client`, switching replica
// after every call when `alternate`; `after_report(n)` runs after the n-th
// acknowledged report. Returns the schedule.
template <typename AfterReport>
v1::Schedule RunJob(Client& client, const std::string& id, int seed, bool alternate,
                    AfterReport after_report) {
  int replica = seed;
  auto next_replica = [&] {
    if (alternate) ++replica;
  };
  v1::CreateJobRequest create;
  create.set_job_id(id);
  create.set_request_id("create-" + id);
  *create.mutable_config() = Config(seed);
  v1::Job job;
  grpc::Status s = client.Retry(&replica, [&](Stub& stub, grpc::ClientContext* ctx) {
    return stub.CreateJob(ctx, create, &job);
  });
  EXPECT_TRUE(s.ok()) << s.error_message();
  next_replica();
  v1::NextActionRequest next;
  next.set_job_id(id);
  v1::Action action;
  s = client.Retry(&replica, [&](Stub& stub, grpc::ClientContext* ctx) {
    return stub.NextAction(ctx, next, &action);
  });
  EXPECT_TRUE(s.ok()) << s.error_message();
  SyntheticTrainer trainer(seed);
  int reports = 0;
  while (s.ok() && action.phase() != v1::PHASE_DONE && reports < 200) {
    next_replica();
    const v1::ReportLossesRequest report = RunAction(action, trainer);
    v1::Action answer;
    s = client.Retry(&replica, [&](Stub& stub, grpc::ClientContext* ctx) {
      return stub.ReportLosses(ctx, report, &answer);
    });
    EXPECT_TRUE(s.ok()) << id << ": " << s.error_message();
    if (!s.ok()) break;
    after_report(++reports);
    // Whichever replica is asked next knows the acknowledged report.
    next_replica();
    v1::Action polled;
    s = client.Retry(&replica, [&](Stub& stub, grpc::ClientContext* ctx) {
      return stub.NextAction(ctx, next, &polled);
    });
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(polled.SerializeAsString(), answer.SerializeAsString())
        << id << ": report " << reports
        << " was lost, applied twice, or answered from a stale copy";
    action = answer;
  }
  EXPECT_EQ(action.phase(), v1::PHASE_DONE) << id;
  v1::GetScheduleRequest get;
  get.set_job_id(id);
  v1::Schedule schedule;
  s = client.Retry(&replica, [&](Stub& stub, grpc::ClientContext* ctx) {
    return stub.GetSchedule(ctx, get, &schedule);
  });
  EXPECT_TRUE(s.ok()) << s.error_message();
  return schedule;
}

// The schedules of jobs 0..n-1 on one server (memory store), alone.
std::vector<v1::Schedule> SingleServerSchedules(int jobs) {
  std::unique_ptr<ServerProcess> server = StartServer("memory:");
  if (server == nullptr) return {};
  Client client({server->address()});
  std::vector<v1::Schedule> schedules;
  for (int j = 0; j < jobs; ++j) {
    schedules.push_back(RunJob(client, absl::StrCat("job-", j), j, false, [](int) {}));
  }
  return schedules;
}

// Runs jobs 0..n-1 concurrently (a thread each) through `client`,
// alternating replicas, while `during(reports)` runs on this thread;
// `reports` counts the acknowledged reports over all jobs.
template <typename During>
std::vector<v1::Schedule> RunConcurrently(Client& client, int jobs, During during) {
  std::vector<v1::Schedule> schedules(jobs);
  std::atomic<int> total{0};
  std::vector<std::thread> threads;
  for (int j = 0; j < jobs; ++j) {
    threads.emplace_back([&, j] {
      schedules[j] = RunJob(client, absl::StrCat("job-", j), j, true, [&](int) { ++total; });
    });
  }
  during(total);
  for (auto& t : threads) t.join();
  return schedules;
}

// Waits until `reports` reaches `n` (mid-burst: other reports are in flight).
void WaitForReports(const std::atomic<int>& reports, int n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (reports.load() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_GE(reports.load(), n);
}

void ExpectSameSchedules(const std::vector<v1::Schedule>& actual,
                         const std::vector<v1::Schedule>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t j = 0; j < expected.size(); ++j) {
    ASSERT_GT(expected[j].stages_size(), 2);
    EXPECT_EQ(actual[j].SerializeAsString(), expected[j].SerializeAsString()) << "job " << j;
  }
}

TEST(ReplicaTest, AClientAlternatingBetweenTwoReplicasGetsTheScheduleOfOneServer) {
  const std::vector<v1::Schedule> expected = SingleServerSchedules(1);
  const std::string uri = NewDatabase("alternate");
  std::unique_ptr<ServerProcess> a = StartServer(uri), b = StartServer(uri);
  ASSERT_TRUE(a != nullptr && b != nullptr);
  Client client({a->address(), b->address()});
  std::vector<v1::Schedule> actual = {RunJob(client, "job-0", 0, true, [](int) {})};
  ExpectSameSchedules(actual, expected);
}

TEST(ReplicaTest, ConcurrentJobsThroughTwoReplicasGetTheSchedulesOfOneServer) {
  constexpr int kJobs = 4;
  const std::vector<v1::Schedule> expected = SingleServerSchedules(kJobs);
  const std::string uri = NewDatabase("concurrent");
  std::unique_ptr<ServerProcess> a = StartServer(uri), b = StartServer(uri);
  ASSERT_TRUE(a != nullptr && b != nullptr);
  Client client({a->address(), b->address()});
  ExpectSameSchedules(RunConcurrently(client, kJobs, [](const std::atomic<int>&) {}), expected);
}

TEST(ReplicaTest, SigkillOfOneReplicaMidBurstLosesNoAcknowledgedReport) {
  constexpr int kJobs = 4;
  const std::vector<v1::Schedule> expected = SingleServerSchedules(kJobs);
  const std::string uri = NewDatabase("sigkill");
  std::unique_ptr<ServerProcess> a = StartServer(uri), b = StartServer(uri);
  ASSERT_TRUE(a != nullptr && b != nullptr);
  Client client({a->address(), b->address()});
  const std::vector<v1::Schedule> actual =
      RunConcurrently(client, kJobs, [&](const std::atomic<int>& reports) {
        WaitForReports(reports, 30);
        const int status = a->Stop(SIGKILL);
        EXPECT_TRUE(WIFSIGNALED(status));
      });
  ExpectSameSchedules(actual, expected);
  EXPECT_GT(client.retries.load(), 0) << "no call ever met the dead replica";
}

TEST(ReplicaTest, APostgresRestartMidRunIsSurvivedByReplicasAndTrainers) {
  constexpr int kJobs = 4;
  const std::vector<v1::Schedule> expected = SingleServerSchedules(kJobs);
  const std::string uri = NewDatabase("pg_restart");
  std::unique_ptr<ServerProcess> a = StartServer(uri), b = StartServer(uri);
  ASSERT_TRUE(a != nullptr && b != nullptr);
  Client client({a->address(), b->address()});
  const std::vector<v1::Schedule> actual =
      RunConcurrently(client, kJobs, [&](const std::atomic<int>& reports) {
        // The database goes down mid-run: the replicas' health turns
        // NOT_SERVING (a load balancer stops sending them calls), then
        // SERVING again once it is back, without restarting them.
        WaitForReports(reports, 30);
        SharedPostgres().Stop(SIGINT);
        for (const ServerProcess* replica : {a.get(), b.get()}) {
          absl::StatusOr<testing::Health> health = testing::AwaitHealth(
              Channel(*replica), testing::Health::kNotServing, absl::Seconds(20));
          EXPECT_TRUE(health.ok() && *health == testing::Health::kNotServing);
        }
        EXPECT_TRUE(SharedPostgres().Restart().ok());
        for (const ServerProcess* replica : {a.get(), b.get()}) {
          absl::StatusOr<testing::Health> health =
              testing::AwaitHealth(Channel(*replica), testing::Health::kServing, absl::Seconds(20));
          EXPECT_TRUE(health.ok() && *health == testing::Health::kServing);
        }
      });
  ExpectSameSchedules(actual, expected);
  EXPECT_GT(client.retries.load(), 0) << "no call ever met the database down";
}

}  // namespace
}  // namespace autolrs
