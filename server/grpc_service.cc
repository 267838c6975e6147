#include "server/grpc_service.h"

#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/byte_buffer.h"
#include "grpcpp/impl/codegen/core_codegen_interface.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/support/method_handler.h"

namespace autolrs::server {
namespace {

// A unary handler like grpc::internal::RpcMethodHandler, but a request that
// does not parse is INVALID_ARGUMENT.
template <class Request, class Response>
class ParseCheckingHandler final : public grpc::internal::MethodHandler {
 public:
  using Method = std::function<grpc::Status(grpc::ServerContext*, const Request*, Response*)>;

  explicit ParseCheckingHandler(Method method) : method_(std::move(method)) {}

  void RunHandler(const HandlerParameter& param) override {
    Response response;
    grpc::Status status = param.status;
    if (status.ok()) {
      auto* request = static_cast<Request*>(param.request);
      status = method_(static_cast<grpc::ServerContext*>(param.server_context), request, &response);
      request->~Request();
    }
    grpc::internal::UnaryRunHandlerHelper(
        param, static_cast<grpc::protobuf::MessageLite*>(&response), status);
  }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* bytes, grpc::Status* status,
                    void** /*handler_data*/) override {
    auto* request =
        new (grpc::g_core_codegen_interface->grpc_call_arena_alloc(call, sizeof(Request))) Request;
    void* parsed = grpc::internal::UnaryDeserializeHelper(
        bytes, status, static_cast<grpc::protobuf::MessageLite*>(request));
    if (parsed == nullptr && status->error_code() == grpc::StatusCode::INTERNAL) {
      *status = grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("the request is not a valid ", Request::descriptor()->full_name(),
                       bytes == nullptr ? " (no message)" : ""));
    }
    return parsed;
  }

 private:
  const Method method_;
};

// `path` is "/autolrs.v1.AutoLrsService/<Method>", a literal (it must
// outlive the service).
template <class Request, class Response>
grpc::internal::RpcServiceMethod* Unary(
    const char* path,
    grpc::Status (AutoLrsServiceImpl::*method)(grpc::ServerContext*, const Request*, Response*),
    AutoLrsServiceImpl* impl) {
  return new grpc::internal::RpcServiceMethod(
      path, grpc::internal::RpcMethod::NORMAL_RPC,
      new ParseCheckingHandler<Request, Response>(
          [impl, method](grpc::ServerContext* ctx, const Request* req, Response* resp) {
            return (impl->*method)(ctx, req, resp);
          }));
}

}  // namespace

AutoLrsGrpcService::AutoLrsGrpcService(AutoLrsServiceImpl* impl) {
  AddMethod(Unary("/autolrs.v1.AutoLrsService/CreateJob", &AutoLrsServiceImpl::CreateJob, impl));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/GetJob", &AutoLrsServiceImpl::GetJob, impl));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/ListJobs", &AutoLrsServiceImpl::ListJobs, impl));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/DeleteJob", &AutoLrsServiceImpl::DeleteJob, impl));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/NextAction", &AutoLrsServiceImpl::NextAction, impl));
  AddMethod(
      Unary("/autolrs.v1.AutoLrsService/ReportLosses", &AutoLrsServiceImpl::ReportLosses, impl));
  AddMethod(
      Unary("/autolrs.v1.AutoLrsService/GetSchedule", &AutoLrsServiceImpl::GetSchedule, impl));
}

}  // namespace autolrs::server
