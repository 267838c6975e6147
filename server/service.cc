#include "server/service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/job_config.h"

namespace autolrs::server {
namespace {

// Runs an admitted Scheduler call and stores its value in `response`.
template <typename Response, typename Call>
grpc::Status Answer(const absl::StatusOr<Caller>& caller, Response* response, Call call) {
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  auto result = call(*caller);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

AutoLrsServiceImpl::AutoLrsServiceImpl(Scheduler* scheduler, const Authenticator* authenticator,
                                       const ServiceLimits& limits)
    : scheduler_(scheduler),
      authenticator_(authenticator),
      limits_(limits),
      rate_limiter_(limits.tenant_requests_per_second, limits.tenant_request_burst) {}

absl::Status CheckNotExpired(std::chrono::system_clock::time_point deadline,
                             std::chrono::system_clock::time_point now) {
  if (deadline >= now) return absl::OkStatus();
  return absl::DeadlineExceededError(
      "the call's deadline passed before the server could start it (the server is "
      "overloaded; retry with backoff)");
}

absl::StatusOr<Caller> AutoLrsServiceImpl::Admit(const grpc::ServerContext& context) {
  std::optional<absl::string_view> header;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    header = absl::string_view(it->second.data(), it->second.size());
  }
  absl::StatusOr<Caller> caller = authenticator_->Authenticate(header);
  if (!caller.ok()) return caller.status();
  if (absl::Status s = CheckNotExpired(context.deadline(), std::chrono::system_clock::now());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = rate_limiter_.Admit(caller->tenant); !s.ok()) return s;
  return caller;
}

absl::Status AutoLrsServiceImpl::CheckConfig(const v1::JobConfig& config) const {
  if (limits_.max_series_length <= 0) return absl::OkStatus();
  absl::StatusOr<v1::JobConfig> resolved = ResolveJobConfig(config);
  if (!resolved.ok()) return absl::OkStatus();  // The scheduler says what is wrong.
  const int64_t longest =
      std::max({resolved->tau_max(), resolved->warmup_steps(), CooldownSteps(*resolved)});
  if (longest > limits_.max_series_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config has an action of ", longest,
        " steps (tau_max, warmup_steps or the cooldown), more than the server's limit on "
        "one report (--max_series_length=",
        limits_.max_series_length, ")"));
  }
  return absl::OkStatus();
}

absl::Status AutoLrsServiceImpl::CheckReport(const v1::ReportLossesRequest& request) const {
  if (limits_.max_series_length <= 0) return absl::OkStatus();
  const int64_t longest = std::max(request.losses_size(), request.eval_losses_size());
  if (longest > limits_.max_series_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("a series of ", longest, " values is longer than the server's limit (",
                     "--max_series_length=", limits_.max_series_length, ")"));
  }
  return absl::OkStatus();
}

grpc::Status AutoLrsServiceImpl::CreateJob(grpc::ServerContext* context,
                                           const v1::CreateJobRequest* request, v1::Job* response) {
  return Answer(Admit(*context), response, [&](const Caller& caller) -> absl::StatusOr<v1::Job> {
    if (absl::Status s = CheckConfig(request->config()); !s.ok()) return s;
    return scheduler_->CreateJob(*request, caller);
  });
}

grpc::Status AutoLrsServiceImpl::GetJob(grpc::ServerContext* context,
                                        const v1::GetJobRequest* request, v1::Job* response) {
  return Answer(Admit(*context), response,
                [&](const Caller& caller) { return scheduler_->GetJob(*request, caller); });
}

grpc::Status AutoLrsServiceImpl::ListJobs(grpc::ServerContext* context,
                                          const v1::ListJobsRequest* request,
                                          v1::ListJobsResponse* response) {
  return Answer(Admit(*context), response,
                [&](const Caller& caller) { return scheduler_->ListJobs(*request, caller); });
}

grpc::Status AutoLrsServiceImpl::DeleteJob(grpc::ServerContext* context,
                                           const v1::DeleteJobRequest* request,
                                           v1::DeleteJobResponse* response) {
  return Answer(Admit(*context), response,
                [&](const Caller& caller) -> absl::StatusOr<v1::DeleteJobResponse> {
                  absl::Status s = scheduler_->DeleteJob(*request, caller);
                  if (!s.ok()) return s;
                  return v1::DeleteJobResponse();
                });
}

grpc::Status AutoLrsServiceImpl::NextAction(grpc::ServerContext* context,
                                            const v1::NextActionRequest* request,
                                            v1::Action* response) {
  return Answer(Admit(*context), response,
                [&](const Caller& caller) { return scheduler_->NextAction(*request, caller); });
}

grpc::Status AutoLrsServiceImpl::ReportLosses(grpc::ServerContext* context,
                                              const v1::ReportLossesRequest* request,
                                              v1::Action* response) {
  return Answer(Admit(*context), response, [&](const Caller& caller) -> absl::StatusOr<v1::Action> {
    if (absl::Status s = CheckReport(*request); !s.ok()) return s;
    return scheduler_->ReportLosses(*request, caller);
  });
}

grpc::Status AutoLrsServiceImpl::GetSchedule(grpc::ServerContext* context,
                                             const v1::GetScheduleRequest* request,
                                             v1::Schedule* response) {
  return Answer(Admit(*context), response,
                [&](const Caller& caller) { return scheduler_->GetSchedule(*request, caller); });
}

grpc::Status AutoLrsServiceImpl::GetFamily(grpc::ServerContext* context,
                                           const v1::GetFamilyRequest* request,
                                           v1::Family* response) {
  return Answer(Admit(*context), response,
                [&](const Caller& caller) { return scheduler_->GetFamily(*request, caller); });
}

grpc::Status AutoLrsServiceImpl::ListFamilies(grpc::ServerContext* context,
                                              const v1::ListFamiliesRequest* request,
                                              v1::ListFamiliesResponse* response) {
  return Answer(Admit(*context), response,
                [&](const Caller& caller) { return scheduler_->ListFamilies(*request, caller); });
}

grpc::Status AutoLrsServiceImpl::DeleteFamily(grpc::ServerContext* context,
                                              const v1::DeleteFamilyRequest* request,
                                              v1::DeleteFamilyResponse* response) {
  return Answer(Admit(*context), response,
                [&](const Caller& caller) -> absl::StatusOr<v1::DeleteFamilyResponse> {
                  absl::Status s = scheduler_->DeleteFamily(*request, caller);
                  if (!s.ok()) return s;
                  return v1::DeleteFamilyResponse();
                });
}

}  // namespace autolrs::server
