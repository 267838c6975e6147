#include "server/server.h"

#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/memory_job_store.h"
#include "server/sqlite_job_store.h"

namespace autolrs::server {

absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& uri) {
  if (uri == "memory:") return std::make_unique<MemoryJobStore>();
  if (absl::StartsWith(uri, "sqlite:") && uri.size() > 7) {
    const std::filesystem::path path(uri.substr(7));
    if (path.has_parent_path()) {
      std::error_code error;
      std::filesystem::create_directories(path.parent_path(), error);
      if (error) {
        return absl::UnavailableError(absl::StrCat("cannot create directory '",
                                                   path.parent_path().string(),
                                                   "': ", error.message()));
      }
    }
    absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(path.string());
    if (!store.ok()) return store.status();
    return std::unique_ptr<JobStore>(*std::move(store));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("store must be 'sqlite:<path>' or 'memory:', got '", uri, "'"));
}

absl::StatusOr<std::unique_ptr<AutoLrsServer>> AutoLrsServer::Start(
    const ServerOptions& options) {
  if (options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes must be at least 1024, got ", options.max_message_bytes));
  }
  if (options.health_check_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("health_check_interval must be positive");
  }
  std::unique_ptr<AutoLrsServer> s(new AutoLrsServer());
  absl::StatusOr<std::unique_ptr<JobStore>> store = OpenJobStore(options.store);
  if (!store.ok()) return store.status();
  s->store_ = *std::move(store);
  s->scheduler_ = std::make_unique<Scheduler>(s->store_.get());
  s->service_ = std::make_unique<AutoLrsServiceImpl>(s->scheduler_.get(), options.auth_token);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, so a second server on the same port
  // would start and share the traffic; refuse a port in use instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(), &s->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    s->server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on '", options.listen_address,
        "': the address is malformed or not local, or the port is in use or not permitted"));
  }
  AutoLrsServer* raw = s.get();
  s->health_ = std::thread([raw, interval = options.health_check_interval] {
    raw->HealthLoop(interval);
  });
  return s;
}

void AutoLrsServer::HealthLoop(absl::Duration interval) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  bool serving = true;
  while (!stop_health_.WaitForNotificationWithTimeout(interval)) {
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
