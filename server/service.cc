#include "server/service.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace autolrs::server {
namespace {

// Runs an authorized Scheduler call and stores its value in `response`.
template <typename Response, typename Call>
grpc::Status Answer(grpc::Status authorized, Response* response, Call call) {
  if (!authorized.ok()) return authorized;
  auto result = call();
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Every byte of `a` is compared (against `b` cycled, or against itself
  // when `b` is empty), so the time depends on a's length only, never on
  // where the first difference is.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char other = b.empty() ? ~static_cast<unsigned char>(a[i]) : b[i % b.size()];
    diff |= static_cast<unsigned char>(a[i]) ^ other;
  }
  return diff == 0 && a.size() == b.size();
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

AutoLrsServiceImpl::AutoLrsServiceImpl(Scheduler* scheduler, std::string auth_token)
    : scheduler_(scheduler),
      auth_header_(auth_token.empty() ? "" : absl::StrCat("Bearer ", auth_token)) {}

grpc::Status AutoLrsServiceImpl::Authorize(const grpc::ServerContext& context) const {
  if (auth_header_.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end() ||
      !ConstantTimeEquals(absl::string_view(it->second.data(), it->second.size()), auth_header_)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong 'authorization: Bearer <token>' metadata");
  }
  return grpc::Status::OK;
}

grpc::Status AutoLrsServiceImpl::CreateJob(grpc::ServerContext* context,
                                           const v1::CreateJobRequest* request, v1::Job* response) {
  return Answer(Authorize(*context), response, [&] { return scheduler_->CreateJob(*request); });
}

grpc::Status AutoLrsServiceImpl::GetJob(grpc::ServerContext* context,
                                        const v1::GetJobRequest* request, v1::Job* response) {
  return Answer(Authorize(*context), response, [&] { return scheduler_->GetJob(*request); });
}

grpc::Status AutoLrsServiceImpl::ListJobs(grpc::ServerContext* context,
                                          const v1::ListJobsRequest* request,
                                          v1::ListJobsResponse* response) {
  return Answer(Authorize(*context), response, [&] { return scheduler_->ListJobs(*request); });
}

grpc::Status AutoLrsServiceImpl::DeleteJob(grpc::ServerContext* context,
                                           const v1::DeleteJobRequest* request,
                                           v1::DeleteJobResponse* response) {
  return Answer(Authorize(*context), response, [&]() -> absl::StatusOr<v1::DeleteJobResponse> {
    absl::Status s = scheduler_->DeleteJob(*request);
    if (!s.ok()) return s;
    return v1::DeleteJobResponse();
  });
}

grpc::Status AutoLrsServiceImpl::NextAction(grpc::ServerContext* context,
                                            const v1::NextActionRequest* request,
                                            v1::Action* response) {
  return Answer(Authorize(*context), response, [&] { return scheduler_->NextAction(*request); });
}

grpc::Status AutoLrsServiceImpl::ReportLosses(grpc::ServerContext* context,
                                              const v1::ReportLossesRequest* request,
                                              v1::Action* response) {
  return Answer(Authorize(*context), response, [&] { return scheduler_->ReportLosses(*request); });
}

grpc::Status AutoLrsServiceImpl::GetSchedule(grpc::ServerContext* context,
                                             const v1::GetScheduleRequest* request,
                                             v1::Schedule* response) {
  return Answer(Authorize(*context), response, [&] { return scheduler_->GetSchedule(*request); });
}

}  // namespace autolrs::server
