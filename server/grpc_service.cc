#include "server/grpc_service.h"

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/byte_buffer.h"
#include "grpcpp/impl/codegen/core_codegen_interface.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/support/method_handler.h"

namespace autolrs::server {
namespace {

// Whether requests of type T name a job.
template <class T, class = void>
struct HasJobId : std::false_type {};
template <class T>
struct HasJobId<T, std::void_t<decltype(std::declval<const T&>().job_id())>> : std::true_type {};

// A unary handler like grpc::internal::RpcMethodHandler, but a request that
// does not parse is INVALID_ARGUMENT.
template <class Request, class Response>
class ParseCheckingHandler final : public grpc::internal::MethodHandler {
 public:
  using Method = std::function<grpc::Status(grpc::ServerContext*, const Request*, Response*)>;

  // `name`: the method's short name, a literal.
  ParseCheckingHandler(const char* name, Method method, CallObserver* observer)
      : name_(name), method_(std::move(method)), observer_(observer) {}

  void RunHandler(const HandlerParameter& param) override {
    const auto start = std::chrono::steady_clock::now();
    Response response;
    grpc::Status status = param.status;
    std::string job_id;
    if (status.ok()) {
      auto* request = static_cast<Request*>(param.request);
      status = method_(static_cast<grpc::ServerContext*>(param.server_context), request, &response);
      if constexpr (HasJobId<Request>::value) {
        if (observer_ != nullptr && !status.ok()) job_id = request->job_id();
      }
      request->~Request();
    }
    if (observer_ != nullptr) {
      observer_->OnCallDone(name_, job_id, status,
                            absl::FromChrono(std::chrono::steady_clock::now() - start));
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
  const char* const name_;
  const Method method_;
  CallObserver* const observer_;
};

// `path` is "/autolrs.v1.AutoLrsService/<Method>", a literal (it must
// outlive the service).
template <class Request, class Response>
grpc::internal::RpcServiceMethod* Unary(
    const char* path,
    grpc::Status (AutoLrsServiceImpl::*method)(grpc::ServerContext*, const Request*, Response*),
    AutoLrsServiceImpl* impl, CallObserver* observer) {
  const char* name = std::strrchr(path, '/') + 1;
  return new grpc::internal::RpcServiceMethod(
      path, grpc::internal::RpcMethod::NORMAL_RPC,
      new ParseCheckingHandler<Request, Response>(
          name,
          [impl, method](grpc::ServerContext* ctx, const Request* req, Response* resp) {
            return (impl->*method)(ctx, req, resp);
          },
          observer));
}

}  // namespace

AutoLrsGrpcService::AutoLrsGrpcService(AutoLrsServiceImpl* impl, CallObserver* o) {
  AddMethod(Unary("/autolrs.v1.AutoLrsService/CreateJob", &AutoLrsServiceImpl::CreateJob, impl, o));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/GetJob", &AutoLrsServiceImpl::GetJob, impl, o));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/ListJobs", &AutoLrsServiceImpl::ListJobs, impl, o));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/DeleteJob", &AutoLrsServiceImpl::DeleteJob, impl, o));
  AddMethod(
      Unary("/autolrs.v1.AutoLrsService/NextAction", &AutoLrsServiceImpl::NextAction, impl, o));
  AddMethod(
      Unary("/autolrs.v1.AutoLrsService/ReportLosses", &AutoLrsServiceImpl::ReportLosses, impl, o));
  AddMethod(
      Unary("/autolrs.v1.AutoLrsService/GetSchedule", &AutoLrsServiceImpl::GetSchedule, impl, o));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/GetFamily", &AutoLrsServiceImpl::GetFamily, impl, o));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/ListFamilies", &AutoLrsServiceImpl::ListFamilies,
                  impl, o));
  AddMethod(Unary("/autolrs.v1.AutoLrsService/DeleteFamily", &AutoLrsServiceImpl::DeleteFamily,
                  impl, o));
}

}  // namespace autolrs::server
