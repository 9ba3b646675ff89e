#include "server/api/backtest_service.h"

#include "server/api/param_conversion.h"
#include "server/api/status_conversion.h"

namespace backtest::api {

grpc::ServerUnaryReactor* BacktestServiceImpl::ListParams(
    grpc::CallbackServerContext* context, const backtest::v1::ListParamsRequest* request,
    backtest::v1::ListParamsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(FillParamDefinitions(request->strategy(), response)));
  return reactor;
}

}  // namespace backtest::api
