// A gRPC server interceptor that observes every RPC (docs/operations.md): its count and duration
// by method and status code into metrics::ServerMetrics, and one access log line (logger
// "access": method, user, status code, duration, bytes in and out, request id, peer; never a
// token). It gives every call a request id: the client's x-request-id metadata when well-formed
// (1-128 letters, digits, '-', '_', '.', ':'; the gateway sends one), else a new one put in its
// place, so handlers read the same id (RequestId below). One interceptor per call, made by the
// factory the server registers.
#ifndef BACKTEST_SERVER_API_RPC_INTERCEPTOR_H_
#define BACKTEST_SERVER_API_RPC_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

namespace grpc {
class ServerContextBase;
}

namespace backtest::api {

class Authenticator;

class RpcInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `auth` names the user of a call in its line (its cache answers: the handler has just
  // asked); it must outlive the server. `json`: the line's message is a JSON object.
  RpcInterceptorFactory(Authenticator* auth, bool json) : auth_(auth), json_(json) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  Authenticator* auth_;
  bool json_;
};

// The call's request id (x-request-id as the interceptor left it); empty outside an intercepted
// server.
std::string RequestId(const grpc::ServerContextBase& context);

// Whether `id` may be taken from a client as a request id.
bool ValidRequestId(std::string_view id);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_RPC_INTERCEPTOR_H_
