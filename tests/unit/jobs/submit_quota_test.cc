// Per-user submission limits: the concurrency limit, the token bucket's burst and refill, users
// apart, and the retry delay each refusal carries.
#include "server/jobs/submit_quota.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/retry_delay.h"
#include "tests/testing/status_matchers.h"

namespace backtest::jobs {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

class SubmitQuotaTest : public ::testing::Test {
 protected:
  SubmitQuota Quota(QuotaOptions options) {
    return SubmitQuota(options, [this] { return now_ms_; });
  }
  int64_t now_ms_ = 1000000;
};

TEST_F(SubmitQuotaTest, NoLimitsAdmitEverything) {
  SubmitQuota quota = Quota({});
  EXPECT_FALSE(quota.options().enabled());
  for (int i = 0; i < 1000; ++i) ASSERT_THAT(quota.Admit(1, 500), IsOk());
}

TEST_F(SubmitQuotaTest, AUserAtTheConcurrencyLimitIsRefusedWithARetryDelay) {
  SubmitQuota quota = Quota({.max_active_jobs_per_user = 3});
  EXPECT_THAT(quota.Admit(1, 2), IsOk());
  absl::Status refused = quota.Admit(1, 3);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                HasSubstr("3 jobs queued or running, the most allowed per user (3)")));
  EXPECT_THAT(RetryDelayMs(refused), Optional(1000));
}

TEST_F(SubmitQuotaTest, ABurstOfAMinutesWorthThenOneEveryInterval) {
  SubmitQuota quota = Quota({.submissions_per_minute = 6});  // a token every 10 s
  for (int i = 0; i < 6; ++i) ASSERT_THAT(quota.Admit(1, 0), IsOk()) << i;
  absl::Status refused = quota.Admit(1, 0);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                HasSubstr("at most 6 per minute per user; retry in 10 s")));
  EXPECT_THAT(RetryDelayMs(refused), Optional(10000));
  now_ms_ += 4000;
  EXPECT_THAT(RetryDelayMs(quota.Admit(1, 0)), Optional(6000));  // a refusal takes no token
  now_ms_ += 6000;
  EXPECT_THAT(quota.Admit(1, 0), IsOk());
  EXPECT_THAT(quota.Admit(1, 0), StatusIs(absl::StatusCode::kResourceExhausted));
  // A long pause refills the bucket to a minute's worth, not more.
  now_ms_ += 3600 * 1000;
  for (int i = 0; i < 6; ++i) ASSERT_THAT(quota.Admit(1, 0), IsOk()) << i;
  EXPECT_THAT(quota.Admit(1, 0), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST_F(SubmitQuotaTest, AUsersOwnLimitsReplaceTheServersOneByOne) {
  const QuotaOptions server{.max_active_jobs_per_user = 2, .submissions_per_minute = 10};
  const QuotaOptions none = server.For({});
  EXPECT_EQ(none.max_active_jobs_per_user, 2);
  EXPECT_EQ(none.submissions_per_minute, 10);
  const QuotaOptions own = server.For({.max_active_jobs = 0});
  EXPECT_EQ(own.max_active_jobs_per_user, 0);  // no limit for this user
  EXPECT_EQ(own.submissions_per_minute, 10);
  EXPECT_TRUE(QuotaOptions{}.For({.submissions_per_minute = 1}).enabled());

  SubmitQuota quota = Quota(server);
  EXPECT_THAT(quota.Admit(1, 50, own), IsOk());
  EXPECT_THAT(quota.Admit(1, 2), StatusIs(absl::StatusCode::kResourceExhausted));
  const QuotaOptions one_a_minute = server.For({.submissions_per_minute = 1});
  EXPECT_THAT(quota.Admit(2, 0, one_a_minute), IsOk());
  EXPECT_THAT(quota.Admit(2, 0, one_a_minute),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("at most 1 per minute")));
}

TEST_F(SubmitQuotaTest, UsersHaveBucketsOfTheirOwn) {
  SubmitQuota quota = Quota({.submissions_per_minute = 1});
  EXPECT_THAT(quota.Admit(1, 0), IsOk());
  EXPECT_THAT(quota.Admit(1, 0), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(quota.Admit(2, 0), IsOk());
}

TEST(RetryDelayTest, RoundTripsAndIsAbsentFromOtherStatuses) {
  EXPECT_THAT(RetryDelayMs(WithRetryDelay(absl::ResourceExhaustedError("x"), 2500)),
              Optional(2500));
  EXPECT_THAT(RetryDelayMs(WithRetryDelay(absl::ResourceExhaustedError("x"), 0)), Optional(1));
  EXPECT_EQ(RetryDelayMs(absl::ResourceExhaustedError("x")), std::nullopt);
}

}  // namespace
}  // namespace backtest::jobs
