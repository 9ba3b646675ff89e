// The operator's data access settings (flags, docs/data-access.md) turned into the policies the
// runners enforce: one for users, a wider one for staff.
#ifndef BACKTEST_SERVER_JOBS_DATA_ACCESS_H_
#define BACKTEST_SERVER_JOBS_DATA_ACCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/data/data_policy.h"

namespace backtest::jobs {

struct DataAccessOptions {
  // Directories file:// data may come from. Empty: the folder "data" beside the database,
  // created when missing.
  std::vector<std::string> roots;
  // More directories for staff users.
  std::vector<std::string> staff_roots;
  // http(s) URL prefixes or host names a data_source must match; empty: any host.
  std::vector<std::string> url_allow;
  // Networks whose loopback, private or link-local addresses may be fetched from.
  std::vector<std::string> allowed_networks;
};

struct DataPolicies {
  engine::DataPolicy user;
  engine::DataPolicy staff;
};

// Resolves every root (symlinks too; it must be an existing directory) and parses the networks.
// InvalidArgument naming the setting and value that is wrong.
absl::StatusOr<DataPolicies> ResolveDataAccess(const DataAccessOptions& options,
                                               const std::string& db_path);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_DATA_ACCESS_H_
