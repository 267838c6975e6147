#include "client/client.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace autolrs {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("ClientOptions.", field, " ", what));
}

absl::Status Validate(const ClientOptions& o, bool need_target) {
  if (need_target && o.target.empty()) return Invalid("target", "is required");
  if (o.deadline <= absl::ZeroDuration() || o.deadline == absl::InfiniteDuration()) {
    return Invalid("deadline",
                   absl::StrCat("must be finite and > 0, got ", absl::FormatDuration(o.deadline)));
  }
  if (o.max_attempts < 1) {
    return Invalid("max_attempts", absl::StrCat("must be >= 1, got ", o.max_attempts));
  }
  if (o.initial_backoff <= absl::ZeroDuration()) {
    return Invalid("initial_backoff",
                   absl::StrCat("must be > 0, got ", absl::FormatDuration(o.initial_backoff)));
  }
  if (o.max_backoff < o.initial_backoff || o.max_backoff == absl::InfiniteDuration()) {
    return Invalid("max_backoff", absl::StrCat("must be finite and >= initial_backoff, got ",
                                               absl::FormatDuration(o.max_backoff)));
  }
  if (o.retry_budget < absl::ZeroDuration()) {
    return Invalid("retry_budget",
                   absl::StrCat("must be >= 0, got ", absl::FormatDuration(o.retry_budget)));
  }
  for (char c : o.auth_token) {
    if (c < 0x20 || c > 0x7e) return Invalid("auth_token", "must be printable ASCII");
  }
  const bool tls_files = !o.tls_ca_file.empty() || !o.tls_cert_file.empty() ||
                         !o.tls_key_file.empty() || !o.tls_server_name.empty();
  if (tls_files && !o.tls) {
    return Invalid("tls", "must be true when a tls_* option is set");
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return Invalid("tls_cert_file", "and tls_key_file must be set together (mTLS)");
  }
  return absl::OkStatus();
}

// The contents of `path`, for option `field`; INVALID_ARGUMENT when it
// cannot be read or is empty.
absl::StatusOr<std::string> ReadFile(absl::string_view field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  if (!in || contents.str().empty()) {
    return Invalid(field, absl::StrCat("names '", path, "', which cannot be read or is empty"));
  }
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const ClientOptions& o) {
  if (!o.tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!o.tls_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile("tls_ca_file", o.tls_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!o.tls_cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile("tls_cert_file", o.tls_cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile("tls_key_file", o.tls_key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

bool Retryable(grpc::StatusCode code) {
  // ABORTED: the server lost repeated write races on a shared store; the
  // same request applies cleanly once they settle.
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::ABORTED;
}

// A request id no other CreateJob will use: 128 random bits.
std::string NewRequestId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("client-%016x%016x", absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint64_t>(gen));
}

int ClampMs(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, 1 << 30));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (absl::Status s = Validate(options, /*need_target=*/true); !s.ok()) return s;
  grpc::ChannelArguments args;
  // Reconnect promptly once a restarted server is back.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, ClampMs(options.initial_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, ClampMs(options.max_backoff));
  args.SetMaxReceiveMessageSize(-1);  // Schedules of long jobs may be large.
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentials(options);
  if (!credentials.ok()) return credentials.status();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.target, *credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create a channel to '", options.target, "'"));
  }
  return std::unique_ptr<Client>(new Client(std::move(channel), options));
}

absl::StatusOr<std::unique_ptr<Client>> Client::FromChannel(std::shared_ptr<grpc::Channel> channel,
                                                            const ClientOptions& options) {
  if (channel == nullptr) return absl::InvalidArgumentError("channel is null");
  if (absl::Status s = Validate(options, /*need_target=*/false); !s.ok()) return s;
  return std::unique_ptr<Client>(new Client(std::move(channel), options));
}

Client::Client(std::shared_ptr<grpc::Channel> channel, const ClientOptions& options)
    : options_(options),
      auth_header_(options.auth_token.empty() ? "" : absl::StrCat("Bearer ", options.auth_token)),
      channel_(std::move(channel)),
      stub_(v1::AutoLrsService::NewStub(channel_)),
      rng_(options.seed) {}

absl::Duration Client::Backoff(int retry) {
  absl::Duration backoff = options_.initial_backoff;
  for (int i = 1; i < retry && backoff < options_.max_backoff; ++i) backoff *= 2;
  backoff = std::min(backoff, options_.max_backoff);
  absl::MutexLock lock(&rng_mu_);
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return backoff * jitter(rng_);
}

template <typename Request, typename Response>
absl::StatusOr<Response> Client::Call(const char* name,
                                      grpc::Status (v1::AutoLrsService::StubInterface::*method)(
                                          grpc::ClientContext*, const Request&, Response*),
                                      const Request& request) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  const absl::Time start = absl::Now();
  grpc::Status status;
  int attempt = 1;
  for (;; ++attempt) {
    attempts_.fetch_add(1, std::memory_order_relaxed);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
    context.set_wait_for_ready(true);
    if (!auth_header_.empty()) context.AddMetadata("authorization", auth_header_);
    Response response;
    status = (stub_.get()->*method)(&context, request, &response);
    if (status.ok()) return response;
    if (!Retryable(status.error_code()) || attempt >= options_.max_attempts) break;
    const absl::Duration left = options_.retry_budget - (absl::Now() - start);
    if (left <= absl::ZeroDuration()) break;
    absl::SleepFor(std::min(Backoff(attempt), left));
  }
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (attempt == 1) return absl::Status(code, status.error_message());
  return absl::Status(
      code, absl::StrCat(status.error_message(), " (", name, ": gave up after ", attempt,
                         " attempts in ", absl::FormatDuration(absl::Now() - start), ")"));
}

absl::StatusOr<v1::Job> Client::CreateJob(v1::CreateJobRequest request) {
  if (request.request_id().empty()) request.set_request_id(NewRequestId());
  return Call("CreateJob", &v1::AutoLrsService::StubInterface::CreateJob, request);
}

absl::StatusOr<v1::Job> Client::GetJob(const v1::GetJobRequest& request) {
  return Call("GetJob", &v1::AutoLrsService::StubInterface::GetJob, request);
}

absl::StatusOr<v1::ListJobsResponse> Client::ListJobs(const v1::ListJobsRequest& request) {
  return Call("ListJobs", &v1::AutoLrsService::StubInterface::ListJobs, request);
}

absl::StatusOr<v1::DeleteJobResponse> Client::DeleteJob(const v1::DeleteJobRequest& request) {
  return Call("DeleteJob", &v1::AutoLrsService::StubInterface::DeleteJob, request);
}

absl::StatusOr<v1::Action> Client::NextAction(const v1::NextActionRequest& request) {
  return Call("NextAction", &v1::AutoLrsService::StubInterface::NextAction, request);
}

absl::StatusOr<v1::Action> Client::ReportLosses(const v1::ReportLossesRequest& request) {
  return Call("ReportLosses", &v1::AutoLrsService::StubInterface::ReportLosses, request);
}

absl::StatusOr<v1::Schedule> Client::GetSchedule(const v1::GetScheduleRequest& request) {
  return Call("GetSchedule", &v1::AutoLrsService::StubInterface::GetSchedule, request);
}

absl::StatusOr<v1::Family> Client::GetFamily(const v1::GetFamilyRequest& request) {
  return Call("GetFamily", &v1::AutoLrsService::StubInterface::GetFamily, request);
}

absl::StatusOr<v1::ListFamiliesResponse> Client::ListFamilies(
    const v1::ListFamiliesRequest& request) {
  return Call("ListFamilies", &v1::AutoLrsService::StubInterface::ListFamilies, request);
}

absl::StatusOr<v1::DeleteFamilyResponse> Client::DeleteFamily(
    const v1::DeleteFamilyRequest& request) {
  return Call("DeleteFamily", &v1::AutoLrsService::StubInterface::DeleteFamily, request);
}

}  // namespace autolrs
