#include "server/call_observer.h"

#include "server/log.h"

namespace autolrs::server {
namespace {

bool IsServerError(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::DATA_LOSS || code == grpc::StatusCode::UNKNOWN;
}

}  // namespace

void CallReporter::OnCallDone(absl::string_view method, absl::string_view job_id,
                              const grpc::Status& status, absl::Duration elapsed) {
  if (metrics_ != nullptr) metrics_->RecordRpc(method, status.error_code(), elapsed);
  if (status.ok()) return;
  LogLine line(IsServerError(status.error_code()) ? LogLevel::kError : LogLevel::kWarning,
               "rpc_error");
  line.Add("method", method);
  if (!job_id.empty()) line.Add("job_id", job_id);
  line.AddStatus(
      absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message()));
}

}  // namespace autolrs::server
