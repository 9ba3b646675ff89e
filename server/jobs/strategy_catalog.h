// The strategy folder (`--strategy-dir`): one subfolder per strategy of kind `sdk` (strategy.py)
// or `backtrader` (strategy.toml), each described by the SDK's describe entry point run in the
// sandbox — user code is never imported into backtestd — and its parameters joined with the
// built-ins in a ParamRegistry (docs/strategies.md, "The server's strategy folder").
//
// Refresh scans the folder: a subfolder whose source hash is new is described, one whose hash is
// unchanged keeps its description, a removed one goes. Each scan publishes an immutable
// StrategySnapshot; readers take the current one (snapshot(), thread-safe) and keep it for the
// request. StartWatching refreshes from a thread of the catalog's own every scan interval, so a
// changed folder is picked up without a restart. Owned by the job manager.
#ifndef BACKTEST_SERVER_JOBS_STRATEGY_CATALOG_H_
#define BACKTEST_SERVER_JOBS_STRATEGY_CATALOG_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/engine/param_registry.h"
#include "server/jobs/sandbox.h"

namespace backtest::jobs {

// One strategy of the folder, as describe gave it.
struct StrategyInfo {
  std::string name;         // the subfolder's name: the `strategy` parameter's value
  std::string kind;         // sdk | backtrader
  std::string description;
  std::string entry;        // sdk: strategy.py:Class; backtrader: module:function
  std::string mode;         // sdk: callback | vectorized; backtrader: empty
  std::string sdk_version;  // the SDK that described it
  std::string source_hash;  // sha256:… (SourceHash)
  std::string path;         // the subfolder, absolute, on the server's side
  engine::StrategyParams params;
};

// A subfolder that is not a strategy the server can run, and why: listed by StrategyService with
// its error, and a job of it is refused with that error.
struct StrategyProblem {
  std::string name;
  std::string kind;         // backtrader when its manifest says so, else sdk
  std::string source_hash;  // empty when the folder could not be read
  std::string path;         // the subfolder, absolute
  std::string error;        // describe's error (naming the file and line), or why not described
};

// The folder as one scan found it. Immutable.
struct StrategySnapshot {
  std::vector<StrategyInfo> strategies;  // by name
  std::vector<StrategyProblem> problems;  // by name
  std::unique_ptr<const engine::ParamRegistry> registry;  // the built-ins and `strategies`'

  const StrategyInfo* Find(absl::string_view name) const;
  const StrategyProblem* FindProblem(absl::string_view name) const;
  // FailedPrecondition "strategy NAME cannot run: ERROR" when `name` is a subfolder that did not
  // load; OK otherwise (a runnable strategy, a built-in, or a name the registry judges).
  absl::Status CheckRunnable(absl::string_view name) const;
};

struct StrategyCatalogOptions {
  std::string dir;     // the strategy folder; empty: none (built-in strategies only)
  std::string python;  // the interpreter with the SDK installed, absolute
  // describe's limits in the sandbox, and the wall-clock time after which it is killed.
  SandboxLimits limits = {.cpu_seconds = 30, .memory_mb = 2048};
  std::chrono::milliseconds describe_timeout{60'000};
  std::chrono::milliseconds scan_interval{2'000};
  // Each worker keeps a sandboxed Python runner warm (its imports done) for the strategy its last
  // job of this folder ran, so that the next job of that strategy starts no interpreter.
  bool warm_runners = true;
  // That warm runner is a fork server, which forks a runner per job (docs/sandbox.md, "Fork
  // server"); off: one idle runner per job, started when the previous job's result arrives.
  bool fork_server = true;
};

class StrategyCatalog {
 public:
  // `sandbox` outlives the catalog. The snapshot is the built-ins' until the first Refresh.
  StrategyCatalog(StrategyCatalogOptions options, const Sandbox* sandbox);
  ~StrategyCatalog();  // Stop
  StrategyCatalog(const StrategyCatalog&) = delete;
  StrategyCatalog& operator=(const StrategyCatalog&) = delete;

  // Scans the folder now and publishes what it found. Waits for the describe processes: call it
  // from a thread that outlives them (a sandbox dies with the thread that started it).
  // Serialised with the watcher's scans.
  void Refresh();
  // Refreshes every scan interval from the catalog's own thread until Stop.
  void StartWatching();
  void Stop();

  std::shared_ptr<const StrategySnapshot> snapshot() const;
  const StrategyCatalogOptions& options() const { return options_; }

 private:
  // Describes the strategy in `path` (its hash already taken) in the sandbox.
  absl::StatusOr<StrategyInfo> Describe(const std::string& name, const std::string& path,
                                        const std::string& source_hash) const;
  void Watch();

  const StrategyCatalogOptions options_;
  const Sandbox* const sandbox_;

  std::mutex refresh_mu_;  // one scan at a time
  mutable std::mutex mu_;
  std::shared_ptr<const StrategySnapshot> snapshot_;  // guarded by mu_
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread watcher_;
};

// The source hash of a strategy folder, as backtestd.loader.source_hash computes it: `sha256:` +
// the hex SHA-256 of, per file in order of its path relative to the folder (`/`-separated), the
// path, a NUL byte, the size as 8 little-endian bytes and the bytes; `__pycache__`, dot files and
// dot folders left out. NotFound or Internal when the folder cannot be read.
absl::StatusOr<std::string> SourceHash(const std::string& folder);

// describe's JSON (python -m backtestd.describe, or the backtrader adapter's --describe) → the
// strategy `name` at `path`. InvalidArgument with describe's error, or naming what is missing.
absl::StatusOr<StrategyInfo> ParseDescription(absl::string_view json, const std::string& name,
                                              const std::string& path,
                                              const std::string& source_hash);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_STRATEGY_CATALOG_H_
