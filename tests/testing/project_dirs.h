// Where a test finds the project: its source tree, the built binaries and the build's Python
// (BACKTEST_SOURCE_DIR and BACKTEST_BIN_DIR override the build's own, which
// cmake/BacktestTest.cmake compiles in).
#ifndef BACKTEST_TESTS_TESTING_PROJECT_DIRS_H_
#define BACKTEST_TESTS_TESTING_PROJECT_DIRS_H_

#include <cstdlib>
#include <string>

namespace backtest::testing {

inline std::string SourceDir() {
  const char* dir = std::getenv("BACKTEST_SOURCE_DIR");
  return dir != nullptr ? dir : BACKTEST_SOURCE_DIR_DEFAULT;
}

inline std::string BinDir() {
  const char* dir = std::getenv("BACKTEST_BIN_DIR");
  return dir != nullptr ? dir : BACKTEST_BIN_DIR_DEFAULT;
}

// The interpreter of the build's virtual environment (the SDK installed in it).
inline std::string BuildPython() { return SourceDir() + "/build/venv/bin/python"; }

}  // namespace backtest::testing

#endif  // BACKTEST_TESTS_TESTING_PROJECT_DIRS_H_
