#include "server/metrics.h"

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/status.h"

namespace autolrs::server {
namespace {

// RPC and store latencies: 50 us to 10 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
  return *buckets;
}

// Bayesian optimization and forecasts: 1 us to 1 s.
const prometheus::Histogram::BucketBoundaries& ComputeBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
      0.0005,   0.001,     0.0025,   0.005,   0.01,     0.1,     1};
  return *buckets;
}

constexpr const char* kMethods[] = {"CreateJob",    "GetJob",       "ListJobs",   "DeleteJob",
                                    "NextAction",   "ReportLosses", "GetSchedule", "GetFamily",
                                    "ListFamilies", "DeleteFamily"};

// grpc::StatusCode names, by value (0..16).
constexpr const char* kCodeNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

ServerMetrics::ServerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  rpc_requests_ = &prometheus::BuildCounter()
                       .Name("autolrs_rpc_requests_total")
                       .Help("RPCs answered, by method and gRPC status code")
                       .Register(*registry_);
  rpc_durations_ = &prometheus::BuildHistogram()
                        .Name("autolrs_rpc_duration_seconds")
                        .Help("Time from a parsed request to its answer, by method and code")
                        .Register(*registry_);
  store_durations_ = &prometheus::BuildHistogram()
                          .Name("autolrs_store_duration_seconds")
                          .Help("Time of job store calls, by operation")
                          .Register(*registry_);
  store_errors_ = &prometheus::BuildCounter()
                       .Name("autolrs_store_errors_total")
                       .Help("Failed job store calls, by operation and status code")
                       .Register(*registry_);
  job_events_ = &prometheus::BuildCounter()
                     .Name("autolrs_job_events_total")
                     .Help("Job state changes, by event")
                     .Register(*registry_);
  auto& compute = prometheus::BuildHistogram()
                      .Name("autolrs_compute_duration_seconds")
                      .Help("Time of the search's computations: Bayesian optimization, forecasts")
                      .Register(*registry_);
  bayes_opt_duration_ = &compute.Add({{"kind", "bayes_opt"}}, ComputeBuckets());
  forecast_duration_ = &compute.Add({{"kind", "forecast"}}, ComputeBuckets());
  jobs_live_ = &prometheus::BuildGauge()
                    .Name("autolrs_jobs_live")
                    .Help(
                        "Jobs not finished (counted in the store at start, then kept by "
                        "this server's changes)")
                    .Register(*registry_)
                    .Add({});
  jobs_cached_ = &prometheus::BuildGauge()
                      .Name("autolrs_jobs_cached")
                      .Help("Jobs held in memory")
                      .Register(*registry_)
                      .Add({});
  connections_open_ = &prometheus::BuildGauge()
                           .Name("autolrs_connections_open")
                           .Help("Connections held (handed to gRPC or awaiting their first bytes)")
                           .Register(*registry_)
                           .Add({});
  connections_accepted_ = &prometheus::BuildCounter()
                               .Name("autolrs_connections_accepted_total")
                               .Help("Connections accepted")
                               .Register(*registry_)
                               .Add({});
  connections_refused_ = &prometheus::BuildCounter()
                              .Name("autolrs_connections_refused_total")
                              .Help("Connections closed at once because max_connections were held")
                              .Register(*registry_)
                              .Add({});
  connections_timed_out_ = &prometheus::BuildCounter()
                                .Name("autolrs_connections_timed_out_total")
                                .Help("Connections closed for sending nothing in handshake_timeout")
                                .Register(*registry_)
                                .Add({});
  ready_ = &prometheus::BuildGauge()
                .Name("autolrs_ready")
                .Help("1 while the store is healthy (gRPC health SERVING), else 0")
                .Register(*registry_)
                .Add({});
  ready_->Set(1);
  for (const char* name : kMethods) {
    auto series = std::make_unique<MethodSeries>();
    series->name = name;
    methods_.emplace(name, std::move(series));
  }
  auto other = std::make_unique<MethodSeries>();
  other->name = "other";
  methods_.emplace("other", std::move(other));
}

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Start(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address must be host:port, got '", listen, "'"));
  }
  std::unique_ptr<ServerMetrics> metrics(new ServerMetrics());
  try {
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on '", listen, "': ", e.what()));
  }
  const std::vector<int> ports = metrics->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on '", listen, "'"));
  }
  metrics->port_ = ports.front();
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  return metrics;
}

ServerMetrics::~ServerMetrics() {
  exposer_.reset();  // Stops serving before the metrics go.
}

ServerMetrics::MethodSeries* ServerMetrics::SeriesFor(absl::string_view method) {
  auto it = methods_.find(method);
  if (it == methods_.end()) it = methods_.find("other");
  return it->second.get();
}

void ServerMetrics::RecordRpc(absl::string_view method, int grpc_code, absl::Duration elapsed) {
  if (grpc_code < 0 || grpc_code > 16) grpc_code = 2;  // UNKNOWN
  MethodSeries* series = SeriesFor(method);
  prometheus::Counter* requests = series->requests[grpc_code].load(std::memory_order_acquire);
  prometheus::Histogram* duration = series->durations[grpc_code].load(std::memory_order_acquire);
  if (requests == nullptr || duration == nullptr) {
    // Family::Add returns the existing series for the same labels, so two
    // threads racing here store the same pointers.
    const prometheus::Labels labels = {{"method", series->name}, {"code", kCodeNames[grpc_code]}};
    requests = &rpc_requests_->Add(labels);
    duration = &rpc_durations_->Add(labels, LatencyBuckets());
    series->requests[grpc_code].store(requests, std::memory_order_release);
    series->durations[grpc_code].store(duration, std::memory_order_release);
  }
  requests->Increment();
  duration->Observe(Seconds(elapsed));
}

prometheus::Histogram& ServerMetrics::StoreDuration(absl::string_view op) {
  absl::MutexLock lock(&mu_);
  prometheus::Histogram*& h = store_ops_[op];
  if (h == nullptr) h = &store_durations_->Add({{"op", std::string(op)}}, LatencyBuckets());
  return *h;
}

void ServerMetrics::RecordStoreCall(absl::string_view op, const absl::Status& status,
                                    absl::Duration elapsed) {
  StoreDuration(op).Observe(Seconds(elapsed));
  if (!status.ok()) {
    store_errors_->Add({{"op", std::string(op)}, {"code", absl::StatusCodeToString(status.code())}})
        .Increment();
  }
}

void ServerMetrics::RecordCompute(ComputeKind kind, absl::Duration elapsed) {
  (kind == ComputeKind::kBayesOpt ? bayes_opt_duration_ : forecast_duration_)
      ->Observe(Seconds(elapsed));
}

void ServerMetrics::RecordJobEvent(absl::string_view event) {
  prometheus::Counter* counter;
  {
    absl::MutexLock lock(&mu_);
    prometheus::Counter*& c = event_counters_[event];
    if (c == nullptr) c = &job_events_->Add({{"event", std::string(event)}});
    counter = c;
  }
  counter->Increment();
}

void ServerMetrics::AddLiveJobs(int64_t delta) {
  jobs_live_->Increment(static_cast<double>(delta));
}

void ServerMetrics::SetCachedJobs(int64_t jobs) { jobs_cached_->Set(static_cast<double>(jobs)); }

void ServerMetrics::SetConnections(int64_t open, int64_t accepted, int64_t refused,
                                   int64_t timed_out) {
  connections_open_->Set(static_cast<double>(open));
  absl::MutexLock lock(&mu_);
  auto advance = [](prometheus::Counter* counter, int64_t total, int64_t& seen) {
    if (total > seen) counter->Increment(static_cast<double>(total - seen));
    seen = std::max(seen, total);
  };
  advance(connections_accepted_, accepted, accepted_seen_);
  advance(connections_refused_, refused, refused_seen_);
  advance(connections_timed_out_, timed_out, timed_out_seen_);
}

void ServerMetrics::SetReady(bool ready) { ready_->Set(ready ? 1 : 0); }

}  // namespace autolrs::server
