// The backtestd maintenance subcommands: user add / revoke / list, and seed-sample with a fake
// job runner standing in for the job service.
#include "server/cli/user_command.h"

#include <sstream>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/trace_store.h"
#include "db/user_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::cli {
namespace {

using ::backtest::testing::IsOk;
using ::testing::HasSubstr;

// The token printed on the "token (shown once, keep it): …" line.
std::string PrintedToken(const std::string& out) {
  const std::string marker = "token (shown once, keep it): ";
  size_t at = out.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return out.substr(at, out.find('\n', at) - at);
}

class UserCommandTest : public ::testing::Test {
 protected:
  std::string db_path() const { return dir_.File("var/backtest.db"); }
  absl::StatusOr<db::UserRecord> Check(const std::string& token) {
    auto db = db::Database::Open(db_path());
    if (!db.ok()) return db.status();
    auto users = db::UserStore::Create(db->get());
    if (!users.ok()) return users.status();
    return (*users)->Authenticate(token);
  }

  testing::TempDir dir_;
  std::ostringstream out_, err_;
};

TEST_F(UserCommandTest, AddPrintsAWorkingTokenOnce) {
  ASSERT_EQ(RunUserAdd({db_path(), "ann", /*staff=*/true}, out_, err_), 0) << err_.str();
  std::string token = PrintedToken(out_.str());
  EXPECT_TRUE(db::LooksLikeToken(token)) << out_.str();
  auto user = Check(token);
  ASSERT_THAT(user, IsOk());
  EXPECT_EQ(user->name, "ann");
  EXPECT_TRUE(user->is_staff);
  EXPECT_THAT(out_.str(), HasSubstr("created staff user ann"));

  std::ostringstream out2;
  EXPECT_EQ(RunUserAdd({db_path(), "ann", false}, out2, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("already exists"));
  EXPECT_EQ(RunUserAdd({db_path(), "bad name", false}, out2, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("name:"));

  std::ostringstream list;
  EXPECT_EQ(RunUserList(db_path(), list, err_), 0);
  EXPECT_EQ(list.str(), "ann (staff)\n");
}

TEST_F(UserCommandTest, LimitsSetsWhatIsGivenShowsAllAndNamesBadValues) {
  ASSERT_EQ(RunUserAdd({db_path(), "ann", false}, out_, err_), 0);
  std::ostringstream out;
  ASSERT_EQ(RunUserLimits({db_path(), "ann", "", ""}, out, err_), 0) << err_.str();
  EXPECT_EQ(out.str(), "ann: max_active_jobs=default submissions_per_minute=default\n");
  out.str("");
  ASSERT_EQ(RunUserLimits({db_path(), "ann", "4", "0"}, out, err_), 0) << err_.str();
  EXPECT_EQ(out.str(), "ann: max_active_jobs=4 submissions_per_minute=0\n");
  out.str("");
  ASSERT_EQ(RunUserLimits({db_path(), "ann", "", "default"}, out, err_), 0) << err_.str();
  EXPECT_EQ(out.str(), "ann: max_active_jobs=4 submissions_per_minute=default\n");
  std::ostringstream list;
  EXPECT_EQ(RunUserList(db_path(), list, err_), 0);
  EXPECT_EQ(list.str(), "ann max_active_jobs=4 submissions_per_minute=default\n");

  for (const char* bad : {"-1", "x", "1.5", "99999999999"}) {
    std::ostringstream err;
    EXPECT_EQ(RunUserLimits({db_path(), "ann", bad, ""}, out, err), 1) << bad;
    EXPECT_THAT(err.str(), HasSubstr("--max-active-jobs: expected a number >= 0")) << bad;
  }
  std::ostringstream err;
  EXPECT_EQ(RunUserLimits({db_path(), "nobody", "1", ""}, out, err), 1);
  EXPECT_THAT(err.str(), HasSubstr("no user \"nobody\""));
  auto user = Check(PrintedToken(out_.str()));
  ASSERT_THAT(user, IsOk());
  EXPECT_EQ(user->limits.max_active_jobs, 4);  // the refused calls changed nothing
}

TEST_F(UserCommandTest, RevokeByTokenOrByUser) {
  ASSERT_EQ(RunUserAdd({db_path(), "ann", false}, out_, err_), 0);
  std::string first = PrintedToken(out_.str());
  std::ostringstream again;
  ASSERT_EQ(RunUserAdd({db_path(), "bob", false}, again, err_), 0);
  std::string bobs = PrintedToken(again.str());

  std::ostringstream out;
  EXPECT_EQ(RunUserRevoke({.db_path = db_path(), .token = first}, out, err_), 0);
  EXPECT_EQ(out.str(), "revoked 1 token\n");
  EXPECT_FALSE(Check(first).ok());
  EXPECT_TRUE(Check(bobs).ok());
  EXPECT_EQ(RunUserRevoke({.db_path = db_path(), .token = first}, out, err_), 1);

  std::ostringstream by_user;
  EXPECT_EQ(RunUserRevoke({.db_path = db_path(), .user = "bob"}, by_user, err_), 0);
  EXPECT_EQ(by_user.str(), "revoked 1 token of bob\n");
  EXPECT_FALSE(Check(bobs).ok());
  EXPECT_EQ(RunUserRevoke({.db_path = db_path()}, by_user, err_), 1);
  EXPECT_EQ(RunUserRevoke({.db_path = db_path(), .user = "nobody"}, by_user, err_), 1);
}

TEST_F(UserCommandTest, SeedSampleCreatesTheUserRunsATracedJobAndPrintsHowToQueryIt) {
  SeedJobRequest seen;
  std::string job_id(32, 'c');
  // Stands in for the job service: stores a finished job with two traced bars.
  SeedJobRunner runner = [&](const SeedJobRequest& request) -> absl::StatusOr<std::string> {
    seen = request;
    auto db = db::Database::Open(db_path());
    if (!db.ok()) return db.status();
    SQLite::Statement insert((*db)->connection(),
                             "INSERT INTO jobs(id, owner_id, status, params_json, created_ms, "
                             "bars_total) VALUES(?1, ?2, 'finished', '{}', 1, 1440)");
    insert.bind(1, job_id);
    insert.bind(2, static_cast<int64_t>(request.owner_id));
    insert.exec();
    auto traces = db::TraceStore::Create(db->get());
    std::vector<db::TraceRowRecord> rows = {
        {1, 5, 1704153900, "EURUSD", "indicators", "value", R"({"close":1.1})"},
        {2, 5, 1704153900, "EURUSD", "position", "value",
         R"({"verdict":"no entry: close inside the zone","code":"no_breakout"})"}};
    absl::Status s = (*traces)->AppendRows(job_id, rows);
    if (!s.ok()) return s;
    return job_id;
  };
  SeedSampleOptions options;
  options.db_path = db_path();
  ASSERT_EQ(RunSeedSample(options, runner, out_, err_), 0) << err_.str();
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("created user demo"));
  std::string token = PrintedToken(out);
  auto user = Check(token);
  ASSERT_THAT(user, IsOk());
  EXPECT_EQ(user->name, "demo");
  EXPECT_FALSE(user->is_staff);
  EXPECT_EQ(seen.owner_id, user->id);
  EXPECT_EQ(seen.params.at("symbols"), "EURUSD");
  EXPECT_EQ(seen.params.at("timeframe"), "M1");
  EXPECT_EQ(seen.params.at("trace_enabled"), "true");
  EXPECT_THAT(out, HasSubstr(absl::StrCat("job ", job_id, ": 2 trace rows")));
  EXPECT_THAT(out, HasSubstr("bar 5 of EURUSD: no entry: close inside the zone"));
  EXPECT_THAT(out, HasSubstr(absl::StrCat("/api/bots/backtest-runs/", job_id,
                                          "/explain?bar_index=5")));
  EXPECT_THAT(out, HasSubstr("backtest.v1.TraceService/Explain"));

  // Again: the user exists, a new token is issued.
  std::ostringstream out2;
  job_id = std::string(32, 'd');
  ASSERT_EQ(RunSeedSample(options, runner, out2, err_), 0) << err_.str();
  EXPECT_THAT(out2.str(), HasSubstr("user demo"));
  EXPECT_THAT(out2.str(), ::testing::Not(HasSubstr("created user")));
}

TEST_F(UserCommandTest, SeedSampleRejectsBadOptionsBeforeRunningAnything) {
  bool ran = false;
  SeedJobRunner runner = [&](const SeedJobRequest&) -> absl::StatusOr<std::string> {
    ran = true;
    return std::string(32, 'e');
  };
  SeedSampleOptions options;
  options.db_path = db_path();
  options.timeframe = "M7";
  EXPECT_EQ(RunSeedSample(options, runner, out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("timeframe"));
  options.timeframe = "M1";
  options.bar_index = -1;
  EXPECT_EQ(RunSeedSample(options, runner, out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("--bar-index"));
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace backtest::cli
