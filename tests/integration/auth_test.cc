// Token authentication: every RPC of PresetService and TraceService needs a valid token, and the
// Authenticator's header parsing, cache and revocation.
#include <grpcpp/grpcpp.h>

#include "db/user_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/api_test_server.h"
#include "tests/testing/status_matchers.h"

namespace backtest {
namespace {

using ::backtest::testing::ApiTestServer;
using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;

// Calls every PresetService and TraceService RPC with `context_for()` and returns their codes.
template <typename ContextFn>
std::vector<grpc::StatusCode> CallEveryRpc(ApiTestServer& s, const std::string& job_id,
                                           ContextFn context_for) {
  std::vector<grpc::StatusCode> codes;
  {
    backtest::v1::ListPresetsResponse response;
    codes.push_back(s.presets().ListPresets(context_for().get(), {}, &response).error_code());
  }
  {
    backtest::v1::GetPresetRequest request;
    request.set_name("x");
    backtest::v1::GetPresetResponse response;
    codes.push_back(s.presets().GetPreset(context_for().get(), request, &response).error_code());
  }
  {
    backtest::v1::UpsertPresetRequest request;
    request.set_name("x");
    backtest::v1::UpsertPresetResponse response;
    codes.push_back(
        s.presets().UpsertPreset(context_for().get(), request, &response).error_code());
  }
  {
    backtest::v1::DeletePresetRequest request;
    request.set_name("x");
    backtest::v1::DeletePresetResponse response;
    codes.push_back(
        s.presets().DeletePreset(context_for().get(), request, &response).error_code());
  }
  {
    backtest::v1::QueryTraceRequest request;
    request.set_job_id(job_id);
    backtest::v1::QueryTraceResponse response;
    codes.push_back(s.traces().QueryTrace(context_for().get(), request, &response).error_code());
  }
  {
    backtest::v1::ExplainRequest request;
    request.set_job_id(job_id);
    backtest::v1::ExplainResponse response;
    codes.push_back(s.traces().Explain(context_for().get(), request, &response).error_code());
  }
  return codes;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ann_ = server_.AddUser("ann");
    job_ = server_.AddJob(ann_.id, "finished", "{}");
  }

  ApiTestServer server_;
  testing::TestUser ann_;
  std::string job_;
};

TEST_F(AuthTest, EveryRpcWithoutATokenIsUnauthenticated) {
  auto codes = CallEveryRpc(server_, job_, [] { return ApiTestServer::Context(""); });
  EXPECT_EQ(codes.size(), 6u);
  for (grpc::StatusCode code : codes) EXPECT_EQ(code, grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthTest, EveryRpcWithAWrongTokenIsUnauthenticated) {
  const std::string wrong = "bt_" + std::string(43, 'A');
  auto codes = CallEveryRpc(server_, job_, [&] { return ApiTestServer::Context(wrong); });
  for (grpc::StatusCode code : codes) EXPECT_EQ(code, grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthTest, MalformedAuthorizationIsUnauthenticated) {
  for (std::string header : {std::string("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), ann_.token,
                             std::string("Token"), std::string("Token "),
                             "Token " + ann_.token + "x", "Token x" + ann_.token}) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", header);
    backtest::v1::ListPresetsResponse response;
    grpc::Status status = server_.presets().ListPresets(context.get(), {}, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << header;
    // The message never echoes the token.
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(ann_.token)));
  }
}

TEST_F(AuthTest, AValidTokenIsAccepted) {
  auto codes = CallEveryRpc(server_, job_, [&] { return ApiTestServer::Context(ann_.token); });
  EXPECT_THAT(codes, ::testing::ElementsAre(
                         grpc::StatusCode::OK,         // ListPresets
                         grpc::StatusCode::NOT_FOUND,  // GetPreset of a missing preset
                         grpc::StatusCode::OK,         // UpsertPreset
                         grpc::StatusCode::OK,         // DeletePreset
                         grpc::StatusCode::OK,         // QueryTrace
                         grpc::StatusCode::OK));       // Explain
}

TEST(AuthenticatorTest, ParsesTheHeaderAndResolvesTheCaller) {
  ApiTestServer server;
  testing::TestUser boss = server.AddUser("boss", /*staff=*/true);
  auto caller = server.auth().AuthenticateHeader("Token " + boss.token);
  ASSERT_THAT(caller, IsOk());
  EXPECT_EQ(caller->user_id, boss.id);
  EXPECT_EQ(caller->name, "boss");
  EXPECT_TRUE(caller->is_staff);
  EXPECT_TRUE(caller->CanSee(boss.id + 1));
  EXPECT_THAT(server.auth().AuthenticateHeader("  token   " + boss.token + " "), IsOk());
  EXPECT_THAT(server.auth().AuthenticateHeader("Bearer " + boss.token), IsOk());
  EXPECT_THAT(server.auth().AuthenticateHeader(""),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("missing")));
  EXPECT_THAT(server.auth().AuthenticateHeader("Digest " + boss.token),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("malformed")));
  EXPECT_THAT(server.auth().AuthenticateToken("bt_short"),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthenticatorTest, RevocationTakesEffectWhenTheCacheEntryExpires) {
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  api::AuthenticatorOptions options;
  options.cache_ttl = absl::Seconds(5);
  options.clock = [&now] { return now; };
  ApiTestServer server(options);
  testing::TestUser ann = server.AddUser("ann");
  ASSERT_THAT(server.auth().AuthenticateToken(ann.token), IsOk());

  // Revoked through another connection (as `backtestd user revoke` does).
  ASSERT_THAT(server.users().RevokeToken(ann.token), IsOk());
  EXPECT_THAT(server.auth().AuthenticateToken(ann.token), IsOk());  // cached
  now += absl::Seconds(6);
  EXPECT_THAT(server.auth().AuthenticateToken(ann.token),
              StatusIs(absl::StatusCode::kUnauthenticated));

  // Forget() makes a revocation in this process immediate.
  testing::TestUser bob = server.AddUser("bob");
  ASSERT_THAT(server.auth().AuthenticateToken(bob.token), IsOk());
  ASSERT_THAT(server.users().RevokeUserTokens("bob"), IsOk());
  server.auth().Forget();
  EXPECT_THAT(server.auth().AuthenticateToken(bob.token),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthenticatorTest, ARevokedTokenIsRejectedOverGrpc) {
  api::AuthenticatorOptions options;
  options.cache_ttl = absl::ZeroDuration();
  ApiTestServer server(options);
  testing::TestUser ann = server.AddUser("ann");
  backtest::v1::ListPresetsResponse response;
  EXPECT_TRUE(server.presets().ListPresets(ApiTestServer::Context(ann.token).get(), {}, &response)
                  .ok());
  ASSERT_THAT(server.users().RevokeToken(ann.token), IsOk());
  EXPECT_EQ(server.presets()
                .ListPresets(ApiTestServer::Context(ann.token).get(), {}, &response)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace backtest
