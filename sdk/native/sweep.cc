#include "sdk/native/sweep.h"

#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sdk/native/session.h"
#include "server/jobs/frame_codec.h"
#include "server/runner/sweep_session.h"

namespace backtest::sdk {
namespace {

namespace rv1 = backtest::runner::v1;

// A worker's exit status when it ran out of memory (its rows so far stand).
constexpr int kWorkerOutOfMemory = 3;

// Writes all of `data` to `fd`; false when the reader is gone.
bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Python's buffered output goes out before a fork (else both processes would write it).
void FlushPythonOutput() {
  try {
    nb::module_ sys = nb::module_::import_("sys");
    sys.attr("stdout").attr("flush")();
    sys.attr("stderr").attr("flush")();
  } catch (...) {  // a strategy replaced them: nothing to flush
  }
}

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (", ::strsignal(WTERMSIG(status)),
                        ")");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kWorkerOutOfMemory) return "out of memory";
  return absl::StrCat("exit status ", WEXITSTATUS(status));
}

// An SDK strategy's combinations: each the spec's parameters with its values, made into a run by
// the Python layer's prepare().
class SdkCombinations : public runner::CombinationRunner {
 public:
  SdkCombinations(const rv1::RunSpec& spec, nb::object prepare, engine::RunOptions options,
                  int workers)
      : spec_(spec), spec_params_(spec.params().begin(), spec.params().end()),
        prepare_(std::move(prepare)), options_(std::move(options)), workers_(workers) {}

  int workers() const override { return workers_; }

  absl::Status ForEach(const engine::MarketData& data, const std::vector<int>& rows,
                       const runner::RowSink& done) override;

  absl::StatusOr<engine::RunResult> RunWindow(int row, const engine::RunConfig& window,
                                              const engine::MarketData& data) override {
    nb::gil_scoped_acquire gil;
    runner::SweepRowObserver quiet;
    return Run(row, data, &window, quiet);
  }

 private:
  struct Worker {
    pid_t pid = -1;
    int fd = -1;
    jobs::FrameDecoder decoder;
    int status = 0;
  };

  // Combination `row`'s run on `data` (with `window`'s dates when given). GIL held.
  absl::StatusOr<engine::RunResult> Run(int row, const engine::MarketData& data,
                                        const engine::RunConfig* window,
                                        engine::RunObserver& observer);
  // A worker process's life: combinations taken from `next` until none is left or the job is
  // cancelled, each row sent on `fd` as a frame. Returns its exit status.
  int WorkerMain(int fd, const engine::MarketData& data, const std::vector<int>& rows,
                 std::atomic<int64_t>& next);
  // This process runs `rows` itself (one worker: no fork).
  void RunHere(const engine::MarketData& data, const std::vector<int>& rows,
               const runner::RowSink& done);
  // Reads the workers' rows until each has closed its pipe, then reaps them.
  absl::Status Collect(std::vector<Worker>& workers, const runner::RowSink& done);

  const rv1::RunSpec& spec_;
  const engine::ParamValues spec_params_;  // the base set as the spec has it (every name)
  nb::object prepare_;
  engine::RunOptions options_;
  int workers_;
};

absl::StatusOr<engine::RunResult> SdkCombinations::Run(int row, const engine::MarketData& data,
                                                       const engine::RunConfig* window,
                                                       engine::RunObserver& observer) {
  const engine::ParamValues params = runner::CombinationParams(spec_.sweep(), spec_params_, row);
  nb::object start;
  engine::ParamValues engine_params;
  try {
    nb::object prepared = prepare_(params);
    if (nb::isinstance<nb::str>(prepared)) {
      return absl::InvalidArgumentError(nb::cast<std::string>(prepared));
    }
    nb::tuple pair = nb::cast<nb::tuple>(prepared);
    start = nb::borrow(pair[0]);
    engine_params = nb::cast<engine::ParamValues>(pair[1]);
  } catch (nb::python_error& e) {
    return absl::AbortedError(DescribePythonError(e));
  } catch (const nb::cast_error&) {
    return absl::InternalError("prepare() answered neither (start, parameters) nor a reason");
  }
  auto config = engine::RunConfigFromParams(engine_params);
  if (!config.ok()) return config.status();
  if (window != nullptr) runner::UseWindow(*window, &*config);
  PyRun run(std::move(start));
  engine::RunOptions options = options_;
  options.external_strategy = run.Factory();
  return engine::RunBacktest(*config, data, options, observer);
}

int SdkCombinations::WorkerMain(int fd, const engine::MarketData& data,
                                const std::vector<int>& rows, std::atomic<int64_t>& next) {
  runner::SweepRowObserver observer;
  std::string frame;
  try {
    while (!runner::CancelRequested().load(std::memory_order_relaxed)) {
      const int64_t k = next.fetch_add(1);
      if (k >= static_cast<int64_t>(rows.size())) break;
      const int i = rows[static_cast<size_t>(k)];
      absl::StatusOr<engine::RunResult> result = Run(i, data, nullptr, observer);
      if (absl::IsCancelled(result.status())) break;
      frame.clear();
      jobs::AppendFrame(runner::SweepRowOf(i, result).SerializeAsString(), &frame);
      if (!WriteAll(fd, frame)) return runner::kExitFailed;  // the runner is gone
    }
  } catch (const std::bad_alloc&) {
    return kWorkerOutOfMemory;
  }
  return 0;
}

void SdkCombinations::RunHere(const engine::MarketData& data, const std::vector<int>& rows,
                              const runner::RowSink& done) {
  nb::gil_scoped_acquire gil;
  runner::SweepRowObserver observer;
  for (int i : rows) {
    if (runner::CancelRequested().load(std::memory_order_relaxed)) break;
    absl::StatusOr<engine::RunResult> result = Run(i, data, nullptr, observer);
    if (absl::IsCancelled(result.status())) break;
    done(runner::SweepRowOf(i, result));
  }
}

absl::Status SdkCombinations::ForEach(const engine::MarketData& data,
                                      const std::vector<int>& rows, const runner::RowSink& done) {
  const int n = std::max(1, std::min<int>(workers_, static_cast<int>(rows.size())));
  if (rows.empty()) return absl::OkStatus();
  if (n == 1) {
    RunHere(data, rows, done);
    return absl::OkStatus();
  }
  // The counter the workers take combinations from, in memory they share.
  void* shared = ::mmap(nullptr, sizeof(std::atomic<int64_t>), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat("sweep: no shared memory for its workers (",
                                                     std::strerror(errno), ")"));
  }
  auto* next = new (shared) std::atomic<int64_t>(0);
  static_assert(std::atomic<int64_t>::is_always_lock_free);
  std::vector<Worker> workers(static_cast<size_t>(n));
  absl::Status started;
  {
    nb::gil_scoped_acquire gil;
    FlushPythonOutput();
    const pid_t runner_pid = ::getpid();
    for (int w = 0; w < n; ++w) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) {
        started = absl::ResourceExhaustedError(
            absl::StrCat("sweep: cannot make a pipe for a worker (", std::strerror(errno), ")"));
        break;
      }
      PyOS_BeforeFork();
      const pid_t pid = ::fork();
      if (pid == 0) {
        PyOS_AfterFork_Child();
        // Dies with the runner (its thread that forked it, which waits for it here).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != runner_pid) ::_exit(runner::kExitFailed);
        ::close(fds[0]);
        for (int v = 0; v < w; ++v) ::close(workers[static_cast<size_t>(v)].fd);
        const int code = WorkerMain(fds[1], data, rows, *next);
        FlushPythonOutput();
        ::_exit(code);
      }
      PyOS_AfterFork_Parent();
      ::close(fds[1]);
      if (pid < 0) {
        ::close(fds[0]);
        started = absl::ResourceExhaustedError(
            absl::StrCat("sweep: cannot start a worker process (", std::strerror(errno), ")"));
        break;
      }
      workers[static_cast<size_t>(w)].pid = pid;
      workers[static_cast<size_t>(w)].fd = fds[0];
    }
  }
  if (!started.ok()) {
    // The workers that did start stop at their next combination.
    next->store(static_cast<int64_t>(rows.size()));
  }
  absl::Status collected = Collect(workers, done);
  ::munmap(shared, sizeof(std::atomic<int64_t>));
  return started.ok() ? collected : started;
}

absl::Status SdkCombinations::Collect(std::vector<Worker>& workers, const runner::RowSink& done) {
  bool told = false;  // the workers were told of a cancel
  absl::Status failed;
  std::vector<pollfd> fds;
  char buf[65536];
  while (true) {
    fds.clear();
    for (const Worker& w : workers) {
      if (w.fd >= 0) fds.push_back({w.fd, POLLIN, 0});
    }
    if (fds.empty()) break;
    if (!told && runner::CancelRequested().load()) {
      for (const Worker& w : workers) {
        if (w.pid > 0) ::kill(w.pid, SIGTERM);
      }
      told = true;
    }
    const int ready = ::poll(fds.data(), fds.size(), 50);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    for (Worker& w : workers) {
      if (w.fd < 0) continue;
      pollfd* p = nullptr;
      for (pollfd& f : fds) {
        if (f.fd == w.fd) p = &f;
      }
      if (p == nullptr || p->revents == 0) continue;
      const ssize_t got = ::read(w.fd, buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        ::close(w.fd);
        w.fd = -1;
        continue;
      }
      w.decoder.Append(buf, static_cast<size_t>(got));
      while (true) {
        auto frame = w.decoder.Next();
        if (!frame.ok() || !frame->has_value()) {
          if (!frame.ok() && failed.ok()) {
            failed = absl::InternalError(absl::StrCat("sweep: a worker sent a bad frame: ",
                                                      frame.status().message()));
          }
          break;
        }
        rv1::SweepRow row;
        if (!row.ParseFromString(**frame)) {
          if (failed.ok()) failed = absl::InternalError("sweep: a worker sent a bad row");
          continue;
        }
        done(std::move(row));
      }
    }
  }
  for (Worker& w : workers) {
    if (w.pid <= 0) continue;
    while (::waitpid(w.pid, &w.status, 0) < 0 && errno == EINTR) {
    }
    const bool clean = WIFEXITED(w.status) && WEXITSTATUS(w.status) == 0;
    if (!clean && failed.ok() && !runner::CancelRequested().load()) {
      const std::string why = DescribeExit(w.status);
      failed = WIFEXITED(w.status) && WEXITSTATUS(w.status) == kWorkerOutOfMemory
                   ? absl::ResourceExhaustedError(absl::StrCat("sweep: a worker ran ", why))
                   : absl::InternalError(absl::StrCat("sweep: a worker process (pid ", w.pid,
                                                      ") ended: ", why));
    }
  }
  return failed;
}

}  // namespace

int RunSdkSweep(runner::EventWriter& writer, const rv1::RunSpec& spec, nb::object prepare,
                const std::map<std::string, std::string>& base) {
  engine::RunOptions options;
  if (absl::Status s = runner::SweepRunOptions(spec, &options); !s.ok()) {
    runner::Fail(writer, "internal", std::string(s.message()));
    return runner::kExitFailed;
  }
  engine::ParamValues values(base.begin(), base.end());
  values["trace_enabled"] = "false";  // rows are stats only
  SdkCombinations combinations(
      spec, std::move(prepare), std::move(options),
      runner::SweepWorkers(spec.sweep(), spec.sweep().combinations_size()));
  nb::gil_scoped_release release;
  return runner::RunSweep(writer, spec, values, combinations);
}

}  // namespace backtest::sdk
