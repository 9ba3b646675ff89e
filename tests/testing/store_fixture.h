// A test fixture for one db store: a migrated database in a private temp dir, seeded with rows,
// and the store created on it.
#ifndef BACKTEST_TESTS_TESTING_STORE_FIXTURE_H_
#define BACKTEST_TESTS_TESTING_STORE_FIXTURE_H_

#include <memory>
#include <string>

#include "SQLiteCpp/Database.h"
#include "db/database.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::testing {

template <typename Store>
class StoreFixture : public ::testing::Test {
 protected:
  // Opens the database, runs `seed_sql`, creates the store. Call from SetUp (it asserts).
  void OpenSeeded(const std::string& seed_sql) {
    auto db = db::Database::Open(dir_.File("b.db"));
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    db_->connection().exec(seed_sql);
    auto store = Store::Create(db_.get());
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }

  TempDir dir_;
  std::unique_ptr<db::Database> db_;
  std::unique_ptr<Store> store_;
};

}  // namespace backtest::testing

#endif  // BACKTEST_TESTS_TESTING_STORE_FIXTURE_H_
