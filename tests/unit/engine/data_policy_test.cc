// The data access policy: file:// roots (symlink escapes, '..' after decoding, /proc and /dev,
// the same refusal for paths that exist and paths that do not) and http(s) addresses (literal
// hosts, DNS names, allowed networks, URL prefixes).
#include "server/engine/data/data_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_replace.h"
#include "server/engine/data/file_source.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::engine {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCsv[] = "time,open,high,low,close\n1600002000,1.1,1.2,1.0,1.15\n";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

FetchRequest Request(const std::string& symbol) {
  return {symbol, Timeframe::kH1, 1600000000, 1600010000, true};
}

// A data root with one good file, and a secret file beside the root (not in it).
class FileRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::canonical(tmp_.path()).string() + "/data";
    std::filesystem::create_directories(root_ + "/sub");
    WriteFile(root_ + "/EURUSD_H1.csv", kCsv);
    WriteFile(secret_ = std::filesystem::canonical(tmp_.path()).string() + "/secret.csv", kCsv);
    policy_.enforced = true;
    policy_.file_roots = {root_};
  }

  absl::StatusOr<BarSeries> Fetch(const std::string& dir, const std::string& symbol) {
    return FileSource(dir, policy_).Fetch(Request(symbol));
  }

  backtest::testing::TempDir tmp_;
  std::string root_;
  std::string secret_;
  DataPolicy policy_;
};

TEST_F(FileRootTest, ReadsInsideTheRootAndItsSubdirectories) {
  EXPECT_THAT(Fetch(root_, "EURUSD").status(), IsOk());
  WriteFile(root_ + "/sub/GBPUSD.csv", kCsv);
  EXPECT_THAT(Fetch(root_ + "/sub", "GBPUSD").status(), IsOk());
  // An absolute symlink that stays inside the root is followed.
  std::filesystem::create_symlink(root_ + "/EURUSD_H1.csv", root_ + "/sub/USDJPY_H1.csv");
  EXPECT_THAT(Fetch(root_ + "/sub", "USDJPY").status(), IsOk());
  // So is one that leaves the root by '..' and comes back into it.
  std::filesystem::create_symlink("../../data/EURUSD_H1.csv", root_ + "/sub/EURJPY_H1.csv");
  EXPECT_THAT(Fetch(root_ + "/sub", "EURJPY").status(), IsOk());
  EXPECT_THAT(Fetch(root_, "AUDUSD").status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(FileRootTest, CheckDataSourceRefusesDirectoriesOutsideEveryRoot) {
  EXPECT_THAT(CheckDataSource("file://" + root_, policy_), IsOk());
  EXPECT_THAT(CheckDataSource("file://" + root_ + "/sub/", policy_), IsOk());
  // The same answer whether the directory exists or not: nothing is looked up.
  const absl::Status existing = CheckDataSource("file:///etc", policy_);
  const absl::Status missing = CheckDataSource("file:///etc-that-is-not-there", policy_);
  EXPECT_THAT(existing, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("data_source")));
  EXPECT_EQ(missing.code(), existing.code());
  EXPECT_EQ(std::string(missing.message()),
            absl::StrReplaceAll(existing.message(), {{"/etc", "/etc-that-is-not-there"}}));
  // A root is not a prefix of its sibling's name.
  EXPECT_THAT(CheckDataSource("file://" + root_ + "2", policy_),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Not enforced: anything goes (the engine CLI).
  EXPECT_THAT(CheckDataSource("file:///etc", DataPolicy{}), IsOk());
}

TEST_F(FileRootTest, DotDotIsRefusedAlsoWhenPercentEncoded) {
  for (const std::string& url : {"file://" + root_ + "/../", "file://" + root_ + "/%2e%2e",
                                "file://" + root_ + "/%2E%2e/etc", "file://" + root_ + "/sub/.%2E"}) {
    EXPECT_THAT(FileUrlDir(url), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'..'")))
        << url;
    EXPECT_THAT(CheckDataSource(url, policy_), Not(IsOk())) << url;
  }
  EXPECT_THAT(FileUrlDir("file:///d/x%00y"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FileUrlDir("file:///d/%zz"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(*FileUrlDir("file:///d//my%20data/./x/"), "/d/my data/x");
  EXPECT_EQ(*FileUrlDir("file:///"), "/");
}

TEST_F(FileRootTest, SymlinksLeavingTheRootAreRefusedWhereTheFileIsOpened) {
  // Absolute and relative symlinks to a file outside, and a symlinked directory.
  std::filesystem::create_symlink(secret_, root_ + "/XAGUSD_H1.csv");
  std::filesystem::create_symlink("../secret.csv", root_ + "/XAUUSD_H1.csv");
  std::filesystem::create_directory_symlink(tmp_.path(), root_ + "/outside");
  // A symlink to a file outside that does not exist: the same refusal.
  std::filesystem::create_symlink(tmp_.path() / "missing.csv", root_ + "/GBPJPY_H1.csv");
  for (const auto& [dir, symbol] : std::vector<std::pair<std::string, std::string>>{
           {root_, "XAGUSD"}, {root_, "XAUUSD"}, {root_ + "/outside", "secret"}, {root_, "GBPJPY"}}) {
    auto bars = Fetch(dir, symbol);
    EXPECT_THAT(bars.status(), StatusIs(absl::StatusCode::kPermissionDenied,
                                        HasSubstr("outside the allowed data roots")))
        << dir << " " << symbol;
  }
}

TEST_F(FileRootTest, SystemFilesAndDevicesAreRefusedEvenUnderTheRootSlash) {
  DataPolicy wide = policy_;
  wide.file_roots = {"/"};
  std::filesystem::create_symlink("/proc/self/status", root_ + "/PROC_H1.csv");
  std::filesystem::create_symlink("/dev/zero", root_ + "/ZERO_H1.csv");
  ASSERT_EQ(mkfifo((root_ + "/FIFO_H1.csv").c_str(), 0600), 0);
  for (const std::string symbol : {"PROC", "ZERO", "FIFO"}) {
    auto bars = FileSource(root_, wide).Fetch(Request(symbol));
    EXPECT_THAT(bars.status(), StatusIs(absl::StatusCode::kPermissionDenied)) << symbol;
  }
  // With the root "/" a plain file anywhere is data.
  EXPECT_THAT(FileSource(root_, wide).Fetch(Request("EURUSD")).status(), IsOk());
}

sockaddr_storage Address(const std::string& text) {
  sockaddr_storage s{};
  if (inet_pton(AF_INET, text.c_str(), &reinterpret_cast<sockaddr_in*>(&s)->sin_addr) == 1) {
    s.ss_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &reinterpret_cast<sockaddr_in6*>(&s)->sin6_addr), 1)
        << text;
    s.ss_family = AF_INET6;
  }
  return s;
}

TEST(DataPolicyTest, OnlyPublicAddressesUnlessANetworkIsAllowed) {
  DataPolicy policy;
  policy.enforced = true;
  for (const std::string refused :
       {"127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "fe80::1", "fd00::1", "ff02::1",
        "64:ff9b::a9fe:a9fe", "2002:7f00:1::"}) {
    auto a = Address(refused);
    EXPECT_THAT(CheckAddress(reinterpret_cast<sockaddr*>(&a), policy),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("data_source")))
        << refused;
  }
  for (const std::string allowed : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700::1111"}) {
    auto a = Address(allowed);
    EXPECT_THAT(CheckAddress(reinterpret_cast<sockaddr*>(&a), policy), IsOk()) << allowed;
  }
  policy.allowed_networks = {*ParseIpNetwork("127.0.0.0/8"), *ParseIpNetwork("fd00::/8")};
  for (const std::string allowed : {"127.0.0.1", "::ffff:127.0.0.1", "fd12::1"}) {
    auto a = Address(allowed);
    EXPECT_THAT(CheckAddress(reinterpret_cast<sockaddr*>(&a), policy), IsOk()) << allowed;
  }
  auto metadata = Address("169.254.169.254");
  EXPECT_THAT(CheckAddress(reinterpret_cast<sockaddr*>(&metadata), policy), Not(IsOk()));
}

TEST(DataPolicyTest, ParsesNetworks) {
  EXPECT_EQ(ParseIpNetwork("10.0.0.0/8")->ToString(), "10.0.0.0/8");
  EXPECT_EQ(ParseIpNetwork("127.0.0.1")->ToString(), "127.0.0.1/32");
  EXPECT_EQ(ParseIpNetwork("fd00::/8")->ToString(), "fd00::/8");
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0/8", "fd00::/129", "x", "10.0.0.0/"}) {
    EXPECT_THAT(ParseIpNetwork(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(DataPolicyTest, UrlsMustMatchAnAllowedPrefixOrHost) {
  DataPolicy policy;
  policy.enforced = true;
  EXPECT_THAT(CheckUrl("https://data.example.com/ohlc", policy), IsOk());
  // Literal addresses are judged at once, however they are spelled.
  for (const std::string refused :
       {"http://169.254.169.254/latest/meta-data", "http://127.0.0.1:8080", "http://[::1]:80/",
        "http://[::ffff:10.0.0.1]/", "http://10.0.0.1"}) {
    EXPECT_THAT(CheckUrl(refused, policy), StatusIs(absl::StatusCode::kPermissionDenied))
        << refused;
  }
  policy.url_allow = {"https://data.example.com", "feed.example.org"};
  EXPECT_THAT(CheckUrl("https://data.example.com", policy), IsOk());
  EXPECT_THAT(CheckUrl("https://data.example.com/v1/ohlc?x=1", policy), IsOk());
  EXPECT_THAT(CheckUrl("http://FEED.example.org:8080/x", policy), IsOk());
  for (const std::string refused :
       {"https://data.example.com.evil.net/", "https://data.example.com@evil.net/",
        "http://data.example.com/", "https://evil.net/https://data.example.com",
        "https://feed.example.org.evil.net/"}) {
    EXPECT_THAT(CheckUrl(refused, policy), StatusIs(absl::StatusCode::kPermissionDenied))
        << refused;
  }
}

}  // namespace
}  // namespace backtest::engine
