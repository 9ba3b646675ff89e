#include "server/engine/data/bar_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/data/csv_reader.h"
#include "server/engine/data/dataset_hash.h"
#include "server/engine/data/file_source.h"

namespace backtest::engine {
namespace {

namespace fs = std::filesystem;

std::string Csv(int rows, double base) {
  std::string text = "time,open,high,low,close,volume\n";
  for (int i = 0; i < rows; ++i) {
    const double o = base + i * 0.25;
    text += std::to_string(1600000000 + 3600 * i) + "," + std::to_string(o) + "," +
            std::to_string(o + 1) + "," + std::to_string(o - 1) + "," + std::to_string(o + 0.5) +
            "," + std::to_string(10 + i) + "\n";
  }
  return text;
}

void Write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

size_t Entries(const fs::path& dir) {
  if (!fs::exists(dir)) return 0;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".bars";
  return n;
}

void ExpectSameBars(const BarSeries& a, const BarSeries& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.time[i], b.time[i]);
    EXPECT_EQ(a.open[i], b.open[i]);
    EXPECT_EQ(a.high[i], b.high[i]);
    EXPECT_EQ(a.low[i], b.low[i]);
    EXPECT_EQ(a.close[i], b.close[i]);
    EXPECT_EQ(a.volume[i], b.volume[i]);
  }
}

// What a run does: look the file up, parse it when not found, store it.
struct Read {
  BarSeries bars;
  bool hit = false;
};
Read ReadThrough(const BarCache& cache, const fs::path& csv) {
  const int fd = ::open(csv.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  BarCache::Lookup found = cache.Find(fd);
  Read out;
  if (found.bars) {
    out.bars = *std::move(found.bars);
    out.hit = true;
  } else {
    auto parsed = ReadCsvFile(csv.string());
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) {
      cache.Store(fd, found, *parsed);
      out.bars = *std::move(parsed);
    }
  }
  ::close(fd);
  return out;
}

class BarCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("bar_cache_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "data");
    cache_dir_ = root_ / "cache";
  }
  void TearDown() override { fs::remove_all(root_); }

  // Files older than the cache's two seconds of settling, written once for the whole suite.
  static void SetUpTestSuite() {
    settled_ = fs::temp_directory_path() / ("bar_cache_settled_" + std::to_string(::getpid()));
    fs::create_directories(settled_);
    for (int i = 0; i < 4; ++i) {
      Write(settled_ / ("S" + std::to_string(i) + ".csv"), Csv(500 + 100 * i, 1.0 + i));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  }
  static void TearDownTestSuite() { fs::remove_all(settled_); }

  // A settled file copied under root_ keeps no settling (a copy is a new file): these are the
  // suite's files themselves, each test using its own.
  static fs::path Settled(int i) { return settled_ / ("S" + std::to_string(i) + ".csv"); }

  fs::path root_;
  fs::path cache_dir_;
  static fs::path settled_;
};

fs::path BarCacheTest::settled_;

TEST_F(BarCacheTest, AFileParsedOnceIsReadBackAsParsedWithItsDatasetHash) {
  BarCache cache(cache_dir_.string(), 64 << 20);
  const Read first = ReadThrough(cache, Settled(0));
  EXPECT_FALSE(first.hit);
  EXPECT_TRUE(first.bars.dataset_hash.empty());
  EXPECT_EQ(Entries(cache_dir_), 1u);
  const Read second = ReadThrough(cache, Settled(0));
  ASSERT_TRUE(second.hit);
  ExpectSameBars(second.bars, first.bars);
  EXPECT_EQ(second.bars.dataset_hash, DatasetHash(BarView::Of(first.bars, 0, first.bars.size())));
}

TEST_F(BarCacheTest, AFileChangedInTheLastTwoSecondsIsNotStored) {
  BarCache cache(cache_dir_.string(), 64 << 20);
  const fs::path csv = root_ / "data" / "FRESH.csv";
  Write(csv, Csv(300, 5.0));
  EXPECT_FALSE(ReadThrough(cache, csv).hit);
  EXPECT_FALSE(ReadThrough(cache, csv).hit);
  EXPECT_EQ(Entries(cache_dir_), 0u);
}

TEST_F(BarCacheTest, AnyWriteToTheFileOrAReplacedFileIsParsedAgain) {
  BarCache cache(cache_dir_.string(), 64 << 20);
  const fs::path csv = Settled(3);  // this test's own: it changes the file
  const Read stored = ReadThrough(cache, csv);
  ASSERT_TRUE(ReadThrough(cache, csv).hit);
  // The same size, another first open (4 -> 3, still within its bar), written in place: only
  // its change time tells.
  const std::string text = Csv(800, 4.0);
  std::string other = text;
  const size_t first_open = text.find('\n') + 1 + std::string("1600000000,").size();
  ASSERT_EQ(other[first_open], '4');
  other[first_open] = '3';
  {
    std::fstream out(csv, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(0);
    out << other;
  }
  const Read after_write = ReadThrough(cache, csv);
  EXPECT_FALSE(after_write.hit);
  EXPECT_NE(after_write.bars.open[0], stored.bars.open[0]);
  // Replaced by rename (another inode), even with the very same content.
  const fs::path replacement = root_ / "data" / "NEW.csv";
  Write(replacement, text);
  fs::rename(replacement, csv);
  const Read after_rename = ReadThrough(cache, csv);
  EXPECT_FALSE(after_rename.hit);
  ExpectSameBars(after_rename.bars, stored.bars);
}

TEST_F(BarCacheTest, ADamagedOrShortEntryIsParsedAgain) {
  BarCache cache(cache_dir_.string(), 64 << 20);
  const fs::path csv = Settled(2);
  const Read stored = ReadThrough(cache, csv);
  ASSERT_EQ(Entries(cache_dir_), 1u);
  const fs::path entry = fs::directory_iterator(cache_dir_)->path();
  {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 100);  // a byte of the first column (the header takes the first 4 KiB)
    f.put('\x7f');
  }
  const Read damaged = ReadThrough(cache, csv);
  EXPECT_FALSE(damaged.hit);
  ExpectSameBars(damaged.bars, stored.bars);
  ASSERT_TRUE(ReadThrough(cache, csv).hit);  // stored again by the read above
  fs::resize_file(entry, fs::file_size(entry) - 8);
  EXPECT_FALSE(ReadThrough(cache, csv).hit);
}

TEST_F(BarCacheTest, PastItsSizeTheLeastRecentlyUsedEntriesGo) {
  // Room for two entries of these sizes (28 KB for S0, 52 KB for S1 and S2), not three.
  BarCache cache(cache_dir_.string(), 90 << 10);
  ReadThrough(cache, Settled(0));
  ReadThrough(cache, Settled(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(ReadThrough(cache, Settled(0)).hit);  // used again: now the newest
  ReadThrough(cache, Settled(2));                    // the third: the oldest (S1) goes
  EXPECT_EQ(Entries(cache_dir_), 2u);
  EXPECT_TRUE(ReadThrough(cache, Settled(0)).hit);
  EXPECT_TRUE(ReadThrough(cache, Settled(2)).hit);
  EXPECT_FALSE(ReadThrough(cache, Settled(1)).hit);
}

TEST_F(BarCacheTest, OffStoresNothing) {
  BarCache cache(cache_dir_.string(), 0);
  EXPECT_FALSE(ReadThrough(cache, Settled(0)).hit);
  EXPECT_FALSE(ReadThrough(cache, Settled(0)).hit);
  EXPECT_FALSE(fs::exists(cache_dir_));
}

TEST_F(BarCacheTest, NotesAreKeptByTheirKeyAndRefusedWithAnyOther) {
  BarCache cache(cache_dir_.string(), 64 << 20);
  const std::string key(64, 'a');
  EXPECT_FALSE(cache.FindNote(key));
  cache.StoreNote(key, "state bytes");
  EXPECT_EQ(cache.FindNote(key).value_or(""), "state bytes");
  cache.StoreNote(key, "newer");
  EXPECT_EQ(cache.FindNote(key).value_or(""), "newer");
  // Only 64 lower-case hex digits name a note (nothing outside the directory).
  cache.StoreNote("../escape", "x");
  cache.StoreNote(std::string(64, 'A'), "x");
  EXPECT_FALSE(cache.FindNote("../escape"));
  EXPECT_FALSE(fs::exists(root_ / "escape.note"));
  EXPECT_FALSE(BarCache(cache_dir_.string(), 0).FindNote(key));  // off
}

TEST_F(BarCacheTest, AFileSourceReadsThroughItUnderTheDataPolicy) {
  BarCache cache(cache_dir_.string(), 64 << 20);
  DataPolicy policy;
  policy.enforced = true;
  policy.file_roots = {settled_.string()};
  FileSource source(settled_.string(), policy, &cache);
  FetchRequest req{"S0", Timeframe::kH1, 0, 2000000000, false};
  auto parsed = source.Fetch(req);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->dataset_hash.empty());
  auto cached = source.Fetch(req);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_FALSE(cached->dataset_hash.empty());
  ExpectSameBars(*cached, *parsed);
  // The policy still decides: another root refuses the file, cached or not.
  DataPolicy elsewhere = policy;
  elsewhere.file_roots = {root_.string()};
  FileSource refused(settled_.string(), elsewhere, &cache);
  EXPECT_EQ(refused.Fetch(req).status().code(), absl::StatusCode::kPermissionDenied);
}

// An idle runner readies its next job's data ahead (Prefetch): the entry, found and checked then,
// is taken by the next Find of that very file, by another BarCache of the process, even once the
// entry itself is gone; once only, and by no other file. Prefetch says how many bars it readied.
TEST_F(BarCacheTest, APrefetchedEntryIsTakenOnceByTheNextFindOfThatFile) {
  DataPolicy policy;
  policy.enforced = true;
  policy.file_roots = {settled_.string()};
  const FetchRequest req{"S1", Timeframe::kH1, 0, 2000000000, false};
  BarCache first(cache_dir_.string(), 64 << 20);
  auto parsed = FileSource(settled_.string(), policy, &first).Fetch(req);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const FetchRequest unparsed{"S2", Timeframe::kH1, 0, 2000000000, false};
  EXPECT_EQ(FileSource(settled_.string(), policy, &first).Prefetch(unparsed), 0);  // no entry
  EXPECT_EQ(FileSource(settled_.string(), policy, &first).Prefetch(req),
            static_cast<int64_t>(parsed->size()));
  fs::remove_all(cache_dir_);  // from now on only the prefetched entry can hit

  BarCache next(cache_dir_.string(), 64 << 20);
  EXPECT_FALSE(ReadThrough(next, Settled(2)).hit);  // another file: not the prefetched one
  FileSource source(settled_.string(), policy, &next);
  auto taken = source.Fetch(req);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_FALSE(taken->dataset_hash.empty());  // read back from the entry, not parsed
  ExpectSameBars(*taken, *parsed);
  auto again = source.Fetch(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->dataset_hash.empty());  // parsed: the prefetched entry went to the first
}

}  // namespace
}  // namespace backtest::engine
