// A real server with metrics on: its /metrics endpoint is scraped over HTTP,
// the Prometheus text format parsed, and the counters checked against the
// calls made (RPCs by method and code, store calls, BO and forecast timings,
// jobs, connections, readiness).
#include "server/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/instrumented_job_store.h"
#include "server/log.h"
#include "server/memory_job_store.h"
#include "server/server.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

namespace autolrs {
namespace {

// GET http://127.0.0.1:<port><path>: the status line and body.
struct HttpResponse {
  std::string status_line;
  std::string body;
};

HttpResponse HttpGet(int port, const std::string& path) {
  HttpResponse response;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return response;
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  (void)!write(fd, request.data(), request.size());
  std::string raw;
  char buffer[8192];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) raw.append(buffer, n);
  close(fd);
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return response;
  response.status_line = raw.substr(0, raw.find("\r\n"));
  response.body = raw.substr(head_end + 4);
  return response;
}

// The samples of a Prometheus text exposition, keyed by metric name and
// labels (labels sorted by name, as in the format's canonical form).
class Samples {
 public:
  explicit Samples(const std::string& text) {
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(line, "#")) continue;
      const size_t space = line.rfind(' ');
      double value = 0;
      if (space == absl::string_view::npos || !absl::SimpleAtod(line.substr(space + 1), &value)) {
        ADD_FAILURE() << "not a sample: " << line;
        continue;
      }
      absl::string_view series = line.substr(0, space);
      std::string name(series.substr(0, series.find('{')));
      std::map<std::string, std::string> labels;
      if (series.find('{') != absl::string_view::npos) {
        absl::string_view inside = series.substr(series.find('{') + 1);
        inside = absl::StripSuffix(inside, "}");
        for (absl::string_view pair : absl::StrSplit(inside, "\",", absl::SkipEmpty())) {
          std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
          labels[kv.first] =
              std::string(absl::StripSuffix(absl::StripPrefix(kv.second, "\""), "\""));
        }
      }
      values_[Key(name, labels)] = value;
      ++count_;
    }
  }

  // The sample's value; -1 when there is no such sample.
  double Get(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    auto it = values_.find(Key(name, labels));
    return it == values_.end() ? -1 : it->second;
  }
  int count() const { return count_; }

 private:
  static std::string Key(const std::string& name, const std::map<std::string, std::string>& l) {
    std::string key = name;
    for (const auto& [k, v] : l) absl::StrAppend(&key, "|", k, "=", v);
    return key;
  }
  std::map<std::string, double> values_;
  int count_ = 0;
};

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.store = "memory:";
    options.metrics_listen = "127.0.0.1:0";
    options.health_check_interval = absl::Milliseconds(20);
    auto started = server::AutoLrsServer::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    ASSERT_GT(server_->metrics_port(), 0);
    stub_ = v1::AutoLrsService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  Samples Scrape() {
    const HttpResponse response = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK");
    return Samples(response.body);
  }

  std::unique_ptr<server::AutoLrsServer> server_;
  std::unique_ptr<v1::AutoLrsService::Stub> stub_;
};

TEST_F(MetricsTest, CountersFollowTheCallsMade) {
  const Samples before = Scrape();
  EXPECT_GT(before.count(), 10);
  EXPECT_EQ(before.Get("autolrs_ready"), 1);
  EXPECT_EQ(before.Get("autolrs_jobs_live"), 0);
  EXPECT_EQ(before.Get("autolrs_rpc_requests_total", {{"method", "CreateJob"}, {"code", "OK"}}),
            -1);

  v1::CreateJobRequest create;
  create.set_job_id("scraped");
  create.mutable_config()->set_lr_min(1e-3);
  create.mutable_config()->set_lr_max(1.0);
  create.mutable_config()->set_tau_initial(100);
  create.mutable_config()->set_probes_per_stage(3);
  create.mutable_config()->set_total_steps(5000);
  {
    grpc::ClientContext ctx;
    v1::Job job;
    ASSERT_TRUE(stub_->CreateJob(&ctx, create, &job).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::GetJobRequest get;
    get.set_job_id("missing");
    v1::Job job;
    EXPECT_EQ(stub_->GetJob(&ctx, get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // Three NextAction calls, then reports until the first stage has chosen
  // its LR (3 probes forecast; BO fitted and asked).
  v1::Action action;
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    v1::NextActionRequest next;
    next.set_job_id("scraped");
    ASSERT_TRUE(stub_->NextAction(&ctx, next, &action).ok());
  }
  testing::SyntheticTrainer trainer(5);
  int reports = 0;
  int probes = 0;
  while (action.phase() != v1::PHASE_EXPLOIT) {
    ASSERT_LT(reports, 20);
    if (action.phase() == v1::PHASE_PROBE) ++probes;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->ReportLosses(&ctx, testing::RunAction(action, trainer), &action).ok());
    ++reports;
  }
  absl::SleepFor(absl::Milliseconds(100));  // Two health checks refresh the gauges.

  const Samples after = Scrape();
  auto rpc = [&](const std::string& method, const std::string& code) {
    return after.Get("autolrs_rpc_requests_total", {{"method", method}, {"code", code}});
  };
  auto rpc_count = [&](const std::string& method, const std::string& code) {
    return after.Get("autolrs_rpc_duration_seconds_count", {{"method", method}, {"code", code}});
  };
  EXPECT_EQ(rpc("CreateJob", "OK"), 1);
  EXPECT_EQ(rpc("GetJob", "NOT_FOUND"), 1);
  EXPECT_EQ(rpc("GetJob", "OK"), -1);
  EXPECT_EQ(rpc("NextAction", "OK"), 3);
  EXPECT_EQ(rpc("ReportLosses", "OK"), reports);
  EXPECT_EQ(rpc_count("NextAction", "OK"), 3);
  EXPECT_EQ(rpc_count("ReportLosses", "OK"), reports);
  EXPECT_EQ(after.Get("autolrs_rpc_duration_seconds_bucket",
                      {{"method", "ReportLosses"}, {"code", "OK"}, {"le", "+Inf"}}),
            reports);
  EXPECT_GT(
      after.Get("autolrs_rpc_duration_seconds_sum", {{"method", "ReportLosses"}, {"code", "OK"}}),
      0);

  EXPECT_EQ(after.Get("autolrs_store_duration_seconds_count", {{"op", "Insert"}}), 1);
  EXPECT_EQ(after.Get("autolrs_store_duration_seconds_count", {{"op", "Update"}}), reports);
  EXPECT_EQ(after.Get("autolrs_store_errors_total", {{"op", "Update"}, {"code", "UNAVAILABLE"}}),
            -1);
  EXPECT_EQ(after.Get("autolrs_compute_duration_seconds_count", {{"kind", "forecast"}}), probes);
  EXPECT_GT(after.Get("autolrs_compute_duration_seconds_count", {{"kind", "bayes_opt"}}), probes);
  EXPECT_GT(after.Get("autolrs_compute_duration_seconds_sum", {{"kind", "bayes_opt"}}), 0);

  EXPECT_EQ(after.Get("autolrs_job_events_total", {{"event", "job_created"}}), 1);
  EXPECT_EQ(after.Get("autolrs_job_events_total", {{"event", "stage_chosen"}}), 1);
  EXPECT_EQ(after.Get("autolrs_jobs_live"), 1);
  EXPECT_EQ(after.Get("autolrs_jobs_cached"), 1);
  EXPECT_EQ(after.Get("autolrs_connections_open"), 1);
  EXPECT_EQ(after.Get("autolrs_connections_accepted_total"), 1);
  EXPECT_EQ(after.Get("autolrs_ready"), 1);

  // Deleting the unfinished job: no longer live.
  {
    grpc::ClientContext ctx;
    v1::DeleteJobRequest del;
    del.set_job_id("scraped");
    v1::DeleteJobResponse response;
    ASSERT_TRUE(stub_->DeleteJob(&ctx, del, &response).ok());
  }
  const Samples deleted = Scrape();
  EXPECT_EQ(deleted.Get("autolrs_jobs_live"), 0);
  EXPECT_EQ(deleted.Get("autolrs_job_events_total", {{"event", "job_deleted"}}), 1);
}

TEST_F(MetricsTest, UnknownPathsAreNotFound) {
  EXPECT_EQ(HttpGet(server_->metrics_port(), "/nothing").status_line.substr(9, 3), "404");
}

// A store whose writes fail as a full disk's do.
class FullDiskStore final : public server::JobStore {
 public:
  absl::Status Insert(const server::JobState& s) override { return inner_.Insert(s); }
  absl::StatusOr<server::JobState> Get(absl::string_view id) override { return inner_.Get(id); }
  absl::StatusOr<std::optional<server::JobState>> FindByRequestId(absl::string_view r) override {
    return inner_.FindByRequestId(r);
  }
  absl::Status Update(const server::JobState&) override {
    return absl::UnavailableError("database or disk is full");
  }
  absl::Status Delete(absl::string_view id) override { return inner_.Delete(id); }
  absl::StatusOr<std::vector<server::JobState>> List(absl::string_view a, int n) override {
    return inner_.List(a, n);
  }

 private:
  server::MemoryJobStore inner_;
};

TEST(StoreMetricsTest, StoreFailuresAreCountedAndLoggedButNotFound) {
  std::vector<std::string> lines;
  server::SetLogSink([&lines](absl::string_view line) { lines.emplace_back(line); });
  auto metrics = server::ServerMetrics::Start("127.0.0.1:0");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  server::InstrumentedJobStore store(std::make_unique<FullDiskStore>(), metrics->get());
  server::JobState state;
  state.set_version(2);
  state.mutable_job()->set_job_id("full");
  EXPECT_TRUE(absl::IsUnavailable(store.Update(state)));
  EXPECT_TRUE(absl::IsUnavailable(store.Update(state)));
  EXPECT_TRUE(absl::IsNotFound(store.Get("absent").status()));  // A caller's miss.
  server::SetLogSink(nullptr);

  const Samples samples(HttpGet((*metrics)->port(), "/metrics").body);
  EXPECT_EQ(samples.Get("autolrs_store_errors_total", {{"op", "Update"}, {"code", "UNAVAILABLE"}}),
            2);
  EXPECT_EQ(samples.Get("autolrs_store_errors_total", {{"op", "Get"}, {"code", "NOT_FOUND"}}), 1);
  EXPECT_EQ(samples.Get("autolrs_store_duration_seconds_count", {{"op", "Get"}}), 1);
  ASSERT_EQ(lines.size(), 2u);  // The two failures; NOT_FOUND is not an error of the store.
  EXPECT_NE(lines[0].find("level=error event=store_error op=Update job_id=full code=UNAVAILABLE "
                          "error=\"database or disk is full\""),
            std::string::npos)
      << lines[0];
}

TEST(MetricsStartTest, ABadOrTakenAddressFailsTheStart) {
  server::ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.store = "memory:";
  options.metrics_listen = "no-port";
  EXPECT_TRUE(absl::IsInvalidArgument(server::AutoLrsServer::Start(options).status()));

  options.metrics_listen = "127.0.0.1:0";
  auto first = server::AutoLrsServer::Start(options);
  ASSERT_TRUE(first.ok()) << first.status();
  options.metrics_listen = absl::StrCat("127.0.0.1:", (*first)->metrics_port());
  const absl::Status taken = server::AutoLrsServer::Start(options).status();
  EXPECT_TRUE(absl::IsUnavailable(taken)) << taken;
}

}  // namespace
}  // namespace autolrs
