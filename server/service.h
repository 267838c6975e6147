#ifndef AUTOLRS_SERVER_SERVICE_H_
#define AUTOLRS_SERVER_SERVICE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "server/scheduler.h"

namespace autolrs::server {

// The gRPC face of the Scheduler: one Scheduler call per RPC and one place
// that turns absl::Status into grpc::Status. When `auth_token` is non-empty,
// every call must carry the metadata `authorization: Bearer <auth_token>`
// (UNAUTHENTICATED otherwise; compared in constant time).
//
// Thread-safe. Does not own the scheduler, which must outlive it.
class AutoLrsServiceImpl final : public v1::AutoLrsService::Service {
 public:
  explicit AutoLrsServiceImpl(Scheduler* scheduler, std::string auth_token = "");

  grpc::Status CreateJob(grpc::ServerContext* context, const v1::CreateJobRequest* request,
                         v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status DeleteJob(grpc::ServerContext* context, const v1::DeleteJobRequest* request,
                         v1::DeleteJobResponse* response) override;
  grpc::Status NextAction(grpc::ServerContext* context, const v1::NextActionRequest* request,
                          v1::Action* response) override;
  grpc::Status ReportLosses(grpc::ServerContext* context, const v1::ReportLossesRequest* request,
                            v1::Action* response) override;
  grpc::Status GetSchedule(grpc::ServerContext* context, const v1::GetScheduleRequest* request,
                           v1::Schedule* response) override;

 private:
  grpc::Status Authorize(const grpc::ServerContext& context) const;

  Scheduler* const scheduler_;
  const std::string auth_header_;  // "Bearer <token>", or empty: no auth.
};

// Whether a == b, in a time that depends only on a.size() (for secrets:
// the bearer token).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// The grpc::Status carrying `status`'s code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SERVICE_H_
