// BacktestService over the gRPC callback API.
//
// Thread-safe: handlers run on gRPC's threads and share no mutable state yet. ListParams is served
// from the parameter registry; the job RPCs answer UNIMPLEMENTED until the job service lands
// (issue 4).
#ifndef BACKTEST_SERVER_API_BACKTEST_SERVICE_H_
#define BACKTEST_SERVER_API_BACKTEST_SERVICE_H_

#include "backtest/v1/backtest_service.grpc.pb.h"

namespace backtest::api {

class BacktestServiceImpl final : public backtest::v1::BacktestService::CallbackService {
 public:
  grpc::ServerUnaryReactor* ListParams(grpc::CallbackServerContext* context,
                                       const backtest::v1::ListParamsRequest* request,
                                       backtest::v1::ListParamsResponse* response) override;
};

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_BACKTEST_SERVICE_H_
