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
#include "server/connection_listener.h"
#include "server/job_store.h"
#include "server/scheduler.h"
#include "server/service.h"

namespace autolrs::server {

// The default ServerOptions::max_message_bytes.
inline constexpr int kDefaultMaxMessageBytes = 4 << 20;

struct ServerOptions {
  // host:port to listen on; port 0 picks a free port (see AutoLrsServer::port).
  std::string listen_address = "0.0.0.0:50051";
  // Where jobs live: "sqlite:<path>" (a file, created with its directory if
  // missing) or "memory:" (nothing survives the process).
  std::string store = "sqlite:autolrs-data/autolrs.db";
  // Required bearer token of every call; empty: no authentication.
  std::string auth_token;
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
};

// A running AutoLRS gRPC server: store, scheduler, the AutoLrsService, the
// standard health service and server reflection.
//
// Health: the standard grpc.health.v1 service answers SERVING while the
// store's CheckHealth() succeeds and NOT_SERVING while it fails (checked
// every ServerOptions::health_check_interval; changes are logged).
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

  // Stops the server: in-flight calls get until `deadline` to finish.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

  // Blocks until Shutdown() has completed.
  void Wait();

  Scheduler& scheduler() { return *scheduler_; }

 private:
  AutoLrsServer() = default;
  void HealthLoop(absl::Duration interval);

  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<AutoLrsServiceImpl> service_;
  std::unique_ptr<grpc::Service> grpc_service_;  // Dispatches to service_.
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ConnectionListener> listener_;
  int port_ = 0;
  bool shut_down_ = false;
  absl::Notification stop_health_;
  std::thread health_;
};

// Opens the store named by a ServerOptions::store URI: "memory:",
// "sqlite:<path>" or "postgresql://..." (also "postgres://...", any libpq
// URI; see PostgresJobStore::Open). INVALID_ARGUMENT for any other.
absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& uri);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SERVER_H_
