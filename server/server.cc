#include "server/server.h"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/grpc_service.h"
#include "server/memory_job_store.h"
#include "server/postgres_connection.h"
#include "server/postgres_job_store.h"
#include "server/sqlite_job_store.h"

namespace autolrs::server {

namespace {

int DefaultMaxConnections() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 10000;
  return static_cast<int>(
      std::clamp<int64_t>(static_cast<int64_t>(limit.rlim_cur) - 128, 16, 1'000'000));
}

int ToMillis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& uri) {
  if (uri == "memory:") return std::make_unique<MemoryJobStore>();
  if (absl::StartsWith(uri, "sqlite:") && uri.size() > 7) {
    const std::filesystem::path path(uri.substr(7));
    if (path.has_parent_path()) {
      std::error_code error;
      std::filesystem::create_directories(path.parent_path(), error);
      if (error) {
        return absl::UnavailableError(absl::StrCat(
            "cannot create directory '", path.parent_path().string(), "': ", error.message()));
      }
    }
    absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(path.string());
    if (!store.ok()) return store.status();
    return std::unique_ptr<JobStore>(*std::move(store));
  }
  if (absl::StartsWith(uri, "postgresql://") || absl::StartsWith(uri, "postgres://")) {
    absl::StatusOr<std::unique_ptr<PostgresJobStore>> store = PostgresJobStore::Open(uri);
    if (!store.ok()) return store.status();
    return std::unique_ptr<JobStore>(*std::move(store));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "store must be 'sqlite:<path>', 'memory:' or 'postgresql://...', got '",
      RedactPostgresUri(uri), "'"));
}

namespace {

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes must be at least 1024, got ", options.max_message_bytes));
  }
  if (options.health_check_interval <= absl::ZeroDuration() ||
      options.handshake_timeout <= absl::ZeroDuration() ||
      options.max_connection_idle <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "health_check_interval, handshake_timeout and max_connection_idle must be positive");
  }
  if (options.max_threads < 2 || options.memory_quota_bytes < (1 << 20) ||
      options.max_connections < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_threads must be at least 2, memory_quota_bytes at least 1 MiB and "
        "max_connections at least 0, got ",
        options.max_threads, ", ", options.memory_quota_bytes, " and ", options.max_connections));
  }
  return absl::OkStatus();
}

// Binds the listening socket: without SO_REUSEPORT (gRPC's own listener sets
// it, which let a second server share the port), with bounded connections.
absl::StatusOr<std::unique_ptr<ConnectionListener>> Listen(const ServerOptions& options) {
  ConnectionListener::Options listen;
  listen.address = options.listen_address;
  listen.max_connections =
      options.max_connections > 0 ? options.max_connections : DefaultMaxConnections();
  listen.handshake_timeout = options.handshake_timeout;
  return ConnectionListener::Bind(listen);
}

// Starts a gRPC server for `service`, with no port of its own (the
// ConnectionListener hands it connections).
std::unique_ptr<grpc::Server> StartGrpcServer(const ServerOptions& options,
                                              grpc::Service* service) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ToMillis(options.max_connection_idle));
  grpc::ResourceQuota quota("autolrs_server");
  quota.SetMaxThreads(options.max_threads);
  quota.Resize(static_cast<size_t>(options.memory_quota_bytes));
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AutoLrsServer>> AutoLrsServer::Start(const ServerOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::unique_ptr<AutoLrsServer> s(new AutoLrsServer());
  absl::StatusOr<std::unique_ptr<JobStore>> store = OpenJobStore(options.store);
  if (!store.ok()) return store.status();
  s->store_ = *std::move(store);
  s->scheduler_ = std::make_unique<Scheduler>(s->store_.get());
  s->service_ = std::make_unique<AutoLrsServiceImpl>(s->scheduler_.get(), options.auth_token);
  s->grpc_service_ = std::make_unique<AutoLrsGrpcService>(s->service_.get());

  absl::StatusOr<std::unique_ptr<ConnectionListener>> listener = Listen(options);
  if (!listener.ok()) return listener.status();
  s->listener_ = *std::move(listener);
  s->port_ = s->listener_->port();
  s->server_ = StartGrpcServer(options, s->grpc_service_.get());
  if (s->server_ == nullptr) return absl::InternalError("the gRPC server did not start");
  s->listener_->Start(s->server_.get());
  AutoLrsServer* raw = s.get();
  s->health_ =
      std::thread([raw, interval = options.health_check_interval] { raw->HealthLoop(interval); });
  return s;
}

void AutoLrsServer::HealthLoop(absl::Duration interval) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  bool serving = true;
  while (!stop_health_.WaitForNotificationWithTimeout(interval)) {
    // Give the memory of finished large requests back to the system: glibc
    // keeps freed heap in its arenas, so a burst of big requests would
    // otherwise stay resident for good.
    malloc_trim(0);
    const absl::Status status = store_->CheckHealth();
    if (status.ok() == serving) continue;
    serving = status.ok();
    if (health != nullptr) health->SetServingStatus(serving);
    if (serving) {
      std::fprintf(stderr, "autolrs_server: the store works again; health SERVING\n");
    } else {
      std::fprintf(stderr, "autolrs_server: the store fails (%s); health NOT_SERVING\n",
                   status.ToString().c_str());
    }
  }
}

void AutoLrsServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  stop_health_.Notify();
  if (health_.joinable()) health_.join();
  if (listener_ != nullptr) listener_->Stop();
  if (server_ != nullptr) {  // Null when Start() failed before serving.
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  scheduler_.reset();
  store_.reset();  // Finishes queued writes and closes the database.
}

void AutoLrsServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

AutoLrsServer::~AutoLrsServer() { Shutdown(); }

}  // namespace autolrs::server
