#ifndef AUTOLRS_SERVER_SERVER_H_
#define AUTOLRS_SERVER_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/call_observer.h"
#include "server/connection_listener.h"
#include "server/job_event_reporter.h"
#include "server/job_store.h"
#include "server/metrics.h"
#include "server/quota_job_store.h"
#include "server/scheduler.h"
#include "server/service.h"
#include "server/tls_credentials.h"

namespace autolrs::server {

// The default ServerOptions::max_message_bytes.
inline constexpr int kDefaultMaxMessageBytes = 4 << 20;

struct ServerOptions {
  // host:port to listen on; port 0 picks a free port (see AutoLrsServer::port).
  std::string listen_address = "0.0.0.0:50051";
  // Where jobs live: "sqlite:<path>" (a file, created with its directory if
  // missing) or "memory:" (nothing survives the process).
  std::string store = "sqlite:autolrs-data/autolrs.db";
  // Tokens (TokenTable's file format: "<token> <tenant> [admin]" lines):
  // every call must carry "authorization: Bearer <token>" and acts as its
  // tenant. Reloaded by Reload().
  std::string token_file;
  // The legacy single bearer token: the admin of tenant "" (sees every
  // job). Not with token_file. Both empty: no authentication.
  std::string auth_token;
  // Without token_file or auth_token, a listen_address that is not a
  // loopback address is replaced by 127.0.0.1 (same port), unless this is
  // set: an unauthenticated server is not reachable from other machines
  // by accident.
  bool allow_remote_without_auth = false;
  // Per-tenant quotas (0: none) and per-call limits.
  StoreQuotas quotas;
  ServiceLimits limits;
  // TLS when tls.cert_file is set (with tls.key_file; tls.client_ca_file:
  // client certificates required). With TLS, gRPC's own listener serves
  // (gRPC 1.51 accepts only plain-text connections handed over by file
  // descriptor): max_connections is not enforced, handshake_timeout bounds
  // the TLS handshake, SO_REUSEPORT stays off.
  TlsFiles tls;
  // Largest request accepted, in bytes (a ReportLosses of n steps is ~9n
  // bytes: 4 MiB holds an action of ~460,000 steps). gRPC 1.51 reads a
  // unary request whole before any handler (or the token check) runs, so
  // this, max_threads and memory_quota_bytes bound what unauthenticated
  // clients can make the server hold.
  int max_message_bytes = kDefaultMaxMessageBytes;
  // A connection that has sent nothing within this time is closed (silent
  // connections must not hold file descriptors).
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Most connections held at once; more are closed as soon as accepted.
  // 0: the open-file limit (RLIMIT_NOFILE) minus 128 kept for the store and
  // the rest, at least 16.
  int max_connections = 0;
  // A connection with no call for this long is closed (clients reconnect
  // transparently).
  absl::Duration max_connection_idle = absl::Minutes(10);
  // Threads that run calls (grpc::ResourceQuota::SetMaxThreads): calls beyond
  // them wait or get RESOURCE_EXHAUSTED. Bounds the requests held at once
  // (each up to max_message_bytes, decoded and raw).
  int max_threads = 32;
  // Memory gRPC may use for its transport buffers (grpc::ResourceQuota);
  // under pressure it refuses streams and closes connections.
  int64_t memory_quota_bytes = int64_t{256} << 20;
  // How often the store's health is checked (JobStore::CheckHealth); the
  // gRPC health service answers NOT_SERVING while it fails.
  absl::Duration health_check_interval = absl::Seconds(1);
  // host:port of the Prometheus metrics endpoint (http://<it>/metrics, see
  // ServerMetrics; port 0: any free port, see metrics_port()); empty: no
  // metrics. With metrics, Start() counts the unfinished jobs in the store
  // before serving (one pass over it).
  std::string metrics_listen;
};

// A running AutoLRS gRPC server: store, scheduler, the AutoLrsService, the
// standard health service and server reflection.
//
// Health: the standard grpc.health.v1 service answers SERVING while the
// store's CheckHealth() succeeds and NOT_SERVING while it fails (checked
// every ServerOptions::health_check_interval; changes are logged).
//
// Logs: one structured line per job state change (JobEventReporter), per
// failed call (CallReporter), per store failure (InstrumentedJobStore) and
// per health change (server/log.h).
//
// Metrics (with ServerOptions::metrics_listen): ServerMetrics, refreshed
// every health_check_interval for the gauges (cached jobs, connections,
// readiness). The BO and forecast timers report to the process-wide
// ComputeTimeSink, which this server installs while it serves: run one
// server with metrics per process.
//
// Thread-safe. Shutdown() (or the destructor) stops accepting calls, lets the
// calls in flight finish, then closes the store.
class AutoLrsServer {
 public:
  // Opens the store and starts serving. INVALID_ARGUMENT for a bad option or
  // a malformed address, UNAVAILABLE when the address cannot be bound (in
  // use: SO_REUSEPORT is off) or the store opened, and the store's own errors
  // (DATA_LOSS for a damaged database, FAILED_PRECONDITION for one in use).
  static absl::StatusOr<std::unique_ptr<AutoLrsServer>> Start(const ServerOptions& options);

  ~AutoLrsServer();

  // The port actually bound.
  int port() const { return port_; }
  // The metrics endpoint's port; 0 without metrics.
  int metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }

  // Stops the server: in-flight calls get until `deadline` to finish.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

  // Blocks until Shutdown() has completed.
  void Wait();

  // Reads the token file and the TLS files again (see
  // ReloadableTlsCredentials): new calls and connections use them. What is
  // in use stays when a new file fails its checks (INVALID_ARGUMENT naming
  // the file); the token file and the TLS files reload independently.
  absl::Status Reload();

  // The address actually listened on (see allow_remote_without_auth).
  const std::string& listen_address() const { return listen_address_; }

  Scheduler& scheduler() { return *scheduler_; }

 private:
  AutoLrsServer() = default;
  void HealthLoop(absl::Duration interval);
  // Refreshes the gauges of metrics_ (if any).
  void UpdateGauges(bool store_healthy);

  // Declared first: everything below reports to them until destroyed.
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<CallReporter> call_reporter_;
  std::unique_ptr<JobEventReporter> job_reporter_;
  std::string token_file_;
  std::string listen_address_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<AutoLrsServiceImpl> service_;
  std::unique_ptr<grpc::Service> grpc_service_;    // Dispatches to service_.
  std::unique_ptr<ReloadableTlsCredentials> tls_;  // Null without TLS.
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ConnectionListener> listener_;  // Null with TLS.
  int port_ = 0;
  bool shut_down_ = false;
  absl::Notification stop_health_;
  std::thread health_;
};

// `address` unchanged when its host is a loopback one (127.x.x.x, ::1,
// localhost) or its port is not a number, else 127.0.0.1 with its port.
std::string LoopbackAddress(const std::string& address);

// Opens the store named by a ServerOptions::store URI: "memory:",
// "sqlite:<path>" or "postgresql://..." (also "postgres://...", any libpq
// URI; see PostgresJobStore::Open). INVALID_ARGUMENT for any other.
absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& uri);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SERVER_H_
