#ifndef AUTOLRS_SERVER_SERVICE_H_
#define AUTOLRS_SERVER_SERVICE_H_

#include <chrono>
#include <cstdint>
#include <optional>

#include "autolrs/v1/service.grpc.pb.h"
#include "server/rate_limiter.h"
#include "server/scheduler.h"
#include "server/token_table.h"

namespace autolrs::server {

// Limits the service applies to each call; 0: none.
struct ServiceLimits {
  // Calls per second per tenant (RateLimiter), with bursts of up to
  // tenant_request_burst calls (0: one second's worth).
  double tenant_requests_per_second = 0;
  double tenant_request_burst = 0;
  // The most values one ReportLosses series (losses, eval_losses) may hold;
  // CreateJob refuses configs whose longest action (tau_max, warmup, the
  // cooldown) is longer.
  int64_t max_series_length = 0;
};

// The gRPC face of the Scheduler: one Scheduler call per RPC and one place
// that turns absl::Status into grpc::Status. Each call, in order:
// - authenticates (Authenticator: UNAUTHENTICATED without a known token),
// - is refused DEADLINE_EXCEEDED, without work, when its deadline passed
//   while it waited for a thread,
// - passes its tenant's rate limit (RESOURCE_EXHAUSTED naming it),
// - passes the per-request limits (INVALID_ARGUMENT naming them),
// - runs as its Caller: other tenants' jobs are NOT_FOUND.
// Tokens are never logged or quoted.
//
// Thread-safe. Does not own the scheduler or the authenticator, which must
// outlive it.
class AutoLrsServiceImpl final : public v1::AutoLrsService::Service {
 public:
  AutoLrsServiceImpl(Scheduler* scheduler, const Authenticator* authenticator,
                     const ServiceLimits& limits = {});

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
  grpc::Status GetFamily(grpc::ServerContext* context, const v1::GetFamilyRequest* request,
                         v1::Family* response) override;
  grpc::Status ListFamilies(grpc::ServerContext* context, const v1::ListFamiliesRequest* request,
                            v1::ListFamiliesResponse* response) override;
  grpc::Status DeleteFamily(grpc::ServerContext* context, const v1::DeleteFamilyRequest* request,
                            v1::DeleteFamilyResponse* response) override;

 private:
  // Authentication, deadline and rate limit: the caller, or why not.
  absl::StatusOr<Caller> Admit(const grpc::ServerContext& context);
  absl::Status CheckConfig(const v1::JobConfig& config) const;
  absl::Status CheckReport(const v1::ReportLossesRequest& request) const;

  Scheduler* const scheduler_;
  const Authenticator* const authenticator_;
  const ServiceLimits limits_;
  RateLimiter rate_limiter_;
};

// DEADLINE_EXCEEDED (saying the server is overloaded) when a call's
// `deadline` is before `now`: its caller gave up while it waited for a
// thread, so it is refused without work. OK otherwise.
absl::Status CheckNotExpired(std::chrono::system_clock::time_point deadline,
                             std::chrono::system_clock::time_point now);

// The grpc::Status carrying `status`'s code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SERVICE_H_
