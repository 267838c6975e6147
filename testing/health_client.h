#ifndef AUTOLRS_TESTING_HEALTH_CLIENT_H_
#define AUTOLRS_TESTING_HEALTH_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace autolrs::testing {

// grpc.health.v1.HealthCheckResponse.ServingStatus.
enum class Health { kUnknown = 0, kServing = 1, kNotServing = 2 };

// Calls grpc.health.v1.Health/Check for the server as a whole (service "").
// The messages are two bytes each, so they are encoded by hand rather than
// generated from grpc's health.proto, which Debian does not ship.
absl::StatusOr<Health> CheckHealth(const std::shared_ptr<grpc::Channel>& channel);

// Polls CheckHealth until it answers `want` or `timeout` passes; returns
// the last answer.
absl::StatusOr<Health> AwaitHealth(const std::shared_ptr<grpc::Channel>& channel, Health want,
                                   absl::Duration timeout = absl::Seconds(30));

}  // namespace autolrs::testing

#endif  // AUTOLRS_TESTING_HEALTH_CLIENT_H_
