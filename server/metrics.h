#ifndef AUTOLRS_SERVER_METRICS_H_
#define AUTOLRS_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/compute_timer.h"

namespace autolrs::server {

// The server's metrics in the Prometheus text format, served by
// prometheus-cpp's own HTTP exposer (civetweb) at http://<listen>/metrics on
// a port of their own. Metrics (durations in seconds):
//
//   autolrs_rpc_requests_total{method,code}           calls answered
//   autolrs_rpc_duration_seconds{method,code}         histogram, handler time
//                                                     (request parsed to answer)
//   autolrs_store_duration_seconds{op}                histogram, JobStore calls
//   autolrs_store_errors_total{op,code}               JobStore calls that were not OK
//                                                     (NOT_FOUND, ALREADY_EXISTS and
//                                                     ABORTED answer the caller; other
//                                                     codes are failures of the storage)
//   autolrs_compute_duration_seconds{kind}            histogram: bayes_opt, forecast
//   autolrs_jobs_live                                 jobs not finished: counted in
//                                                     the store at start, then kept
//                                                     by this server's changes
//   autolrs_jobs_cached                               jobs held in memory
//   autolrs_job_events_total{event}                   job_created, stage_chosen, ...
//   autolrs_connections_open                          connections handed to gRPC
//   autolrs_connections_accepted_total
//   autolrs_connections_refused_total                 max_connections were held
//   autolrs_connections_timed_out_total               silent past handshake_timeout
//   autolrs_ready                                     1 while the store is healthy
//                                                     (the gRPC health service's
//                                                     SERVING), else 0
//
// `method` is the RPC's short name ("NextAction"), `code` the gRPC status
// name ("OK", "NOT_FOUND"), `op` a JobStore method ("Update").
//
// Thread-safe: every Record/Set method may be called from any thread.
class ServerMetrics final : public ComputeTimeSink {
 public:
  // Starts the exposer on `listen` ("host:port"; port 0: any free port, see
  // port()). INVALID_ARGUMENT for an address without a port, UNAVAILABLE
  // when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Start(const std::string& listen);

  ~ServerMetrics() override;

  // The port the exposer listens on.
  int port() const { return port_; }

  void RecordRpc(absl::string_view method, int grpc_code, absl::Duration elapsed);
  void RecordStoreCall(absl::string_view op, const absl::Status& status, absl::Duration elapsed);
  void RecordCompute(ComputeKind kind, absl::Duration elapsed) override;
  void RecordJobEvent(absl::string_view event);

  void AddLiveJobs(int64_t delta);
  void SetCachedJobs(int64_t jobs);
  // Totals since the start: the counters advance by the difference.
  void SetConnections(int64_t open, int64_t accepted, int64_t refused, int64_t timed_out);
  void SetReady(bool ready);

 private:
  // One RPC method's series, one per status code, created on first use.
  struct MethodSeries {
    std::string name;
    std::array<std::atomic<prometheus::Counter*>, 17> requests{};
    std::array<std::atomic<prometheus::Histogram*>, 17> durations{};
  };

  ServerMetrics();
  MethodSeries* SeriesFor(absl::string_view method);
  prometheus::Histogram& StoreDuration(absl::string_view op);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;

  prometheus::Family<prometheus::Counter>* rpc_requests_;
  prometheus::Family<prometheus::Histogram>* rpc_durations_;
  prometheus::Family<prometheus::Histogram>* store_durations_;
  prometheus::Family<prometheus::Counter>* store_errors_;
  prometheus::Family<prometheus::Counter>* job_events_;
  prometheus::Histogram* bayes_opt_duration_;
  prometheus::Histogram* forecast_duration_;
  prometheus::Gauge* jobs_live_;
  prometheus::Gauge* jobs_cached_;
  prometheus::Gauge* connections_open_;
  prometheus::Counter* connections_accepted_;
  prometheus::Counter* connections_refused_;
  prometheus::Counter* connections_timed_out_;
  prometheus::Gauge* ready_;

  // Read-only after construction: the service's methods, and "other".
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> methods_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, prometheus::Histogram*> store_ops_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Counter*> event_counters_ ABSL_GUARDED_BY(mu_);
  int64_t accepted_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refused_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t timed_out_seen_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_METRICS_H_
