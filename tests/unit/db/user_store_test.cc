#include "db/user_store.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "db/database.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class UserStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.File("b.db"));
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    auto store = UserStore::Create(db_.get());
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<UserStore> store_;
};

TEST(HashTokenTest, IsHexSha256) {
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(LooksLikeTokenTest, ChecksPrefixLengthAndAlphabet) {
  EXPECT_TRUE(LooksLikeToken("bt_" + std::string(43, 'a')));
  EXPECT_TRUE(LooksLikeToken("bt_" + std::string(41, 'Z') + "-_"));
  EXPECT_FALSE(LooksLikeToken(std::string(46, 'a')));
  EXPECT_FALSE(LooksLikeToken("bt_" + std::string(42, 'a')));
  EXPECT_FALSE(LooksLikeToken("bt_" + std::string(42, 'a') + "="));
  EXPECT_FALSE(LooksLikeToken(""));
}

TEST_F(UserStoreTest, CreatesUsersAndRejectsBadOrDuplicateNames) {
  auto ann = store_->CreateUser("ann.lee_1-x", /*is_staff=*/false);
  ASSERT_THAT(ann, IsOk());
  EXPECT_GT(ann->id, 0);
  EXPECT_EQ(ann->name, "ann.lee_1-x");
  EXPECT_FALSE(ann->is_staff);
  auto boss = store_->CreateUser("boss", /*is_staff=*/true);
  ASSERT_THAT(boss, IsOk());
  EXPECT_TRUE(boss->is_staff);

  EXPECT_THAT(store_->CreateUser("ann.lee_1-x", true),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already exists")));
  for (std::string bad : {std::string(), std::string(65, 'a'), std::string("a b"),
                          std::string("a/b"), std::string("a'b"), std::string("é")}) {
    EXPECT_THAT(store_->CreateUser(bad, false),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name:")))
        << bad;
  }
  EXPECT_THAT(store_->CreateUser(std::string(64, 'a'), false), IsOk());

  auto found = store_->FindUser("boss");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->id, boss->id);
  EXPECT_THAT(store_->FindUser("nobody"), StatusIs(absl::StatusCode::kNotFound));
  auto all = store_->ListUsers();
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->size(), 3u);
}

TEST_F(UserStoreTest, LimitsOfTheirOwnAreSetReadAndClearedPerUser) {
  auto ann = store_->CreateUser("ann", false);
  ASSERT_THAT(ann, IsOk());
  ASSERT_THAT(store_->CreateUser("bob", false), IsOk());
  EXPECT_FALSE(ann->limits.max_active_jobs.has_value());
  EXPECT_FALSE(ann->limits.submissions_per_minute.has_value());

  auto set = store_->SetLimits("ann", {.max_active_jobs = 3, .submissions_per_minute = 0});
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(set->limits.max_active_jobs, 3);
  EXPECT_EQ(set->limits.submissions_per_minute, 0);
  auto token = store_->IssueToken(ann->id, "t");
  ASSERT_THAT(token, IsOk());
  auto by_token = store_->Authenticate(token->token);
  ASSERT_THAT(by_token, IsOk());
  EXPECT_EQ(by_token->limits.max_active_jobs, 3);
  auto all = store_->ListUsers();
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].limits.submissions_per_minute, 0);
  EXPECT_FALSE((*all)[1].limits.max_active_jobs.has_value());  // bob's untouched

  auto cleared = store_->SetLimits("ann", {.max_active_jobs = 3});
  ASSERT_THAT(cleared, IsOk());
  EXPECT_FALSE(cleared->limits.submissions_per_minute.has_value());
  EXPECT_EQ(store_->FindUser("ann")->limits.max_active_jobs, 3);

  EXPECT_THAT(store_->SetLimits("nobody", {}), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->SetLimits("ann", {.submissions_per_minute = -1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("submissions_per_minute")));
  EXPECT_EQ(store_->FindUser("ann")->limits.max_active_jobs, 3);  // the refused call changed none
}

TEST_F(UserStoreTest, IssuedTokensAuthenticateAndOnlyTheirHashIsStored) {
  auto ann = store_->CreateUser("ann", false);
  ASSERT_THAT(ann, IsOk());
  auto token = store_->IssueToken(ann->id, "laptop");
  ASSERT_THAT(token, IsOk());
  EXPECT_TRUE(LooksLikeToken(token->token)) << token->token;
  auto again = store_->IssueToken(ann->id, "ci");
  ASSERT_THAT(again, IsOk());
  EXPECT_NE(token->token, again->token);

  auto who = store_->Authenticate(token->token);
  ASSERT_THAT(who, IsOk());
  EXPECT_EQ(who->id, ann->id);
  EXPECT_EQ(who->name, "ann");

  SQLite::Statement rows(db_->connection(), "SELECT token_hash, label FROM tokens ORDER BY id");
  ASSERT_TRUE(rows.executeStep());
  EXPECT_EQ(rows.getColumn(0).getString(), HashToken(token->token));
  EXPECT_EQ(rows.getColumn(1).getString(), "laptop");
  rows.reset();
  EXPECT_EQ(db_->connection()
                .execAndGet("SELECT count(*) FROM tokens WHERE token_hash LIKE '%bt_%'")
                .getInt(),
            0);

  EXPECT_THAT(store_->Authenticate("bt_" + std::string(43, 'x')),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(store_->Authenticate(""), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(store_->IssueToken(9999, "x"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(UserStoreTest, RevokedTokensNoLongerAuthenticate) {
  auto ann = store_->CreateUser("ann", false);
  ASSERT_THAT(ann, IsOk());
  auto t1 = store_->IssueToken(ann->id, "");
  auto t2 = store_->IssueToken(ann->id, "");
  auto t3 = store_->IssueToken(ann->id, "");
  ASSERT_THAT(t1, IsOk());
  ASSERT_THAT(t2, IsOk());
  ASSERT_THAT(t3, IsOk());

  EXPECT_THAT(store_->RevokeToken(t1->token), IsOk());
  EXPECT_THAT(store_->Authenticate(t1->token), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(store_->Authenticate(t2->token), IsOk());
  EXPECT_THAT(store_->RevokeToken(t1->token), StatusIs(absl::StatusCode::kNotFound));

  auto revoked = store_->RevokeUserTokens("ann");
  ASSERT_THAT(revoked, IsOk());
  EXPECT_EQ(*revoked, 2);
  EXPECT_THAT(store_->Authenticate(t2->token), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(store_->Authenticate(t3->token), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(store_->RevokeUserTokens("nobody"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(UserStoreTest, BootstrapCreatesAStaffAdminAndA0600TokenFileOnce) {
  std::string file = dir_.File("admin.token");
  auto created = store_->EnsureBootstrapAdmin(file);
  ASSERT_THAT(created, IsOk());
  EXPECT_TRUE(*created);

  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  std::string contents = ReadFile(file);
  ASSERT_FALSE(contents.empty());
  EXPECT_EQ(contents.back(), '\n');
  std::string token = contents.substr(0, contents.size() - 1);
  auto admin = store_->Authenticate(token);
  ASSERT_THAT(admin, IsOk());
  EXPECT_EQ(admin->name, "admin");
  EXPECT_TRUE(admin->is_staff);

  // Second start: users exist and the file exists: both are left alone.
  auto again = store_->EnsureBootstrapAdmin(file);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(*again);
  EXPECT_EQ(ReadFile(file), contents);
  EXPECT_EQ(store_->ListUsers()->size(), 1u);
  // No temporary file is left beside it.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 4);  // b.db, b.db-wal, b.db-shm, admin.token
}

TEST_F(UserStoreTest, BootstrapDoesNothingWhenUsersExist) {
  ASSERT_THAT(store_->CreateUser("ann", false), IsOk());
  std::string file = dir_.File("admin.token");
  auto created = store_->EnsureBootstrapAdmin(file);
  ASSERT_THAT(created, IsOk());
  EXPECT_FALSE(*created);
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(UserStoreTest, BootstrapThatCannotWriteItsFileCreatesNoUser) {
  auto created = store_->EnsureBootstrapAdmin(dir_.File("missing/dir/admin.token"));
  EXPECT_THAT(created, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("missing/dir")));
  EXPECT_TRUE(store_->ListUsers()->empty());
}

}  // namespace
}  // namespace backtest::db
