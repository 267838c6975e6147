#ifndef AUTOLRS_SERVER_CALL_OBSERVER_H_
#define AUTOLRS_SERVER_CALL_OBSERVER_H_

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "server/metrics.h"

namespace autolrs::server {

// Told about every answered call of the AutoLrsService, from the thread
// that ran it, after the handler returned. Implementations must be
// thread-safe and quick.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  // `method`: the short name ("NextAction"); `job_id`: the request's when
  // the call failed (empty for a call that succeeded, for ListJobs, for a
  // CreateJob without one and for a request that did not parse); `elapsed`:
  // from the parsed request to the answer.
  virtual void OnCallDone(absl::string_view method, absl::string_view job_id,
                          const grpc::Status& status, absl::Duration elapsed) = 0;
};

// The server's CallObserver: counts and times every call in `metrics` (when
// not null) and logs every failed call as one line (event=rpc_error, with
// method, job_id, code, error): level warning for a caller's error
// (INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED...), error for the
// server's (INTERNAL, UNAVAILABLE, DATA_LOSS, UNKNOWN).
//
// Thread-safe. Does not own `metrics`, which must outlive it.
class CallReporter final : public CallObserver {
 public:
  explicit CallReporter(ServerMetrics* metrics) : metrics_(metrics) {}
  void OnCallDone(absl::string_view method, absl::string_view job_id, const grpc::Status& status,
                  absl::Duration elapsed) override;

 private:
  ServerMetrics* const metrics_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_CALL_OBSERVER_H_
