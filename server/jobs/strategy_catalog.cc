#include "server/jobs/strategy_catalog.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "server/engine/util/sha256.h"
#include "spdlog/spdlog.h"

namespace backtest::jobs {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr size_t kMaxDescription = 1 << 20;  // describe's stdout kept
constexpr size_t kMaxStderr = 16 << 10;

bool Hidden(const std::string& name) { return name.empty() || name[0] == '.'; }

// What a describe process wrote and how it ended.
struct DescribeRun {
  std::string out, err;
  ExitInfo exit;
  bool timed_out = false;
};

DescribeRun RunToEnd(RunnerProcess& process, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  DescribeRun run;
  const auto deadline = Clock::now() + timeout;
  char buf[1 << 16];
  while (!process.all_closed()) {
    if (!run.timed_out && Clock::now() >= deadline) {
      run.timed_out = true;
      process.Signal(SIGKILL);
    }
    if (run.timed_out && Clock::now() >= deadline + std::chrono::seconds(5)) break;
    pollfd fds[3];
    int n = 0;
    for (int fd : {process.events_fd(), process.stdout_fd(), process.stderr_fd()}) {
      if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
    }
    if (::poll(fds, n, 100) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      ssize_t got = ::read(fd, buf, sizeof buf);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        process.CloseFd(fd);
        continue;
      }
      if (got < 0) continue;
      std::string* into = fd == process.stdout_fd()   ? &run.out
                          : fd == process.stderr_fd() ? &run.err
                                                      : nullptr;
      const size_t cap = into == &run.out ? kMaxDescription : kMaxStderr;
      if (into != nullptr && into->size() < cap) {
        into->append(buf, std::min(static_cast<size_t>(got), cap - into->size()));
      }
    }
  }
  run.exit = process.Wait();
  return run;
}

// The last line of `text` that is not blank (a traceback's message), at most 500 characters.
std::string LastLine(absl::string_view text) {
  text = absl::StripTrailingAsciiWhitespace(text);
  size_t nl = text.rfind('\n');
  if (nl != absl::string_view::npos) text.remove_prefix(nl + 1);
  return std::string(text.substr(0, 500));
}

// Whether the folder's manifest says kind = "backtrader" (the one kind a manifest names today).
bool IsBacktrader(const std::string& path) {
  std::ifstream in(path + "/strategy.toml");
  std::string line;
  while (std::getline(in, line)) {
    std::string l(absl::StripAsciiWhitespace(line));
    if (!absl::StartsWith(l, "kind")) continue;
    absl::string_view rest = absl::StripAsciiWhitespace(absl::string_view(l).substr(4));
    if (!absl::ConsumePrefix(&rest, "=")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    return absl::StartsWith(rest, "\"backtrader\"") || absl::StartsWith(rest, "'backtrader'");
  }
  return false;
}

std::string Text(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::optional<engine::Bound> BoundOf(const Json& p, const char* key, const char* exclusive) {
  auto it = p.find(key);
  if (it == p.end() || !it->is_number()) return std::nullopt;
  auto ex = p.find(exclusive);
  return engine::Bound{it->get<double>(), ex != p.end() && ex->is_boolean() && ex->get<bool>()};
}

}  // namespace

const StrategyInfo* StrategySnapshot::Find(absl::string_view name) const {
  for (const StrategyInfo& s : strategies) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const StrategyProblem* StrategySnapshot::FindProblem(absl::string_view name) const {
  for (const StrategyProblem& p : problems) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

absl::Status StrategySnapshot::CheckRunnable(absl::string_view name) const {
  if (engine::ParamRegistry::IsBuiltinStrategy(name)) return absl::OkStatus();
  const StrategyProblem* problem = FindProblem(name);
  if (problem == nullptr || Find(name) != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("strategy ", problem->name, " cannot run: ", problem->error));
}

absl::StatusOr<std::string> SourceHash(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    return absl::NotFoundError(absl::StrCat(folder, ": not a folder"));
  }
  std::vector<std::pair<std::string, fs::path>> files;
  fs::recursive_directory_iterator it(folder, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string leaf = it->path().filename().string();
    if (it->is_directory(ec)) {
      // Not descended: __pycache__, dot folders; a link to a folder is neither listed nor followed.
      if (leaf == "__pycache__" || Hidden(leaf)) it.disable_recursion_pending();
      continue;
    }
    if (Hidden(leaf)) continue;
    files.emplace_back(fs::relative(it->path(), folder).generic_string(), it->path());
  }
  if (ec) return absl::InternalError(absl::StrCat(folder, ": ", ec.message()));
  std::sort(files.begin(), files.end());
  engine::Sha256 sha;
  std::string data;
  for (const auto& [rel, path] : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::InternalError(absl::StrCat(path.string(), ": cannot be read"));
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    sha.Update(rel);
    sha.Update("\0", 1);
    unsigned char size[8];
    uint64_t n = data.size();
    for (int i = 0; i < 8; ++i) size[i] = static_cast<unsigned char>(n >> (8 * i));
    sha.Update(size, sizeof size);
    sha.Update(data);
  }
  return absl::StrCat("sha256:", sha.HexDigest());
}

absl::StatusOr<StrategyInfo> ParseDescription(absl::string_view json, const std::string& name,
                                              const std::string& path,
                                              const std::string& source_hash) {
  Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return absl::InvalidArgumentError("describe did not print a JSON object");
  if (auto err = doc.find("error"); err != doc.end()) {
    return absl::InvalidArgumentError(err->is_string() ? err->get<std::string>() : err->dump());
  }
  StrategyInfo info;
  info.name = name;
  info.kind = Text(doc, "kind");
  if (info.kind != "sdk" && info.kind != "backtrader") {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: must be sdk or backtrader, got \"", info.kind.substr(0, 64), "\""));
  }
  info.description = Text(doc, "description");
  info.entry = Text(doc, "entry");
  info.mode = Text(doc, "mode");
  info.sdk_version = Text(doc, "sdk_version");
  info.source_hash = source_hash;
  info.path = path;
  info.params.strategy = name;
  // describe names the default group after the folder as it saw it (/strategy in the sandbox).
  const std::string seen_as = Text(doc, "name");
  auto params = doc.find("parameters");
  if (params == doc.end() || !params->is_array()) {
    return absl::InvalidArgumentError("parameters: missing");
  }
  for (const Json& p : *params) {
    if (!p.is_object()) return absl::InvalidArgumentError("parameters: not an object");
    engine::ParamSpec spec;
    spec.name = Text(p, "name");
    auto type = engine::ParseParamType(Text(p, "type"));
    if (!type.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(spec.name, ": ", type.status().message()));
    }
    spec.type = *type;
    spec.alias = Text(p, "alias");
    spec.group = Text(p, "group");
    if (spec.group == seen_as) spec.group = name;
    spec.default_value = Text(p, "default");
    spec.optional = p.value("optional", false);
    spec.min = BoundOf(p, "min", "min_exclusive");
    spec.max = BoundOf(p, "max", "max_exclusive");
    if (auto c = p.find("choices"); c != p.end() && c->is_array()) {
      for (const Json& choice : *c) {
        if (choice.is_string()) spec.choices.push_back(choice.get<std::string>());
      }
    }
    spec.help = Text(p, "help");
    spec.hidden = p.value("hidden", false);
    info.params.params.push_back(std::move(spec));
  }
  if (auto status = engine::ParamRegistry::Check(info.params); !status.ok()) return status;
  return info;
}

StrategyCatalog::StrategyCatalog(StrategyCatalogOptions options, const Sandbox* sandbox)
    : options_(std::move(options)), sandbox_(sandbox) {
  auto snapshot = std::make_shared<StrategySnapshot>();
  snapshot->registry = *engine::ParamRegistry::Make({});
  snapshot_ = std::move(snapshot);
}

StrategyCatalog::~StrategyCatalog() { Stop(); }

std::shared_ptr<const StrategySnapshot> StrategyCatalog::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

absl::StatusOr<StrategyInfo> StrategyCatalog::Describe(const std::string& name,
                                                       const std::string& path,
                                                       const std::string& source_hash) const {
  const std::string visible = sandbox_->VisibleStrategyDir(path);
  std::vector<std::string> args = {options_.python, "-m"};
  if (IsBacktrader(path)) {
    args.insert(args.end(), {"backtestd.adapters.backtrader", "--describe", visible});
  } else {
    args.insert(args.end(), {"backtestd.describe", visible});
  }
  auto command = sandbox_->Build({.args = std::move(args),
                                  .strategy_dir = path,
                                  .env = {{"PYTHONDONTWRITEBYTECODE", "1"}},
                                  .limits = options_.limits});
  if (!command.ok()) return command.status();
  auto process = RunnerProcess::Spawn(*command, 0, "");
  if (!process.ok()) return process.status();
  DescribeRun run = RunToEnd(*process, options_.describe_timeout);
  if (run.timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        "describe did not finish within ",
        std::chrono::duration_cast<std::chrono::seconds>(options_.describe_timeout).count(),
        " s"));
  }
  auto info = ParseDescription(run.out, name, path, source_hash);
  if (info.ok() || !absl::StartsWith(info.status().message(), "describe did not print")) {
    return info;
  }
  // Not its JSON: why the process ended, with the last thing it said.
  std::string why = DescribeSandboxedExit(run.exit, options_.limits);
  std::string said = LastLine(run.err.empty() ? run.out : run.err);
  return absl::InvalidArgumentError(absl::StrCat(
      "describe failed", why.empty() ? "" : absl::StrCat(" (", why, ")"),
      said.empty() ? "" : absl::StrCat(": ", said)));
}

void StrategyCatalog::Refresh() {
  std::lock_guard<std::mutex> serial(refresh_mu_);
  std::shared_ptr<const StrategySnapshot> before = snapshot();
  auto next = std::make_shared<StrategySnapshot>();
  if (!options_.dir.empty()) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(options_.dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string leaf = it->path().filename().string();
      if (Hidden(leaf) || leaf == "__pycache__" || !it->is_directory(ec)) continue;
      names.push_back(leaf);
    }
    if (ec) spdlog::warn("strategy folder {}: {}", options_.dir, ec.message());
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string path = fs::absolute(fs::path(options_.dir) / name).lexically_normal();
      const std::string kind = IsBacktrader(path) ? "backtrader" : "sdk";
      auto hash = SourceHash(path);
      if (!hash.ok()) {
        next->problems.push_back({name, kind, "", path, std::string(hash.status().message())});
        continue;
      }
      // Unchanged since the last scan: its description (or its problem) stands.
      if (const StrategyInfo* known = before->Find(name);
          known != nullptr && known->source_hash == *hash && known->path == path) {
        next->strategies.push_back(*known);
        continue;
      }
      if (const StrategyProblem* problem = before->FindProblem(name);
          problem != nullptr && problem->source_hash == *hash && problem->path == path) {
        next->problems.push_back(*problem);
        continue;
      }
      auto info = Describe(name, path, *hash);
      if (!info.ok()) {
        spdlog::warn("strategy {} ({}): not runnable: {}", name, *hash,
                     std::string(info.status().message()));
        next->problems.push_back({name, kind, *hash, path, std::string(info.status().message())});
        continue;
      }
      spdlog::info("strategy {}: {} {}, {} parameters", name, info->kind, *hash,
                   info->params.params.size());
      next->strategies.push_back(*std::move(info));
    }
    for (const StrategyInfo& gone : before->strategies) {
      if (next->Find(gone.name) == nullptr) spdlog::info("strategy {}: removed", gone.name);
    }
  }
  std::vector<engine::StrategyParams> params;
  for (const StrategyInfo& s : next->strategies) params.push_back(s.params);
  auto registry = engine::ParamRegistry::Make(std::move(params));
  if (!registry.ok()) {  // each passed Check, and names are folder names: a bug
    spdlog::error("strategy folder: {}", std::string(registry.status().message()));
    return;
  }
  next->registry = *std::move(registry);
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(next);
}

void StrategyCatalog::StartWatching() {
  std::lock_guard<std::mutex> lock(mu_);
  if (watcher_.joinable() || stopping_ || options_.dir.empty()) return;
  watcher_ = std::thread([this] { Watch(); });
}

void StrategyCatalog::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (wake_.wait_for(lock, options_.scan_interval, [this] { return stopping_; })) break;
    lock.unlock();
    Refresh();
    lock.lock();
  }
}

void StrategyCatalog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace backtest::jobs
