#include "client/client.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/server.h"

namespace autolrs {
namespace {

using server::AutoLrsServer;
using server::ServerOptions;

v1::JobConfig SmallConfig() {
  v1::JobConfig config;
  config.set_lr_min(1e-3);
  config.set_lr_max(0.5);
  config.set_tau_initial(20);
  config.set_seed(1);
  return config;
}

std::unique_ptr<AutoLrsServer> StartServer(ServerOptions options) {
  absl::StatusOr<std::unique_ptr<AutoLrsServer>> server = AutoLrsServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::unique_ptr<AutoLrsServer> StartMemoryServer(std::string auth_token = "") {
  return StartServer(
      {.listen_address = "127.0.0.1:0", .store = "memory:", .auth_token = std::move(auth_token)});
}

// Fast retries for tests.
ClientOptions TestOptions(int port) {
  ClientOptions options;
  options.target = absl::StrCat("127.0.0.1:", port);
  options.initial_backoff = absl::Milliseconds(5);
  options.max_backoff = absl::Milliseconds(50);
  options.seed = 42;
  return options;
}

std::unique_ptr<Client> NewClient(const ClientOptions& options) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

v1::GetJobRequest Get(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  return request;
}

TEST(ClientTest, RejectsBadOptions) {
  ClientOptions options = TestOptions(1);
  options.target = "";
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = TestOptions(1);
  options.max_attempts = 0;
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = TestOptions(1);
  options.deadline = absl::ZeroDuration();
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = TestOptions(1);
  options.max_backoff = options.initial_backoff / 2;
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = TestOptions(1);
  options.auth_token = "a\nb";
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Client::FromChannel(nullptr, TestOptions(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClientTest, EveryRpcRoundTrips) {
  std::unique_ptr<AutoLrsServer> server = StartMemoryServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> client = NewClient(TestOptions(server->port()));
  ASSERT_NE(client, nullptr);

  v1::CreateJobRequest create;
  create.set_job_id("round-trip");
  *create.mutable_config() = SmallConfig();
  absl::StatusOr<v1::Job> job = client->CreateJob(create);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->job_id(), "round-trip");
  EXPECT_EQ(job->config().tau_initial(), 20);

  absl::StatusOr<v1::Job> got = client->GetJob(Get("round-trip"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->create_time().seconds(), job->create_time().seconds());

  v1::NextActionRequest next;
  next.set_job_id("round-trip");
  absl::StatusOr<v1::Action> action = client->NextAction(next);
  ASSERT_TRUE(action.ok()) << action.status();
  EXPECT_EQ(action->phase(), v1::PHASE_PROBE);
  EXPECT_EQ(action->checkpoint(), v1::CHECKPOINT_OP_SAVE);

  v1::ReportLossesRequest report;
  report.set_job_id("round-trip");
  report.set_action_id(action->action_id());
  for (int64_t i = 0; i < action->steps(); ++i) report.add_losses(1.0 - 0.01 * i);
  absl::StatusOr<v1::Action> second = client->ReportLosses(report);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->action_id(), action->action_id() + 1);
  // A retried report changes nothing.
  absl::StatusOr<v1::Action> again = client->ReportLosses(report);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->action_id(), second->action_id());

  v1::GetScheduleRequest schedule_request;
  schedule_request.set_job_id("round-trip");
  absl::StatusOr<v1::Schedule> schedule = client->GetSchedule(schedule_request);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  ASSERT_EQ(schedule->stages_size(), 1);
  EXPECT_EQ(schedule->stages(0).probes_size(), 1);

  // No job of a family has finished: no family, answered at once (no retry).
  v1::GetFamilyRequest family;
  family.set_name("no-runs-yet");
  const int64_t attempts_before = client->attempts();
  EXPECT_EQ(client->GetFamily(family).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->attempts(), attempts_before + 1);
  absl::StatusOr<v1::ListFamiliesResponse> families = client->ListFamilies({});
  ASSERT_TRUE(families.ok()) << families.status();
  EXPECT_EQ(families->families_size(), 0);
  v1::DeleteFamilyRequest forget;
  forget.set_name("Not A Name");
  EXPECT_EQ(client->DeleteFamily(forget).status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<v1::ListJobsResponse> list = client->ListJobs(v1::ListJobsRequest());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->jobs_size(), 1);
  EXPECT_EQ(list->jobs(0).job_id(), "round-trip");

  v1::DeleteJobRequest del;
  del.set_job_id("round-trip");
  EXPECT_TRUE(client->DeleteJob(del).ok());
  const int64_t attempts = client->attempts();
  absl::StatusOr<v1::Job> gone = client->GetJob(Get("round-trip"));
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(gone.status().message(), "does not exist")) << gone.status();
  EXPECT_EQ(client->attempts(), attempts + 1);  // NOT_FOUND is not retried.
  EXPECT_EQ(client->attempts(), client->calls());
}

TEST(ClientTest, CreateJobAlwaysSendsARequestId) {
  std::unique_ptr<AutoLrsServer> server = StartMemoryServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> client = NewClient(TestOptions(server->port()));
  ASSERT_NE(client, nullptr);

  v1::CreateJobRequest create;
  *create.mutable_config() = SmallConfig();
  absl::StatusOr<v1::Job> a = client->CreateJob(create);
  absl::StatusOr<v1::Job> b = client->CreateJob(create);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(a->job_id(), b->job_id());  // Two calls, two generated ids.

  create.set_request_id("same-key");
  absl::StatusOr<v1::Job> c = client->CreateJob(create);
  absl::StatusOr<v1::Job> d = client->CreateJob(create);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(c->job_id(), d->job_id());
}

TEST(ClientTest, InvalidArgumentIsNotRetried) {
  std::unique_ptr<AutoLrsServer> server = StartMemoryServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> client = NewClient(TestOptions(server->port()));
  ASSERT_NE(client, nullptr);

  v1::CreateJobRequest create;
  create.set_job_id("bad");
  *create.mutable_config() = SmallConfig();
  create.mutable_config()->set_lr_min(-1);
  absl::StatusOr<v1::Job> job = client->CreateJob(create);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  // The server's message, unchanged.
  EXPECT_EQ(job.status().message(), "config.lr_min must be finite and > 0, got -1");
  EXPECT_EQ(client->attempts(), 1);
  EXPECT_EQ(client->calls(), 1);
}

TEST(ClientTest, SendsTheAuthToken) {
  std::unique_ptr<AutoLrsServer> server = StartMemoryServer("s3cret");
  ASSERT_NE(server, nullptr);
  ClientOptions options = TestOptions(server->port());

  std::unique_ptr<Client> anonymous = NewClient(options);
  ASSERT_NE(anonymous, nullptr);
  absl::StatusOr<v1::ListJobsResponse> denied = anonymous->ListJobs(v1::ListJobsRequest());
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous->attempts(), 1);

  options.auth_token = "wrong";
  std::unique_ptr<Client> wrong = NewClient(options);
  ASSERT_NE(wrong, nullptr);
  EXPECT_EQ(wrong->ListJobs(v1::ListJobsRequest()).status().code(),
            absl::StatusCode::kUnauthenticated);

  options.auth_token = "s3cret";
  std::unique_ptr<Client> authorized = NewClient(options);
  ASSERT_NE(authorized, nullptr);
  absl::StatusOr<v1::ListJobsResponse> list = authorized->ListJobs(v1::ListJobsRequest());
  EXPECT_TRUE(list.ok()) << list.status();
}

// The job survives a server restart on the same port with a SQLite store; a
// call made while no server listens waits and retries until it is back.
TEST(ClientTest, SurvivesAServerRestart) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string store =
      absl::StrCat("sqlite:", tmp != nullptr ? tmp : "/tmp", "/client_test_restart.db");
  std::remove(store.substr(7).c_str());
  std::unique_ptr<AutoLrsServer> server =
      StartServer({.listen_address = "127.0.0.1:0", .store = store});
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  ClientOptions options = TestOptions(port);
  options.deadline = absl::Milliseconds(200);  // Retries while the server is down.
  options.max_attempts = 1000;
  options.retry_budget = absl::Seconds(60);
  std::unique_ptr<Client> client = NewClient(options);
  ASSERT_NE(client, nullptr);
  v1::CreateJobRequest create;
  create.set_job_id("survivor");
  *create.mutable_config() = SmallConfig();
  absl::StatusOr<v1::Job> job = client->CreateJob(create);
  ASSERT_TRUE(job.ok()) << job.status();

  server->Shutdown(absl::ZeroDuration());
  server.reset();
  const int64_t attempts = client->attempts();
  std::thread restart([&] {
    absl::SleepFor(absl::Seconds(1));
    server = StartServer({.listen_address = absl::StrCat("127.0.0.1:", port), .store = store});
  });
  absl::StatusOr<v1::Job> got = client->GetJob(Get("survivor"));
  restart.join();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->job_id(), "survivor");
  EXPECT_EQ(got->create_time().seconds(), job->create_time().seconds());
  std::cerr << "GetJob across the restart took " << client->attempts() - attempts << " attempts\n";
}

// A fake AutoLrsService whose GetJob fails with `fail_code` for the first
// `failures` calls (forever if negative), or blocks until the call is
// cancelled when `block` is set; it answers the job otherwise.
class FaultyService final : public v1::AutoLrsService::Service {
 public:
  FaultyService(grpc::StatusCode fail_code, int failures, bool block = false)
      : fail_code_(fail_code), failures_(failures), block_(block) {}

  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::Job* response) override {
    const int call = calls_.fetch_add(1) + 1;
    if (block_) {
      // Bounded: an ignored deadline shows as OK after 30 s.
      for (int i = 0; i < 30000 && !context->IsCancelled(); ++i) {
        absl::SleepFor(absl::Milliseconds(1));
      }
      if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    } else if (failures_ < 0 || call <= failures_) {
      return grpc::Status(fail_code_, absl::StrCat("injected failure ", call));
    }
    response->set_job_id(request->job_id());
    return grpc::Status::OK;
  }

  int calls() const { return calls_.load(); }

 private:
  const grpc::StatusCode fail_code_;
  const int failures_;
  const bool block_;
  std::atomic<int> calls_{0};
};

class FaultyServer {
 public:
  explicit FaultyServer(FaultyService* service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
  }
  ~FaultyServer() { server_->Shutdown(std::chrono::system_clock::now()); }
  int port() const { return port_; }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST(ClientTest, RetriesUnavailableDeadlineExceededAndAborted) {
  for (grpc::StatusCode code : {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED,
                                grpc::StatusCode::ABORTED}) {
    FaultyService service(code, /*failures=*/3);
    FaultyServer server(&service);
    ASSERT_NE(server.port(), 0);
    std::unique_ptr<Client> client = NewClient(TestOptions(server.port()));
    ASSERT_NE(client, nullptr);
    absl::StatusOr<v1::Job> job = client->GetJob(Get("flaky"));
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->job_id(), "flaky");
    EXPECT_EQ(service.calls(), 4);
    EXPECT_EQ(client->attempts(), 4);
    EXPECT_EQ(client->calls(), 1);
  }
}

TEST(ClientTest, OtherErrorsAreNotRetried) {
  for (grpc::StatusCode code :
       {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::FAILED_PRECONDITION,
        grpc::StatusCode::INTERNAL}) {
    FaultyService service(code, /*failures=*/3);
    FaultyServer server(&service);
    std::unique_ptr<Client> client = NewClient(TestOptions(server.port()));
    ASSERT_NE(client, nullptr);
    absl::StatusOr<v1::Job> job = client->GetJob(Get("flaky"));
    EXPECT_EQ(static_cast<int>(job.status().code()), static_cast<int>(code));
    EXPECT_EQ(job.status().message(), "injected failure 1");
    EXPECT_EQ(service.calls(), 1);
  }
}

TEST(ClientTest, GivesUpAfterMaxAttempts) {
  FaultyService service(grpc::StatusCode::UNAVAILABLE, /*failures=*/-1);
  FaultyServer server(&service);
  ClientOptions options = TestOptions(server.port());
  options.max_attempts = 3;
  std::unique_ptr<Client> client = NewClient(options);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<v1::Job> job = client->GetJob(Get("flaky"));
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(job.status().message(), "injected failure 3")) << job.status();
  EXPECT_TRUE(absl::StrContains(job.status().message(), "gave up after 3 attempts"))
      << job.status();
  EXPECT_EQ(service.calls(), 3);
}

TEST(ClientTest, RetryBudgetBoundsRetries) {
  FaultyService service(grpc::StatusCode::UNAVAILABLE, /*failures=*/-1);
  FaultyServer server(&service);
  ClientOptions options = TestOptions(server.port());
  options.max_attempts = 1'000'000;
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(10);
  options.retry_budget = absl::Milliseconds(200);
  std::unique_ptr<Client> client = NewClient(options);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetJob(Get("flaky")).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(service.calls(), 2);
  EXPECT_LT(service.calls(), 1000);  // Sleeps of >= 5 ms within 200 ms.

  options.retry_budget = absl::ZeroDuration();  // No retries at all.
  std::unique_ptr<Client> no_retries = NewClient(options);
  ASSERT_NE(no_retries, nullptr);
  const int before = service.calls();
  EXPECT_EQ(no_retries->GetJob(Get("flaky")).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service.calls(), before + 1);
}

TEST(ClientTest, HonoursTheDeadline) {
  FaultyService service(grpc::StatusCode::OK, 0, /*block=*/true);
  FaultyServer server(&service);
  ClientOptions options = TestOptions(server.port());
  options.deadline = absl::Milliseconds(100);
  options.max_attempts = 2;
  std::unique_ptr<Client> client = NewClient(options);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<v1::Job> job = client->GetJob(Get("slow"));
  EXPECT_EQ(job.status().code(), absl::StatusCode::kDeadlineExceeded) << job.status();
  EXPECT_EQ(client->attempts(), 2);
}

}  // namespace
}  // namespace autolrs
