#ifndef AUTOLRS_CLIENT_CLIENT_H_
#define AUTOLRS_CLIENT_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/channel.h"

namespace autolrs {

struct ClientOptions {
  // gRPC target of the server, e.g. "localhost:50051" or "dns:///autolrs:50051".
  // Required.
  std::string target;
  // Deadline of each attempt of a call. > 0.
  absl::Duration deadline = absl::Seconds(10);
  // Attempts of one call at most, the first included. >= 1.
  int max_attempts = 8;
  // Backoff before the first retry; doubles after each retry up to
  // max_backoff. Each sleep is drawn uniformly from [backoff / 2, backoff].
  // 0 < initial_backoff <= max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Overall retry budget of one call: no retry starts later than this after
  // the call began, so a call lasts at most retry_budget + deadline. >= 0.
  absl::Duration retry_budget = absl::Seconds(30);
  // When non-empty, every call carries "authorization: Bearer <auth_token>".
  // Printable ASCII only.
  std::string auth_token;
  // TLS. When true the channel is encrypted and the server's certificate is
  // verified against tls_ca_file's CA certificates (PEM; empty: the
  // system's roots) and the target's host name (or tls_server_name). A
  // server without TLS, or whose certificate fails, answers UNAVAILABLE.
  bool tls = false;
  std::string tls_ca_file;
  // mTLS: this client's certificate chain and private key, PEM files; both
  // or neither. Needs tls.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The name the server's certificate must hold, instead of the target's
  // host (e.g. when the target is an IP address). Needs tls.
  std::string tls_server_name;
  // Seed of the backoff jitter.
  uint64_t seed = 0;
};

// A typed client of autolrs.v1.AutoLrsService.
//
// Every call has a deadline and is retried, with exponential backoff and
// jitter, on UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED (lost write races on
// a shared store) only, as the Python client does; every other error is
// returned at once with the server's code and message (a call that gave up
// after retries appends the attempts made to the message).
//
// Each attempt waits for the channel to be connected (gRPC wait_for_ready)
// until its deadline, so a server that is down or restarting is waited for
// instead of failing fast: with the defaults a call survives an outage of
// 30 s or more (attempts of 10 s within the 30 s retry budget). A channel made
// by Create() caps its reconnect backoff at max_backoff, so a call proceeds
// soon after the server is back.
//
// Retrying is safe because the API is idempotent: CreateJob always carries a
// request_id (one is generated when the caller leaves it empty), ReportLosses
// is idempotent by action_id, and the other calls do not change state (a
// retried DeleteJob whose first attempt did delete the job answers
// NOT_FOUND).
//
// Thread-safe: one Client (one gRPC channel) may serve many threads.
class Client {
 public:
  // Validates `options` (INVALID_ARGUMENT naming the field, or a TLS file
  // that cannot be read) and creates one channel to options.target (TLS when
  // options.tls), reused by every call. The channel
  // connects lazily: Create does not fail when the server is down.
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);

  // A client over an existing channel (tests, custom credentials);
  // options.target is ignored.
  static absl::StatusOr<std::unique_ptr<Client>> FromChannel(std::shared_ptr<grpc::Channel> channel,
                                                             const ClientOptions& options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends a generated request_id (random, from the process's entropy) when
  // `request.request_id()` is empty, so that retries cannot create two jobs.
  absl::StatusOr<v1::Job> CreateJob(v1::CreateJobRequest request);
  absl::StatusOr<v1::Job> GetJob(const v1::GetJobRequest& request);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::DeleteJobResponse> DeleteJob(const v1::DeleteJobRequest& request);
  absl::StatusOr<v1::Action> NextAction(const v1::NextActionRequest& request);
  absl::StatusOr<v1::Action> ReportLosses(const v1::ReportLossesRequest& request);
  absl::StatusOr<v1::Schedule> GetSchedule(const v1::GetScheduleRequest& request);
  // Families (JobConfig.family): what the service learned from a kind of
  // job's finished runs, for the caller's tenant.
  absl::StatusOr<v1::Family> GetFamily(const v1::GetFamilyRequest& request);
  absl::StatusOr<v1::ListFamiliesResponse> ListFamilies(const v1::ListFamiliesRequest& request);
  absl::StatusOr<v1::DeleteFamilyResponse> DeleteFamily(const v1::DeleteFamilyRequest& request);

  // Calls made and attempts sent (attempts - calls = retries), since creation.
  int64_t calls() const { return calls_.load(std::memory_order_relaxed); }
  int64_t attempts() const { return attempts_.load(std::memory_order_relaxed); }

  const ClientOptions& options() const { return options_; }

 private:
  Client(std::shared_ptr<grpc::Channel> channel, const ClientOptions& options);

  // Runs `method` with deadlines and retries; see the class comment.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(const char* name,
                                grpc::Status (v1::AutoLrsService::StubInterface::*method)(
                                    grpc::ClientContext*, const Request&, Response*),
                                const Request& request);

  // The sleep before retry number `retry` (1-based).
  absl::Duration Backoff(int retry);

  const ClientOptions options_;
  const std::string auth_header_;  // "Bearer <token>", or empty.
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AutoLrsService::StubInterface> stub_;

  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> attempts_{0};

  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);
};

}  // namespace autolrs

#endif  // AUTOLRS_CLIENT_CLIENT_H_
