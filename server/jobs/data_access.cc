#include "server/jobs/data_access.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace backtest::jobs {
namespace {

absl::StatusOr<std::string> ResolveRoot(const std::string& flag, const std::string& dir) {
  std::error_code ec;
  std::filesystem::path resolved = std::filesystem::canonical(dir, ec);
  if (ec || !std::filesystem::is_directory(resolved, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": ", dir, " is not a directory", ec ? absl::StrCat(" (", ec.message(), ")") : ""));
  }
  return resolved.string();
}

}  // namespace

absl::StatusOr<DataPolicies> ResolveDataAccess(const DataAccessOptions& options,
                                               const std::string& db_path) {
  DataPolicies out;
  out.user.enforced = true;
  out.user.url_allow = options.url_allow;
  for (const std::string& text : options.allowed_networks) {
    auto network = engine::ParseIpNetwork(text);
    if (!network.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("data-allow-network: ", network.status().message()));
    }
    out.user.allowed_networks.push_back(*network);
  }
  std::vector<std::string> roots = options.roots;
  if (roots.empty()) {
    // The default root: "data" beside the database, made so that it is there to put files in.
    std::filesystem::path dir = std::filesystem::absolute(db_path).parent_path() / "data";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("data-root: cannot create ", dir.string(), ": ", ec.message()));
    }
    roots.push_back(dir.string());
  }
  for (const std::string& root : roots) {
    auto resolved = ResolveRoot("data-root", root);
    if (!resolved.ok()) return resolved.status();
    out.user.file_roots.push_back(*resolved);
  }
  out.staff = out.user;
  for (const std::string& root : options.staff_roots) {
    auto resolved = ResolveRoot("staff-data-root", root);
    if (!resolved.ok()) return resolved.status();
    out.staff.file_roots.push_back(*resolved);
  }
  return out;
}

}  // namespace backtest::jobs
