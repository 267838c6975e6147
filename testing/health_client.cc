#include "testing/health_client.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"

namespace autolrs::testing {

absl::StatusOr<Health> CheckHealth(const std::shared_ptr<grpc::Channel>& channel) {
  static const grpc::internal::RpcMethod kCheck("/grpc.health.v1.Health/Check",
                                                grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice no_bytes;  // HealthCheckRequest{service: ""} encodes to nothing.
  grpc::ByteBuffer request(&no_bytes, 1);
  grpc::ByteBuffer response;
  grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), kCheck, &ctx, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("health check: ", status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("health check: bad response");
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (bytes.empty()) return Health::kUnknown;  // status = 0 is not encoded.
  if (bytes.size() != 2 || bytes[0] != 0x08) {
    return absl::InternalError("health check: unexpected response bytes");
  }
  return static_cast<Health>(bytes[1]);
}

absl::StatusOr<Health> AwaitHealth(const std::shared_ptr<grpc::Channel>& channel, Health want,
                                   absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<Health> health = CheckHealth(channel);
  while ((!health.ok() || *health != want) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
    health = CheckHealth(channel);
  }
  return health;
}

}  // namespace autolrs::testing
