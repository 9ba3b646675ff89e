// The server boots in-process on 127.0.0.1 with an ephemeral port: health, reflection, ListParams,
// and honest UNIMPLEMENTED for RPCs that later issues implement.
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <sys/stat.h>

#include <set>

#include "backtest/v1/backtest_service.grpc.pb.h"
#include "backtest/v1/preset_service.grpc.pb.h"
#include "backtest/v1/trace_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/engine/param_registry.h"
#include "server/server.h"
#include "tests/integration/test_server.h"
#include "tests/testing/status_matchers.h"

namespace backtest {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::IsSupersetOf;

class ServerBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test_server_.Start();
    channel_ = test_server_.channel();
  }

  testing::TestServer test_server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServerBootTest, HealthIsServingForTheServerAndEachService) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  for (const char* service : {"", "backtest.v1.BacktestService", "backtest.v1.PresetService",
                              "backtest.v1.TraceService"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

// Asks the reflection service (v1alpha, bidi) to list services, with a generic stub: the
// reflection messages are compiled into the server's library and must not be compiled twice.
std::set<std::string> ListServicesByReflection(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(&context,
                               "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                               &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](int id) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(id));
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  // ServerReflectionRequest{list_services (field 7) = ""}.
  const std::string request_bytes("\x3a\x00", 2);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  step(2);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  EXPECT_TRUE(step(3));
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();

  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // ServerReflectionResponse.list_services_response (6) → ListServiceResponse.service (1) →
  // ServiceResponse.name (1).
  std::set<std::string> names;
  google::protobuf::UnknownFieldSet top;
  EXPECT_TRUE(top.ParseFromString(bytes));
  for (int i = 0; i < top.field_count(); ++i) {
    if (top.field(i).number() != 6) continue;
    google::protobuf::UnknownFieldSet list;
    EXPECT_TRUE(list.ParseFromString(top.field(i).length_delimited()));
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      EXPECT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
      names.insert(service.field(0).length_delimited());
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return names;
}

TEST_F(ServerBootTest, ReflectionListsTheThreeServicesAndHealth) {
  EXPECT_THAT(ListServicesByReflection(channel_),
              IsSupersetOf({"backtest.v1.BacktestService", "backtest.v1.PresetService",
                            "backtest.v1.TraceService", "grpc.health.v1.Health"}));
}

TEST_F(ServerBootTest, ListParamsReturnsEveryParameterOfTheRegistry) {
  auto stub = backtest::v1::BacktestService::NewStub(channel_);
  backtest::v1::ListParamsResponse response;
  ASSERT_TRUE(stub->ListParams(test_server_.Context().get(), {}, &response).ok());
  ASSERT_EQ(static_cast<size_t>(response.params_size()), engine::AllParams().size());
  std::set<std::string> names;
  for (const auto& p : response.params()) names.insert(p.name());
  EXPECT_TRUE(names.count("breakout_lookback_period"));
  EXPECT_TRUE(names.count("trace_sampling"));
  EXPECT_THAT(std::vector<std::string>(response.groups().begin(), response.groups().end()),
              ::testing::ElementsAre("run", "risk", "signal", "sma_cross", "trace"));
  const auto& rr = *std::find_if(response.params().begin(), response.params().end(),
                                 [](const auto& p) { return p.name() == "rr"; });
  EXPECT_EQ(rr.alias(), "RR");
  EXPECT_EQ(rr.default_value(), "2");
  EXPECT_EQ(rr.type(), "double");
  EXPECT_TRUE(rr.has_min());
  EXPECT_TRUE(rr.min_exclusive());
}

TEST_F(ServerBootTest, ListParamsFiltersByStrategyAndRejectsAnUnknownOne) {
  auto stub = backtest::v1::BacktestService::NewStub(channel_);
  {
    backtest::v1::ListParamsRequest request;
    request.set_strategy("sma_cross");
    backtest::v1::ListParamsResponse response;
    ASSERT_TRUE(stub->ListParams(test_server_.Context().get(), request, &response).ok());
    for (const auto& p : response.params()) {
      EXPECT_TRUE(p.strategy().empty() || p.strategy() == "sma_cross") << p.name();
    }
  }
  backtest::v1::ListParamsRequest request;
  request.set_strategy("nope");
  backtest::v1::ListParamsResponse response;
  grpc::Status status = stub->ListParams(test_server_.Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("strategy"));
}

TEST_F(ServerBootTest, TheBootstrapTokenFileIsPrivate) {
  struct stat st;
  ASSERT_EQ(stat(test_server_.server().token_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_FALSE(test_server_.admin_token().empty());
}

TEST_F(ServerBootTest, ASecondServerOnTheSamePortIsRefused) {
  ServerOptions options;
  options.listen = test_server_.server().address();
  options.db_path = test_server_.dir().File("other/backtest.db");
  options.runner_path = testing::BinDir() + "/backtest-runner";
  EXPECT_THAT(Server::Start(options), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace backtest
