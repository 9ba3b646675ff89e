#include "server/engine/util/mapped_file.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/data/csv_reader.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::engine {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;

void Write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

TEST(MappedFileTest, MapsTheWholeFile) {
  testing::TempDir dir;
  std::string content;
  for (int i = 0; i < 5000; ++i) content += std::to_string(i) + ",";
  Write(dir.File("a.csv"), content);
  auto file = MappedFile::Open(dir.File("a.csv"));
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->text(), content);
  EXPECT_FALSE(file->Changed());
  MappedFile moved(*std::move(file));
  EXPECT_EQ(moved.text(), content);

  Write(dir.File("empty.csv"), "");
  auto empty = MappedFile::Open(dir.File("empty.csv"));
  ASSERT_THAT(empty, IsOk());
  EXPECT_TRUE(empty->text().empty());
  EXPECT_FALSE(empty->Changed());
}

TEST(MappedFileTest, MissingFilesAndDirectoriesAreNamed) {
  testing::TempDir dir;
  EXPECT_THAT(MappedFile::Open(dir.File("nope.csv")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope.csv: no such file")));
  std::filesystem::create_directory(dir.File("d.csv"));
  EXPECT_THAT(MappedFile::Open(dir.File("d.csv")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a regular file")));
}

// Another process truncating the file while it is mapped: reading past its new end gives NULs
// instead of killing the process, and Changed() says so.
TEST(MappedFileTest, AFileThatShrinksUnderTheMappingReadsAsZerosAndIsReported) {
  testing::TempDir dir;
  const std::string path = dir.File("shrinks.csv");
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  Write(path, std::string(3 * page + 100, 'x'));
  auto file = MappedFile::Open(path);
  ASSERT_THAT(file, IsOk());
  ASSERT_EQ(file->text().size(), 3 * page + 100);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(page)), 0);
  size_t x = 0, nul = 0;
  for (char c : file->text()) {
    x += c == 'x';
    nul += c == '\0';
  }
  EXPECT_EQ(x, page);
  EXPECT_EQ(nul, 2 * page + 100);
  EXPECT_TRUE(file->Changed());
  // The guard went with the mapping: a new one of the same file is untouched.
  auto again = MappedFile::Open(path);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->text(), std::string(page, 'x'));
  EXPECT_FALSE(again->Changed());
}

// A SIGBUS that is not on a guarded mapping still ends the process, as it would have.
TEST(MappedFileDeathTest, OtherBusErrorsStillEndTheProcess) {
  testing::TempDir dir;
  const std::string path = dir.File("raw.bin");
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  Write(path, std::string(2 * page, 'y'));
  ASSERT_THAT(MappedFile::Open(path), IsOk());  // the handler is installed
  EXPECT_EXIT(
      {
        FILE* f = std::fopen(path.c_str(), "r");
        void* raw = ::mmap(nullptr, 2 * page, PROT_READ, MAP_PRIVATE, fileno(f), 0);
        if (::truncate(path.c_str(), 0) != 0) std::_Exit(3);
        volatile char c = static_cast<const char*>(raw)[page];
        (void)c;
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

TEST(MappedFileTest, ReadCsvFileParsesTheMappedText) {
  testing::TempDir dir;
  Write(dir.File("bars.csv"), "time,open,high,low,close\n60,1,2,0.5,1.5\n120,1.5,2,1,1\n");
  auto bars = ReadCsvFile(dir.File("bars.csv"));
  ASSERT_THAT(bars, IsOk());
  ASSERT_EQ(bars->size(), 2u);
  EXPECT_EQ(bars->close[1], 1.0);
}

}  // namespace
}  // namespace backtest::engine
