// Which market data a run may read: the operator's data access policy (docs/data-access.md).
//
// file:///dir must lie inside one of the allowed roots once every symlink is resolved; the files are
// opened beneath the root by the kernel (openat2 with RESOLVE_BENEATH), so a symlink or a ".."
// that leaves the root is refused where the file is opened, not only where the URL is checked.
// http(s):// URLs must match an allowed prefix or host (when the list is not empty), and every
// address the fetch connects to (redirects and DNS answers included) must be public or inside a
// network the operator allowed: loopback, link-local, private and reserved addresses are refused.
// A refusal is PermissionDenied naming data_source, and reads the same whether a path exists or not.
//
// Immutable once built; safe to share between threads.
#ifndef BACKTEST_SERVER_ENGINE_DATA_DATA_POLICY_H_
#define BACKTEST_SERVER_ENGINE_DATA_DATA_POLICY_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace backtest::engine {

// An address range: "10.0.0.0/8", "fd00::/8", or one address ("127.0.0.1" is 127.0.0.1/32).
// IPv4 is held as its IPv4-mapped IPv6 form.
struct IpNetwork {
  std::array<uint8_t, 16> address = {};
  int prefix_bits = 0;

  bool Contains(const std::array<uint8_t, 16>& a) const;
  std::string ToString() const;
};

// InvalidArgument naming the text unless it is an address or address/prefix-length.
absl::StatusOr<IpNetwork> ParseIpNetwork(absl::string_view text);

struct DataPolicy {
  // Off (the default), a run reads whatever its process can: the engine CLI, benchmarks and tests
  // on their own files. backtestd always turns it on for jobs.
  bool enforced = false;
  // Absolute directories without symlinks (the server resolves them at start); file:///dir must
  // be one of them or inside one. None: file:// is refused.
  std::vector<std::string> file_roots;
  // Entries "http(s)://prefix" (the URL must be it or continue it with '/' or '?') or host names
  // (the URL's host must be it). Empty: any host.
  std::vector<std::string> url_allow;
  // Non-public addresses allowed anyway (a data server on the operator's own network).
  std::vector<IpNetwork> allowed_networks;
};

// The directory of a file:///dir URL: percent-decoded, '.' and '..' applied to the text (never
// above "/"), no trailing slash. InvalidArgument naming data_source for a malformed escape or a
// control character (a NUL would cut the path short where it is opened).
absl::StatusOr<std::string> FileUrlDir(absl::string_view url);

// Checks a validated data_source against the policy without touching the file system or the
// network: a file:// directory inside a root; an http(s) URL matching url_allow whose host, when
// it is an IP address, is allowed. OkStatus when the policy is not enforced.
absl::Status CheckDataSource(absl::string_view url, const DataPolicy& policy);

// Checks one http(s) URL (a request or a redirect's target) against url_allow and, for an IP
// address as host, the address rules.
absl::Status CheckUrl(absl::string_view url, const DataPolicy& policy);

// Checks an address a fetch is about to connect to. PermissionDenied saying which kind of address
// it is (loopback, private, link-local, …) unless it is public or inside allowed_networks.
absl::Status CheckAddress(const sockaddr* address, const DataPolicy& policy);

// The root of the policy that `dir` (as FileUrlDir gives it) lies in, and the path below it
// ("" for the root itself). PermissionDenied naming data_source when it lies in none.
struct RootedDir {
  std::string root;
  std::string relative;
};
absl::StatusOr<RootedDir> FindRoot(const std::string& dir, const DataPolicy& policy);

// Opens `relative` (no leading '/') for reading beneath the directory `root`: every component,
// symlinks included, must resolve inside it (an absolute symlink may lead into any root of
// `policy`), and the file must be a regular file on a disk file system (not /proc, /sys or a
// device). Returns the descriptor (the caller closes it). NotFound when it does not exist inside
// the root; PermissionDenied when the path leaves the roots (whether its target exists or not) or
// names something that is not a plain file.
absl::StatusOr<int> OpenBeneath(const std::string& root, const std::string& relative,
                                const DataPolicy& policy);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_DATA_POLICY_H_
