// The strategy folder: its strategies described in the sandbox by the SDK's describe entry point
// (build/venv's python, the SDK installed by the build), their parameters in the registry, what
// cannot be described kept with its reason, and a changed folder picked up by the next scan.
// bubblewrap must be installed (scripts/install-deps.sh), as for sandbox_test.
#include "server/jobs/strategy_catalog.h"

#include <stdio.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/project_dirs.h"
#include "tests/testing/temp_dir.h"

namespace backtest::jobs {
namespace {

using ::backtest::testing::BinDir;
using ::backtest::testing::BuildPython;
using ::backtest::testing::SourceDir;

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kMyCross[] = R"(
"""SMA crossover: long above, short below."""
from backtestd import Float, Int, Strategy


class MyCross(Strategy):
    fast_period = Int(FAST, min=1, help="Fast SMA length")
    slow_period = Int(30, min=2, help="Slow SMA length")
    size = Float(1, min=0, min_exclusive=True, alias="SIZE", help="Units per position")

    def on_start(self):
        self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

    def on_bar(self, bar):
        if self.cross.value > 0:
            self.buy(self.size, reason="cross_up")
        elif self.cross.value < 0:
            self.sell(self.size, reason="cross_down")
)";

class StrategyCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chmod(dir_.path().c_str(), 0755);
    folder_ = dir_.File("strategies");
    fs::create_directories(folder_);
    chmod(folder_.c_str(), 0755);
    SandboxOptions o;
    o.exec_path = BinDir() + "/backtest-sandbox-exec";
    sandbox_.emplace(Sandbox::Detect(o));
    ASSERT_TRUE(sandbox_->usable()) << sandbox_->unusable_reason();
  }

  void Write(const std::string& strategy, const std::string& file, const std::string& text) {
    const std::string dir = folder_ + "/" + strategy;
    fs::create_directories(dir);
    chmod(dir.c_str(), 0755);
    std::ofstream(dir + "/" + file) << text;
    chmod((dir + "/" + file).c_str(), 0644);
  }
  void WriteMyCross(const std::string& name, const std::string& fast) {
    std::string text = kMyCross;
    text.replace(text.find("FAST"), 4, fast);
    Write(name, "strategy.py", text);
  }

  std::unique_ptr<StrategyCatalog> Catalog(std::chrono::milliseconds scan = std::chrono::seconds(2)) {
    return std::make_unique<StrategyCatalog>(
        StrategyCatalogOptions{.dir = folder_, .python = BuildPython(), .scan_interval = scan},
        &*sandbox_);
  }

  testing::TempDir dir_;
  std::string folder_;
  std::optional<Sandbox> sandbox_;
};

TEST_F(StrategyCatalogTest, DescribesEachSubfolderInTheSandboxIntoTheRegistry) {
  WriteMyCross("my_cross", "10");
  WriteMyCross("broken", "0");
  for (const char* file : {"strategy.toml", "main.py"}) {
    std::ifstream in(SourceDir() + "/examples/strategies/sr_bot/" + file);
    Write("sr_bot", file, std::string(std::istreambuf_iterator<char>(in), {}));
  }
  auto catalog = Catalog();
  EXPECT_TRUE(catalog->snapshot()->strategies.empty());
  catalog->Refresh();
  auto snapshot = catalog->snapshot();

  ASSERT_EQ(snapshot->strategies.size(), 2u);
  const StrategyInfo* mine = snapshot->Find("my_cross");
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(mine->kind, "sdk");
  EXPECT_EQ(mine->description, "SMA crossover: long above, short below.");
  EXPECT_EQ(mine->entry, "strategy.py:MyCross");
  EXPECT_EQ(mine->mode, "callback");
  EXPECT_FALSE(mine->sdk_version.empty());
  EXPECT_EQ(mine->source_hash, SourceHash(folder_ + "/my_cross").value());
  EXPECT_EQ(mine->path, folder_ + "/my_cross");
  const StrategyInfo* bot = snapshot->Find("sr_bot");
  ASSERT_NE(bot, nullptr);
  EXPECT_EQ(bot->kind, "backtrader");
  EXPECT_EQ(bot->entry, "main:backtesting");

  ASSERT_EQ(snapshot->problems.size(), 1u);
  EXPECT_EQ(snapshot->problems[0].name, "broken");
  EXPECT_THAT(snapshot->problems[0].error, HasSubstr("fast_period"));

  const engine::ParamRegistry& registry = *snapshot->registry;
  EXPECT_EQ(registry.strategies(),
            (std::vector<std::string>{"sr_breakout", "sma_cross", "my_cross", "sr_bot"}));
  const engine::ParamDef* size = registry.Find("SIZE", "my_cross");
  ASSERT_NE(size, nullptr);
  EXPECT_EQ(size->group, "my_cross");  // the folder's name, not the sandbox's /strategy
  EXPECT_EQ(size->help, "Units per position");
  auto values = registry.Validate({{"strategy", "my_cross"}, {"SIZE", "2"}}, 1'700'000'000);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ((*values)["size"], "2");
  EXPECT_EQ(registry.Validate({{"strategy", "my_cross"}, {"size", "0"}}, 1'700'000'000)
                .status()
                .message(),
            "size: must be > 0, got \"0\"");
  EXPECT_TRUE(registry.Validate({{"strategy", "sr_bot"}, {"RR", "3"}}, 1'700'000'000).ok());
}

TEST_F(StrategyCatalogTest, SourceHashIsTheSdkLoaders) {
  WriteMyCross("my_cross", "10");
  Write("my_cross", "notes.txt", "a second file\n");
  fs::create_directories(folder_ + "/my_cross/__pycache__");
  std::ofstream(folder_ + "/my_cross/__pycache__/x.pyc") << "ignored";
  std::ofstream(folder_ + "/my_cross/.hidden") << "ignored";
  const std::string command = BuildPython() +
                              " -c 'import sys; from backtestd.loader import source_hash; "
                              "print(source_hash(sys.argv[1]))' " +
                              folder_ + "/my_cross";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof line, pipe), nullptr);
  ASSERT_EQ(pclose(pipe), 0);
  std::string python_hash(line);
  python_hash.erase(python_hash.find_last_not_of('\n') + 1);
  EXPECT_EQ(SourceHash(folder_ + "/my_cross").value(), python_hash);
  EXPECT_FALSE(SourceHash(folder_ + "/none").ok());
}

TEST_F(StrategyCatalogTest, AChangedFolderIsDescribedAgainAndARemovedOneGoes) {
  WriteMyCross("my_cross", "10");
  auto catalog = Catalog();
  catalog->Refresh();
  const std::string first = catalog->snapshot()->Find("my_cross")->source_hash;
  EXPECT_EQ(catalog->snapshot()->registry->Find("fast_period", "my_cross")->default_value, "10");

  WriteMyCross("my_cross", "12");
  catalog->Refresh();
  const StrategyInfo* changed = catalog->snapshot()->Find("my_cross");
  ASSERT_NE(changed, nullptr);
  EXPECT_NE(changed->source_hash, first);
  EXPECT_EQ(catalog->snapshot()->registry->Find("fast_period", "my_cross")->default_value, "12");

  fs::remove_all(folder_ + "/my_cross");
  catalog->Refresh();
  EXPECT_TRUE(catalog->snapshot()->strategies.empty());
  EXPECT_FALSE(catalog->snapshot()->registry->HasStrategy("my_cross"));
}

TEST_F(StrategyCatalogTest, TheWatcherPicksUpAFolderAddedWhileItRuns) {
  auto catalog = Catalog(std::chrono::milliseconds(50));
  catalog->Refresh();
  catalog->StartWatching();
  WriteMyCross("added", "5");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (catalog->snapshot()->Find("added") == nullptr &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(catalog->snapshot()->Find("added"), nullptr);
  catalog->Stop();
}

// A subfolder that does not load is kept as a problem whose error names the file and line, for
// each way an SDK folder or a manifest can be broken; CheckRunnable refuses it with that error.
TEST_F(StrategyCatalogTest, AFolderThatDoesNotLoadIsKeptWithItsFileAndLine) {
  Write("syntax", "strategy.py", "from backtestd import Strategy\n\n\nclass X(Strategy)\n    pass\n");
  Write("imports", "strategy.py", "from backtestd import Strategy\nimport talib_not_here\n");
  Write("raises", "strategy.py", "from backtestd import Strategy\n\nN = 1 / 0\n");
  Write("two", "strategy.py",
        "from backtestd import Strategy\n\n\nclass A(Strategy):\n    pass\n\n\n"
        "class B(Strategy):\n    pass\n");
  WriteMyCross("bad_param", "0");
  Write("bad_manifest", "strategy.toml",
        "kind = \"backtrader\"\nentry = \"main:backtesting\"\n\n[[parameters]]\nname = \"rr\"\n"
        "type = \"decimal\"\ndefault = \"2\"\n");
  Write("bad_manifest", "main.py", "def backtesting(**kw):\n    pass\n");
  Write("bad_toml", "strategy.toml", "kind = \"backtrader\"\nentry = \n");
  auto catalog = Catalog();
  catalog->Refresh();
  auto snapshot = catalog->snapshot();
  EXPECT_TRUE(snapshot->strategies.empty());
  std::map<std::string, StrategyProblem> problems;
  for (const StrategyProblem& p : snapshot->problems) problems[p.name] = p;
  ASSERT_EQ(problems.size(), 7u);
  EXPECT_EQ(problems["syntax"].error, "strategy.py:4: SyntaxError: expected ':'");
  EXPECT_EQ(problems["syntax"].kind, "sdk");
  EXPECT_EQ(problems["syntax"].path, folder_ + "/syntax");
  EXPECT_EQ(problems["syntax"].source_hash, SourceHash(folder_ + "/syntax").value());
  EXPECT_EQ(problems["imports"].error,
            "strategy.py:2 in <module>: ModuleNotFoundError: No module named 'talib_not_here'");
  EXPECT_EQ(problems["raises"].error,
            "strategy.py:3 in <module>: ZeroDivisionError: division by zero");
  EXPECT_EQ(problems["two"].error,
            "strategy.py: defines several Strategy subclasses (A at line 4, B at line 8); name "
            "one in the entry (FILE.py:Class)");
  // The line declaring the parameter (kMyCross's fast_period), not the class statement.
  EXPECT_THAT(problems["bad_param"].error,
              ::testing::StartsWith("strategy.py:7 in <module>: ParamError: fast_period: "));
  EXPECT_EQ(problems["bad_manifest"].kind, "backtrader");
  EXPECT_THAT(problems["bad_manifest"].error,
              ::testing::StartsWith("strategy.toml: parameters[0] (rr): type: must be one of"));
  EXPECT_THAT(problems["bad_toml"].error, HasSubstr("not valid TOML"));
  EXPECT_THAT(problems["bad_toml"].error, HasSubstr("line 2"));

  absl::Status refused = snapshot->CheckRunnable("imports");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(), "strategy imports cannot run: " + problems["imports"].error);
  EXPECT_TRUE(snapshot->CheckRunnable("sma_cross").ok());
  EXPECT_TRUE(snapshot->CheckRunnable("unknown").ok());  // the registry's to refuse
}

TEST(ParseDescriptionTest, DescribesErrorsAndBrokenOutputAreInvalidArgument) {
  auto error = ParseDescription(R"({"error": "fast_period: default 0 is below min 1"})", "x",
                                "/s/x", "sha256:0");
  EXPECT_EQ(error.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error.status().message(), "fast_period: default 0 is below min 1");
  EXPECT_EQ(ParseDescription("Traceback", "x", "/s/x", "sha256:0").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto kind = ParseDescription(R"({"kind": "lean", "parameters": []})", "x", "/s/x", "sha256:0");
  EXPECT_THAT(kind.status().message(), HasSubstr("kind: must be sdk or backtrader"));
  auto type = ParseDescription(
      R"({"kind": "sdk", "parameters": [{"name": "n", "type": "decimal", "default": "1"}]})", "x",
      "/s/x", "sha256:0");
  EXPECT_THAT(type.status().message(), HasSubstr("n: type: must be one of"));
}

}  // namespace
}  // namespace backtest::jobs
