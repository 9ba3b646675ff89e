// StrategyService: the strategies a job can run — the built-ins and the strategy folder's, as
// the folder is now (jobs::StrategyCatalog's current snapshot).
#ifndef BACKTEST_SERVER_API_STRATEGY_SERVICE_H_
#define BACKTEST_SERVER_API_STRATEGY_SERVICE_H_

#include "backtest/v1/strategy_service.grpc.pb.h"
#include "server/api/auth.h"
#include "server/jobs/strategy_catalog.h"

namespace backtest::api {

class StrategyServiceImpl final : public backtest::v1::StrategyService::CallbackService {
 public:
  // `strategies` and `auth` outlive the service.
  StrategyServiceImpl(const jobs::StrategyCatalog& strategies, Authenticator& auth)
      : strategies_(strategies), auth_(auth) {}

  grpc::ServerUnaryReactor* ListStrategies(
      grpc::CallbackServerContext* context, const backtest::v1::ListStrategiesRequest* request,
      backtest::v1::ListStrategiesResponse* response) override;
  grpc::ServerUnaryReactor* GetStrategy(grpc::CallbackServerContext* context,
                                        const backtest::v1::GetStrategyRequest* request,
                                        backtest::v1::GetStrategyResponse* response) override;

 private:
  const jobs::StrategyCatalog& strategies_;
  Authenticator& auth_;
};

// `name` of `snapshot` (a built-in, a folder's strategy, or a folder's that cannot run: with its
// error) → its proto; NotFound when none.
absl::Status ToStrategyProto(const jobs::StrategySnapshot& snapshot, absl::string_view name,
                             backtest::v1::Strategy* out);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_STRATEGY_SERVICE_H_
