#include "server/server.h"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/grpc_service.h"
#include "server/instrumented_job_store.h"
#include "server/log.h"
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

std::string LoopbackAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  const std::string port = colon == std::string::npos ? "" : address.substr(colon + 1);
  absl::string_view host = absl::string_view(address).substr(0, std::min(colon, address.size()));
  host = absl::StripPrefix(absl::StripSuffix(host, "]"), "[");
  if (absl::StartsWith(host, "127.") || host == "::1" || host == "localhost") return address;
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number)) return address;  // Malformed: the listener says so.
  return absl::StrCat("127.0.0.1:", port);
}

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
  if (options.quotas.max_live_jobs < 0 || options.quotas.max_state_bytes < 0 ||
      options.limits.tenant_requests_per_second < 0 || options.limits.tenant_request_burst < 0 ||
      options.limits.max_series_length < 0) {
    return absl::InvalidArgumentError(
        "tenant quotas and request limits must be >= 0 (0: no limit)");
  }
  if (!options.token_file.empty() && !options.auth_token.empty()) {
    return absl::InvalidArgumentError(
        "--token_file and --auth_token_file exclude each other: move the single token into the "
        "token file as '<token> <tenant> admin'");
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
absl::StatusOr<std::unique_ptr<ConnectionListener>> Listen(const ServerOptions& options,
                                                           const std::string& address) {
  ConnectionListener::Options listen;
  listen.address = address;
  listen.max_connections =
      options.max_connections > 0 ? options.max_connections : DefaultMaxConnections();
  listen.handshake_timeout = options.handshake_timeout;
  return ConnectionListener::Bind(listen);
}

// Starts a gRPC server for `service`: with `tls`, listening on
// options.listen_address (the bound port in `*port`); without, with no port
// of its own (the ConnectionListener hands it connections).
std::unique_ptr<grpc::Server> StartGrpcServer(const ServerOptions& options,
                                              const std::string& address, grpc::Service* service,
                                              ReloadableTlsCredentials* tls, int* port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (tls != nullptr) {
    builder.AddListeningPort(address, tls->credentials(), port);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                               ToMillis(options.handshake_timeout));
  }
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

// Jobs in `store` that are not finished, by one pass over it.
absl::StatusOr<int64_t> CountLiveJobs(JobStore& store) {
  constexpr int kPage = 500;
  int64_t live = 0;
  std::string after;
  while (true) {
    absl::StatusOr<std::vector<JobState>> page = store.List(after, kPage);
    if (!page.ok()) return page.status();
    for (const JobState& state : *page) {
      if (state.job().state() == v1::JOB_STATE_RUNNING) ++live;
    }
    if (page->size() < kPage) return live;
    after = page->back().job().job_id();
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<AutoLrsServer>> AutoLrsServer::Start(const ServerOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::unique_ptr<AutoLrsServer> s(new AutoLrsServer());
  std::optional<TokenTable> tokens;
  if (!options.token_file.empty()) {
    absl::StatusOr<TokenTable> table = TokenTable::ReadFile(options.token_file);
    if (!table.ok()) return table.status();
    tokens = *std::move(table);
  } else if (!options.auth_token.empty()) {
    tokens = TokenTable::Single(options.auth_token);
  }
  s->token_file_ = options.token_file;
  s->listen_address_ = options.listen_address;
  if (!tokens.has_value() && !options.allow_remote_without_auth) {
    s->listen_address_ = LoopbackAddress(options.listen_address);
    if (s->listen_address_ != options.listen_address) {
      std::fprintf(stderr,
                   "autolrs_server: no --token_file: listening on %s only, not %s (set "
                   "--allow_remote_without_auth to serve other machines without tokens)\n",
                   s->listen_address_.c_str(), options.listen_address.c_str());
    }
  }
  s->authenticator_ = std::make_unique<Authenticator>(std::move(tokens));
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
        ServerMetrics::Start(options.metrics_listen);
    if (!metrics.ok()) return metrics.status();
    s->metrics_ = *std::move(metrics);
  }
  absl::StatusOr<std::unique_ptr<JobStore>> store = OpenJobStore(options.store);
  if (!store.ok()) return store.status();
  // Quotas outermost: the store metrics time the real store only.
  s->store_ = std::make_unique<InstrumentedJobStore>(*std::move(store), s->metrics_.get());
  if (options.quotas.max_live_jobs > 0 || options.quotas.max_state_bytes > 0) {
    absl::StatusOr<std::unique_ptr<QuotaJobStore>> quota =
        QuotaJobStore::Wrap(std::move(s->store_), options.quotas);
    if (!quota.ok()) return quota.status();
    s->store_ = *std::move(quota);
  }
  if (s->metrics_ != nullptr) {
    absl::StatusOr<int64_t> live = CountLiveJobs(*s->store_);
    if (!live.ok()) return live.status();
    s->metrics_->AddLiveJobs(*live);
  }
  s->call_reporter_ = std::make_unique<CallReporter>(s->metrics_.get());
  s->job_reporter_ = std::make_unique<JobEventReporter>(s->metrics_.get());
  s->scheduler_ = std::make_unique<Scheduler>(s->store_.get());
  s->scheduler_->set_observer(s->job_reporter_.get());
  s->service_ = std::make_unique<AutoLrsServiceImpl>(s->scheduler_.get(), s->authenticator_.get(),
                                                     options.limits);
  s->grpc_service_ =
      std::make_unique<AutoLrsGrpcService>(s->service_.get(), s->call_reporter_.get());

  if (!options.tls.cert_file.empty() || !options.tls.key_file.empty() ||
      !options.tls.client_ca_file.empty()) {
    absl::StatusOr<std::unique_ptr<ReloadableTlsCredentials>> tls =
        ReloadableTlsCredentials::Create(options.tls);
    if (!tls.ok()) return tls.status();
    s->tls_ = *std::move(tls);
    if (options.max_connections > 0) {
      std::fprintf(stderr,
                   "autolrs_server: with TLS, --max_connections=%d is not enforced (gRPC's own "
                   "listener serves TLS)\n",
                   options.max_connections);
    }
    s->server_ = StartGrpcServer(options, s->listen_address_, s->grpc_service_.get(), s->tls_.get(),
                                 &s->port_);
    if (s->server_ == nullptr || s->port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot serve TLS on '", s->listen_address_,
                                                 "' (address malformed, in use or not local)"));
    }
  } else {
    absl::StatusOr<std::unique_ptr<ConnectionListener>> listener =
        Listen(options, s->listen_address_);
    if (!listener.ok()) return listener.status();
    s->listener_ = *std::move(listener);
    s->port_ = s->listener_->port();
    s->server_ =
        StartGrpcServer(options, s->listen_address_, s->grpc_service_.get(), nullptr, nullptr);
    if (s->server_ == nullptr) return absl::InternalError("the gRPC server did not start");
    s->listener_->Start(s->server_.get());
  }
  if (s->metrics_ != nullptr) {
    SetComputeTimeSink(s->metrics_.get());
    s->UpdateGauges(true);
  }
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
    UpdateGauges(status.ok());
    if (status.ok() == serving) continue;
    serving = status.ok();
    if (health != nullptr) health->SetServingStatus(serving);
    if (serving) {
      LogLine(LogLevel::kInfo, "store_healthy").Add("health", "SERVING");
    } else {
      LogLine(LogLevel::kError, "store_unhealthy").Add("health", "NOT_SERVING").AddStatus(status);
    }
  }
}

void AutoLrsServer::UpdateGauges(bool store_healthy) {
  if (metrics_ == nullptr) return;
  metrics_->SetReady(store_healthy);
  metrics_->SetCachedJobs(static_cast<int64_t>(scheduler_->cached_jobs()));
  // With TLS, gRPC's own listener serves: no connection figures.
  if (listener_ != nullptr) {
    metrics_->SetConnections(listener_->open(), listener_->accepted(), listener_->refused(),
                             listener_->timed_out());
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
  if (metrics_ != nullptr) SetComputeTimeSink(nullptr);  // No call runs any more.
  scheduler_.reset();
  store_.reset();  // Finishes queued writes and closes the database.
}

absl::Status AutoLrsServer::Reload() {
  absl::Status status;
  if (!token_file_.empty()) {
    absl::StatusOr<TokenTable> tokens = TokenTable::ReadFile(token_file_);
    if (tokens.ok()) {
      authenticator_->Replace(*std::move(tokens));
    } else {
      status = tokens.status();
    }
  }
  if (tls_ != nullptr) status.Update(tls_->Reload());
  return status;
}

void AutoLrsServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

AutoLrsServer::~AutoLrsServer() { Shutdown(); }

}  // namespace autolrs::server
