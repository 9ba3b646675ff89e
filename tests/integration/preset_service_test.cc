// PresetService over gRPC: CRUD, validation against the parameter registry (aliases stored under
// canonical names), name rules, and per-owner scoping.
#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/api_test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::ApiTestServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

google::protobuf::Value Num(double v) {
  google::protobuf::Value value;
  value.set_number_value(v);
  return value;
}
google::protobuf::Value Str(const std::string& v) {
  google::protobuf::Value value;
  value.set_string_value(v);
  return value;
}
google::protobuf::Value Bool(bool v) {
  google::protobuf::Value value;
  value.set_bool_value(v);
  return value;
}

class PresetServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ann_ = server_.AddUser("ann");
    bob_ = server_.AddUser("bob");
  }

  grpc::Status Upsert(const testing::TestUser& user, const std::string& name,
                      const std::map<std::string, google::protobuf::Value>& values,
                      backtest::v1::UpsertPresetResponse* response) {
    backtest::v1::UpsertPresetRequest request;
    request.set_name(name);
    for (const auto& [k, v] : values) (*request.mutable_values())[k] = v;
    return server_.presets().UpsertPreset(ApiTestServer::Context(user.token).get(), request,
                                          response);
  }
  grpc::Status Get(const testing::TestUser& user, const std::string& name,
                   backtest::v1::GetPresetResponse* response) {
    backtest::v1::GetPresetRequest request;
    request.set_name(name);
    return server_.presets().GetPreset(ApiTestServer::Context(user.token).get(), request,
                                       response);
  }
  grpc::Status Delete(const testing::TestUser& user, const std::string& name) {
    backtest::v1::DeletePresetRequest request;
    request.set_name(name);
    backtest::v1::DeletePresetResponse response;
    return server_.presets().DeletePreset(ApiTestServer::Context(user.token).get(), request,
                                          &response);
  }
  std::vector<std::string> List(const testing::TestUser& user) {
    backtest::v1::ListPresetsResponse response;
    grpc::Status status =
        server_.presets().ListPresets(ApiTestServer::Context(user.token).get(), {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.names().begin(), response.names().end()};
  }

  ApiTestServer server_;
  testing::TestUser ann_, bob_;
};

TEST_F(PresetServiceTest, CreateGetReplaceListDelete) {
  backtest::v1::UpsertPresetResponse saved;
  ASSERT_TRUE(Upsert(ann_, "fast EMA", {{"ema_length", Num(20)}, {"RR", Num(2.5)}}, &saved).ok());
  EXPECT_TRUE(saved.created());
  EXPECT_EQ(saved.preset().name(), "fast EMA");
  EXPECT_GT(saved.preset().updated_at().seconds(), 0);
  // The seed alias RR is stored under its canonical name.
  EXPECT_THAT(saved.preset().values(), ::testing::SizeIs(2));
  EXPECT_EQ(saved.preset().values().at("ema_length").number_value(), 20);
  EXPECT_EQ(saved.preset().values().at("rr").number_value(), 2.5);

  backtest::v1::GetPresetResponse got;
  ASSERT_TRUE(Get(ann_, "fast EMA", &got).ok());
  EXPECT_EQ(got.preset().values().at("rr").number_value(), 2.5);

  backtest::v1::UpsertPresetResponse replaced;
  ASSERT_TRUE(Upsert(ann_, "fast EMA", {{"rr", Str("3")}}, &replaced).ok());
  EXPECT_FALSE(replaced.created());
  ASSERT_TRUE(Get(ann_, "fast EMA", &got).ok());
  EXPECT_THAT(got.preset().values(), ::testing::SizeIs(1));
  EXPECT_EQ(got.preset().values().at("rr").number_value(), 3);

  ASSERT_TRUE(Upsert(ann_, "a.first", {}, &saved).ok());
  EXPECT_THAT(List(ann_), ElementsAre("a.first", "fast EMA"));

  EXPECT_TRUE(Delete(ann_, "fast EMA").ok());
  EXPECT_EQ(Get(ann_, "fast EMA", &got).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete(ann_, "fast EMA").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(List(ann_), ElementsAre("a.first"));
}

TEST_F(PresetServiceTest, ValuesAreCanonicalAndTypedByTheRegistry) {
  backtest::v1::UpsertPresetResponse saved;
  grpc::Status status = Upsert(ann_, "typed",
                               {{"INITIAL_EQUITY", Num(1e8)},
                                {"check_for_daily_rsi", Str("no")},
                                {"symbols", Str("eurusd, gbpusd")},
                                {"max_candles", google::protobuf::Value()},
                                {"start_date", Str("2024-01-02")},
                                {"trace_enabled", Bool(true)}},
                               &saved);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const auto& v = saved.preset().values();
  EXPECT_EQ(v.at("initial_equity").number_value(), 1e8);
  EXPECT_TRUE(v.at("check_for_daily_rsi").has_bool_value());
  EXPECT_FALSE(v.at("check_for_daily_rsi").bool_value());
  EXPECT_EQ(v.at("symbols").string_value(), "EURUSD,GBPUSD");
  EXPECT_TRUE(v.at("max_candles").has_null_value());
  EXPECT_EQ(v.at("start_date").string_value(), "2024-01-02T00:00:00Z");
  EXPECT_TRUE(v.at("trace_enabled").bool_value());
}

TEST_F(PresetServiceTest, InvalidValuesAreRejectedNamingTheParameter) {
  backtest::v1::UpsertPresetResponse saved;
  struct Case {
    std::map<std::string, google::protobuf::Value> values;
    std::string expected;
  };
  google::protobuf::Value list;
  list.mutable_list_value()->add_values()->set_number_value(1);
  google::protobuf::Value object;
  (*object.mutable_struct_value()->mutable_fields())["a"].set_number_value(1);
  std::vector<Case> cases = {
      {{{"rr", Num(-1)}}, "rr:"},
      {{{"no_such_param", Num(1)}}, "no_such_param"},
      {{{"ema_length", Str("forty")}}, "ema_length:"},
      {{{"ema_length", list}}, "ema_length: must be a number, string, bool or null, got a list"},
      {{{"rr", object}}, "rr: must be a number, string, bool or null, got an object"},
      {{{"rr", Num(std::numeric_limits<double>::infinity())}}, "rr: must be a finite number"},
      {{{"rr", Num(2)}, {"RR", Num(3)}}, "rr: given twice"},
  };
  for (const Case& c : cases) {
    grpc::Status status = Upsert(ann_, "bad", c.values, &saved);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expected;
    EXPECT_THAT(status.error_message(), HasSubstr(c.expected));
  }
  EXPECT_THAT(List(ann_), IsEmpty());  // nothing stored
}

TEST_F(PresetServiceTest, NamesFollowTheRules) {
  backtest::v1::UpsertPresetResponse saved;
  for (std::string bad : {std::string(), std::string(65, 'a'), std::string("a/b"),
                          std::string("../etc"), std::string("x'; DROP TABLE presets; --"),
                          std::string(" lead"), std::string("trail "), std::string("tab\there")}) {
    grpc::Status status = Upsert(ann_, bad, {}, &saved);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_THAT(status.error_message(), HasSubstr("name:"));
    backtest::v1::GetPresetResponse got;
    EXPECT_EQ(Get(ann_, bad, &got).error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(Delete(ann_, bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
  }
  for (std::string good : {std::string(64, 'z'), std::string("My preset v1.2_final-B")}) {
    EXPECT_TRUE(Upsert(ann_, good, {}, &saved).ok()) << good;
  }
}

TEST_F(PresetServiceTest, PresetsBelongToTheirOwner) {
  backtest::v1::UpsertPresetResponse saved;
  ASSERT_TRUE(Upsert(ann_, "mine", {{"rr", Num(2)}}, &saved).ok());
  EXPECT_THAT(List(bob_), IsEmpty());
  backtest::v1::GetPresetResponse got;
  EXPECT_EQ(Get(bob_, "mine", &got).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete(bob_, "mine").error_code(), grpc::StatusCode::NOT_FOUND);
  // Staff do not see other users' presets either: presets belong to their owner.
  testing::TestUser boss = server_.AddUser("boss", /*staff=*/true);
  EXPECT_THAT(List(boss), IsEmpty());
  // The same name for another owner is another preset.
  ASSERT_TRUE(Upsert(bob_, "mine", {{"rr", Num(5)}}, &saved).ok());
  EXPECT_TRUE(saved.created());
  ASSERT_TRUE(Get(ann_, "mine", &got).ok());
  EXPECT_EQ(got.preset().values().at("rr").number_value(), 2);
  EXPECT_THAT(List(ann_), UnorderedElementsAre("mine"));
}

}  // namespace
}  // namespace backtest
