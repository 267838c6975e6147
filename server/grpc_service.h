#ifndef AUTOLRS_SERVER_GRPC_SERVICE_H_
#define AUTOLRS_SERVER_GRPC_SERVICE_H_

#include "grpcpp/impl/service_type.h"
#include "server/call_observer.h"
#include "server/service.h"

namespace autolrs::server {

// The grpc::Service the server registers: autolrs.v1.AutoLrsService's unary
// methods, each dispatched to the matching AutoLrsServiceImpl method. It
// differs from the generated registration in one way: request bytes that do
// not parse as the method's request answer INVALID_ARGUMENT, where gRPC's
// generated handlers answer INTERNAL (a server fault, which clients would
// report as a bug rather than fix their request). gRPC 1.51 fixes the
// deserializer of generated handlers at compile time, so the handlers are
// registered here with the same internal API the generated code uses.
//
// Every answered call, a request that did not parse included, is reported
// to `observer` (when not null) with its status and handler time.
//
// Thread-safe. Does not own `impl` or `observer`, which must outlive it.
class AutoLrsGrpcService final : public grpc::Service {
 public:
  explicit AutoLrsGrpcService(AutoLrsServiceImpl* impl, CallObserver* observer = nullptr);
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_GRPC_SERVICE_H_
