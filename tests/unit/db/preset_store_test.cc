#include "db/preset_store.h"

#include "SQLiteCpp/Database.h"
#include "db/database.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_fixture.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

class PresetStoreTest : public testing::StoreFixture<PresetStore> {
 protected:
  void SetUp() override {
    OpenSeeded(
        "INSERT INTO users(id, name, is_staff, created_ms) VALUES(1, 'ann', 0, 1), "
        "(2, 'bob', 0, 1)");
  }
};

TEST(PresetValuesTest, EncodingIsCanonicalAndRoundTrips) {
  std::map<std::string, std::string> values = {{"rr", "2.5"}, {"ema_length", "40"},
                                               {"symbols", "EURUSD,\"X\""}};
  std::string json = EncodePresetValues(values);
  EXPECT_EQ(json, R"({"ema_length":"40","rr":"2.5","symbols":"EURUSD,\"X\""})");
  auto back = DecodePresetValues(json);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, values);
  EXPECT_EQ(EncodePresetValues({}), "{}");
  EXPECT_THAT(DecodePresetValues("[1]"), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(DecodePresetValues(R"({"rr": 2})"), StatusIs(absl::StatusCode::kInternal));
}

TEST_F(PresetStoreTest, UpsertCreatesThenReplaces) {
  auto created = store_->Upsert(1, "fast", {{"rr", "3"}, {"ema_length", "20"}});
  ASSERT_THAT(created, IsOk());
  EXPECT_TRUE(*created);
  auto got = store_->Get(1, "fast");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->name, "fast");
  EXPECT_THAT(got->values, ElementsAre(Pair("ema_length", "20"), Pair("rr", "3")));
  EXPECT_GT(got->updated_ms, 0);

  auto replaced = store_->Upsert(1, "fast", {{"rr", "1.5"}});
  ASSERT_THAT(replaced, IsOk());
  EXPECT_FALSE(*replaced);
  got = store_->Get(1, "fast");
  ASSERT_THAT(got, IsOk());
  EXPECT_THAT(got->values, ElementsAre(Pair("rr", "1.5")));
  EXPECT_EQ(db_->connection().execAndGet("SELECT values_json FROM presets").getString(),
            R"({"rr":"1.5"})");
}

TEST_F(PresetStoreTest, PresetsArePerOwner) {
  ASSERT_THAT(store_->Upsert(1, "b name", {}), IsOk());
  ASSERT_THAT(store_->Upsert(1, "a.name", {{"rr", "2"}}), IsOk());
  ASSERT_THAT(store_->Upsert(2, "mine", {}), IsOk());

  EXPECT_THAT(*store_->ListNames(1), ElementsAre("a.name", "b name"));
  EXPECT_THAT(*store_->ListNames(2), ElementsAre("mine"));
  EXPECT_THAT(*store_->ListNames(3), IsEmpty());
  EXPECT_THAT(store_->Get(2, "a.name"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Delete(2, "a.name"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get(1, "a.name"), IsOk());
  // Same name, two owners: two presets.
  auto created = store_->Upsert(2, "a.name", {{"rr", "9"}});
  ASSERT_THAT(created, IsOk());
  EXPECT_TRUE(*created);
  EXPECT_EQ(store_->Get(1, "a.name")->values.at("rr"), "2");
}

TEST_F(PresetStoreTest, DeleteRemovesOnlyThatPreset) {
  ASSERT_THAT(store_->Upsert(1, "x", {}), IsOk());
  ASSERT_THAT(store_->Upsert(1, "y", {}), IsOk());
  EXPECT_THAT(store_->Delete(1, "x"), IsOk());
  EXPECT_THAT(store_->Get(1, "x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Delete(1, "x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(*store_->ListNames(1), ElementsAre("y"));
}

TEST_F(PresetStoreTest, NamesAreBoundNotSpliced) {
  const std::string evil = "x'); DROP TABLE presets; --";
  ASSERT_THAT(store_->Upsert(1, evil, {{"rr", "2"}}), IsOk());
  EXPECT_THAT(store_->Get(1, evil), IsOk());
  EXPECT_TRUE(db_->connection().tableExists("presets"));
}

TEST_F(PresetStoreTest, UnknownOwnerIsAFailedPrecondition) {
  EXPECT_THAT(store_->Upsert(42, "x", {}), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace backtest::db
