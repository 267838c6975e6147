// Per-tenant quotas and per-request limits over real gRPC: each refusal has
// its status and a message naming the limit, changes nothing, and touches
// only the tenant over it.
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/job.h"
#include "server/memory_job_store.h"
#include "server/quota_job_store.h"
#include "server/rate_limiter.h"
#include "server/server.h"

namespace autolrs::server {
namespace {

constexpr char kAlice[] = "alice-0123456789abcdef";
constexpr char kBob[] = "bob-0123456789abcdef00";

v1::JobConfig Config() {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(20);
  c.set_tau_max(40);
  c.set_probes_per_stage(2);
  return c;
}

void ExpectRefusal(const grpc::Status& s, grpc::StatusCode code, const std::string& limit) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_NE(s.error_message().find(limit), std::string::npos)
      << "'" << s.error_message() << "' does not name " << limit;
}

class QuotaTest : public ::testing::Test {
 protected:
  void Start(const StoreQuotas& quotas, const ServiceLimits& limits) {
    const std::string tokens = ::testing::TempDir() + "/quota_tokens";
    std::ofstream(tokens) << kAlice << " alice\n" << kBob << " bob\n";
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.store = "memory:";
    options.token_file = tokens;
    options.quotas = quotas;
    options.limits = limits;
    options.max_message_bytes = 64 << 10;
    auto server = AutoLrsServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::AutoLrsService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return context;
  }

  grpc::Status Create(const std::string& token, const std::string& id,
                      const v1::JobConfig& config = Config()) {
    v1::CreateJobRequest request;
    request.set_job_id(id);
    *request.mutable_config() = config;
    v1::Job job;
    return stub_->CreateJob(As(token).get(), request, &job);
  }

  grpc::Status Next(const std::string& token, const std::string& id, v1::Action* action) {
    v1::NextActionRequest request;
    request.set_job_id(id);
    return stub_->NextAction(As(token).get(), request, action);
  }

  grpc::Status Report(const std::string& token, const v1::Action& action, int64_t losses) {
    v1::ReportLossesRequest request;
    request.set_job_id(action.job_id());
    request.set_action_id(action.action_id());
    for (int64_t i = 0; i < losses; ++i) request.add_losses(2.0 - 0.001 * i);
    v1::Action next;
    return stub_->ReportLosses(As(token).get(), request, &next);
  }

  std::unique_ptr<AutoLrsServer> server_;
  std::unique_ptr<v1::AutoLrsService::Stub> stub_;
};

TEST_F(QuotaTest, LiveJobsPerTenant) {
  Start({.max_live_jobs = 2}, {});
  ASSERT_TRUE(Create(kAlice, "a1").ok());
  ASSERT_TRUE(Create(kAlice, "a2").ok());
  ExpectRefusal(Create(kAlice, "a3"), grpc::StatusCode::RESOURCE_EXHAUSTED,
                "--tenant_max_live_jobs=2");
  EXPECT_TRUE(Create(kBob, "b1").ok());  // Bob has his own quota.
  v1::GetJobRequest get;
  get.set_job_id("a3");
  v1::Job job;
  EXPECT_EQ(stub_->GetJob(As(kAlice).get(), get, &job).error_code(), grpc::StatusCode::NOT_FOUND);

  v1::DeleteJobRequest del;
  del.set_job_id("a1");
  v1::DeleteJobResponse deleted;
  ASSERT_TRUE(stub_->DeleteJob(As(kAlice).get(), del, &deleted).ok());
  EXPECT_TRUE(Create(kAlice, "a3").ok());  // The deleted job freed its slot.
}

TEST_F(QuotaTest, StateBytesPerTenantRefuseNewJobsAndGrowingReports) {
  // Room for one new job and a little: its first probe's report grows it
  // past the quota.
  // (The largest first action id and timestamps the server may choose.)
  Job::Origin origin;
  origin.now = absl::Now();
  origin.first_action_id = (int64_t{1} << 31) * 1'000'000 + 1;
  auto local = Job::Create("a1", Config(), origin);
  ASSERT_TRUE(local.ok());
  JobState state = local->state();
  state.mutable_job()->set_tenant("alice");
  const int64_t quota = static_cast<int64_t>(state.ByteSizeLong()) + 16;
  Start({.max_state_bytes = quota}, {});

  ASSERT_TRUE(Create(kAlice, "a1").ok());
  ExpectRefusal(Create(kAlice, "a2"), grpc::StatusCode::RESOURCE_EXHAUSTED,
                absl::StrCat("--tenant_max_state_bytes=", quota));
  v1::Action action;
  ASSERT_TRUE(Next(kAlice, "a1", &action).ok());
  ExpectRefusal(Report(kAlice, action, action.steps()), grpc::StatusCode::RESOURCE_EXHAUSTED,
                "--tenant_max_state_bytes");
  v1::Action again;  // Nothing changed: the same action is still current.
  ASSERT_TRUE(Next(kAlice, "a1", &again).ok());
  EXPECT_EQ(again.action_id(), action.action_id());
  EXPECT_TRUE(Create(kBob, "b1").ok());
}

TEST_F(QuotaTest, RequestsPerSecondPerTenant) {
  Start({}, {.tenant_requests_per_second = 1, .tenant_request_burst = 3});
  int refused = 0;
  grpc::Status last;
  for (int i = 0; i < 10; ++i) {
    grpc::Status s = Create(kAlice, absl::StrCat("a", i));
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      last = s;
    }
  }
  // 10 calls in well under 6 s: at most 3 + 6 admitted.
  EXPECT_GE(refused, 1);
  ExpectRefusal(last, grpc::StatusCode::RESOURCE_EXHAUSTED, "--tenant_requests_per_second=1");
  EXPECT_TRUE(Create(kBob, "b1").ok());  // Bob has his own bucket.
}

TEST_F(QuotaTest, SeriesLengthAndMessageSizePerRequest) {
  Start({}, {.max_series_length = 30});
  v1::JobConfig too_long = Config();  // tau_max 40 > 30.
  ExpectRefusal(Create(kAlice, "long", too_long), grpc::StatusCode::INVALID_ARGUMENT,
                "--max_series_length=30");
  v1::JobConfig fits = Config();
  fits.set_tau_max(20);
  ASSERT_TRUE(Create(kAlice, "fits", fits).ok());
  v1::Action action;
  ASSERT_TRUE(Next(kAlice, "fits", &action).ok());
  ExpectRefusal(Report(kAlice, action, 31), grpc::StatusCode::INVALID_ARGUMENT,
                "--max_series_length=30");
  // Over max_message_bytes (64 KiB): gRPC refuses it before the handler,
  // naming both sizes.
  ExpectRefusal(Report(kAlice, action, 10'000), grpc::StatusCode::RESOURCE_EXHAUSTED, "vs. 65536");
  EXPECT_TRUE(Report(kAlice, action, action.steps()).ok());
}

TEST(RateLimiterTest, RefillsAtTheRateUpToTheBurst) {
  absl::Time now = absl::UnixEpoch();
  RateLimiter limiter(2, 4, [&] { return now; });
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.Admit("t").ok());
  EXPECT_TRUE(absl::IsResourceExhausted(limiter.Admit("t")));
  EXPECT_TRUE(limiter.Admit("other").ok());
  now += absl::Milliseconds(500);  // One token back.
  EXPECT_TRUE(limiter.Admit("t").ok());
  EXPECT_TRUE(absl::IsResourceExhausted(limiter.Admit("t")));
  now += absl::Seconds(100);  // Refills to the burst, not beyond.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.Admit("t").ok());
  EXPECT_TRUE(absl::IsResourceExhausted(limiter.Admit("t")));
  RateLimiter unlimited(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(unlimited.Admit("t").ok());
}

TEST(QuotaJobStoreTest, CountsWhatIsStoredAtStartAndFreesOnDeleteAndFinish) {
  auto inner = std::make_unique<MemoryJobStore>();
  auto running = Job::Create("j1", Config());
  ASSERT_TRUE(running.ok());
  JobState j1 = running->state();
  j1.mutable_job()->set_tenant("alice");
  ASSERT_TRUE(inner->Insert(j1).ok());
  auto wrapped = QuotaJobStore::Wrap(std::move(inner), {.max_live_jobs = 1});
  ASSERT_TRUE(wrapped.ok());
  QuotaJobStore& store = **wrapped;
  EXPECT_EQ(store.Usage("alice").live_jobs, 1);
  EXPECT_EQ(store.Usage("alice").state_bytes, static_cast<int64_t>(j1.ByteSizeLong()));

  JobState j2 = j1;
  j2.mutable_job()->set_job_id("j2");
  EXPECT_TRUE(absl::IsResourceExhausted(store.Insert(j2)));
  EXPECT_TRUE(absl::IsNotFound(store.Get("j2").status()));  // Nothing written.

  JobState done = j1;  // j1 finishes: its slot is free.
  done.set_version(2);
  done.mutable_job()->set_state(v1::JOB_STATE_DONE);
  ASSERT_TRUE(store.Update(done).ok());
  EXPECT_EQ(store.Usage("alice").live_jobs, 0);
  ASSERT_TRUE(store.Insert(j2).ok());
  ASSERT_TRUE(store.Delete("j2").ok());
  ASSERT_TRUE(store.Delete("j1").ok());
  EXPECT_EQ(store.Usage("alice").live_jobs, 0);
  EXPECT_EQ(store.Usage("alice").state_bytes, 0);
}

}  // namespace
}  // namespace autolrs::server
