#include "server/engine/data/data_policy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/engine/data/curl_api.h"

namespace backtest::engine {
namespace {

using Address = std::array<uint8_t, 16>;

Address MappedV4(const uint8_t v4[4]) {
  Address a = {};
  a[10] = a[11] = 0xff;
  std::memcpy(a.data() + 12, v4, 4);
  return a;
}

// What kind of address a non-public IPv4 address is, or "" for a public one.
const char* V4Kind(const uint8_t* b) {
  if (b[0] == 0) return "unspecified";
  if (b[0] == 127) return "loopback";
  if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168)) {
    return "private";
  }
  if (b[0] == 100 && (b[1] & 0xc0) == 64) return "private";  // shared address space (CGNAT)
  if (b[0] == 169 && b[1] == 254) return "link-local";       // cloud metadata endpoints live here
  if (b[0] >= 224 && b[0] < 240) return "multicast";
  if (b[0] >= 240) return "reserved";
  if ((b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2)) ||
      (b[0] == 198 && (b[1] & 0xfe) == 18) || (b[0] == 198 && b[1] == 51 && b[2] == 100) ||
      (b[0] == 203 && b[1] == 0 && b[2] == 113)) {
    return "reserved";
  }
  return "";
}

// The same for any address (IPv4 in its mapped form); addresses that embed an IPv4 address
// (mapped, NAT64, 6to4) are judged by it.
const char* AddressKind(const Address& a) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a.data(), kMapped, 12) == 0 || std::memcmp(a.data(), kNat64, 12) == 0) {
    return V4Kind(a.data() + 12);
  }
  if (a[0] == 0x20 && a[1] == 0x02) return V4Kind(a.data() + 2);  // 6to4
  bool zero_head = true;
  for (int i = 0; i < 15; ++i) zero_head = zero_head && a[i] == 0;
  if (zero_head && a[15] == 1) return "loopback";
  if (zero_head && a[15] == 0) return "unspecified";
  bool compat = true;  // ::/96, IPv4-compatible (deprecated)
  for (int i = 0; i < 12; ++i) compat = compat && a[i] == 0;
  if (compat) return "reserved";
  if ((a[0] & 0xfe) == 0xfc) return "private";                      // unique local
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return "link-local";
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return "private";      // site-local (deprecated)
  if (a[0] == 0xff) return "multicast";
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return "reserved";
  if (a[0] == 0x01 && a[1] == 0x00 && a[2] == 0 && a[3] == 0 && a[4] == 0 && a[5] == 0 &&
      a[6] == 0 && a[7] == 0) {
    return "reserved";  // discard prefix
  }
  return "";
}

std::optional<Address> ParseAddress(absl::string_view text) {
  std::string s(text);
  uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return MappedV4(buf);
  Address a;
  if (inet_pton(AF_INET6, s.c_str(), a.data()) == 1) return a;
  return std::nullopt;
}

std::string AddressText(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.data(), kMapped, 12) == 0) {
    inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  }
  return buf;
}

absl::Status CheckAddressBytes(const Address& a, const DataPolicy& policy) {
  const char* kind = AddressKind(a);
  if (*kind == '\0') return absl::OkStatus();
  for (const IpNetwork& n : policy.allowed_networks) {
    if (n.Contains(a)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("data_source: ", AddressText(a), " is a ", kind,
                   " address, which the server's data access policy does not allow"));
}

absl::Status Refused(absl::string_view url, absl::string_view why) {
  return absl::PermissionDeniedError(
      absl::StrCat("data_source: ", url.substr(0, 200), " is not allowed: ", why));
}

// The scheme and host of an http(s) URL as libcurl reads it (the same parser that will fetch it,
// so a URL cannot mean one host here and another there). Host lower-cased, IPv6 without brackets.
absl::StatusOr<std::pair<std::string, std::string>> SchemeAndHost(absl::string_view url) {
  const CurlApi& api = Curl();
  if (!api.error.empty()) return absl::UnavailableError(api.error);
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(api.url(), api.url_cleanup);
  if (u == nullptr) return absl::ResourceExhaustedError("out of memory parsing a URL");
  const std::string text(url);
  if (api.url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("data_source: ", url.substr(0, 200), " is not a valid URL"));
  }
  std::string parts[2];
  const CURLUPart which[2] = {CURLUPART_SCHEME, CURLUPART_HOST};
  for (int i = 0; i < 2; ++i) {
    char* part = nullptr;
    if (api.url_get(u.get(), which[i], &part, 0) != CURLUE_OK || part == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data_source: ", url.substr(0, 200), " has no ", i == 0 ? "scheme" : "host"));
    }
    parts[i] = absl::AsciiStrToLower(part);
    api.free(part);
  }
  std::string host = parts[1];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(parts[0], host);
}

bool MatchesEntry(absl::string_view url, absl::string_view host, absl::string_view entry) {
  if (!absl::StrContains(entry, "://")) return absl::EqualsIgnoreCase(host, entry);
  if (absl::EndsWith(entry, "/")) return absl::StartsWith(url, entry);
  if (!absl::StartsWith(url, entry)) return false;
  // "https://data.example.com" must not admit "https://data.example.com.evil.net".
  return url.size() == entry.size() || url[entry.size()] == '/' || url[entry.size()] == '?';
}

}  // namespace

bool IpNetwork::Contains(const Address& a) const {
  int bits = prefix_bits;
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (address[i] & mask)) return false;
  }
  return true;
}

std::string IpNetwork::ToString() const {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  const bool v4 = std::memcmp(address.data(), kMapped, 12) == 0 && prefix_bits >= 96;
  return absl::StrCat(AddressText(address), "/", v4 ? prefix_bits - 96 : prefix_bits);
}

absl::StatusOr<IpNetwork> ParseIpNetwork(absl::string_view text) {
  std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text.substr(0, 64), "\" is not an IP address or network (e.g. 10.0.0.0/8, fd00::/8)"));
  };
  auto address = ParseAddress(parts.first);
  if (!address) return bad();
  const bool v4 = absl::StrContains(parts.first, '.') && !absl::StrContains(parts.first, ':');
  int bits = v4 ? 32 : 128;
  if (!parts.second.empty() || absl::StrContains(text, '/')) {
    if (!absl::SimpleAtoi(parts.second, &bits) || bits < 0 || bits > (v4 ? 32 : 128)) return bad();
  }
  return IpNetwork{.address = *address, .prefix_bits = v4 ? bits + 96 : bits};
}

absl::StatusOr<std::string> FileUrlDir(absl::string_view url) {
  if (!absl::ConsumePrefix(&url, "file://") || !absl::StartsWith(url, "/")) {
    return absl::InvalidArgumentError("data_source: a file URL is file:///dir");
  }
  std::string decoded;
  for (size_t i = 0; i < url.size(); ++i) {
    char c = url[i];
    if (c == '%') {
      int hi = i + 2 < url.size() ? absl::ascii_isxdigit(url[i + 1]) : 0;
      int lo = i + 2 < url.size() ? absl::ascii_isxdigit(url[i + 2]) : 0;
      if (!hi || !lo) {
        return absl::InvalidArgumentError("data_source: a '%' in a file URL must start an escape like %20");
      }
      auto digit = [](char h) { return absl::ascii_isdigit(h) ? h - '0' : (h | 0x20) - 'a' + 10; };
      c = static_cast<char>(digit(url[i + 1]) * 16 + digit(url[i + 2]));
      i += 2;
    }
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(
          "data_source: file:// paths must not contain control characters");
    }
    decoded.push_back(c);
  }
  std::string dir;
  for (absl::string_view part : absl::StrSplit(decoded, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError("data_source: file:// paths must not contain '..'");
    }
    absl::StrAppend(&dir, "/", part);
  }
  return dir.empty() ? std::string("/") : dir;
}

absl::StatusOr<RootedDir> FindRoot(const std::string& dir, const DataPolicy& policy) {
  for (const std::string& root : policy.file_roots) {
    if (root == "/") return RootedDir{root, dir.substr(1)};
    if (dir == root) return RootedDir{root, ""};
    if (absl::StartsWith(dir, root) && dir[root.size()] == '/') {
      return RootedDir{root, dir.substr(root.size() + 1)};
    }
  }
  return Refused(absl::StrCat("file://", dir), "it is outside the allowed data roots");
}

absl::Status CheckUrl(absl::string_view url, const DataPolicy& policy) {
  if (!policy.enforced) return absl::OkStatus();
  auto scheme_host = SchemeAndHost(url);
  if (!scheme_host.ok()) return scheme_host.status();
  const auto& [scheme, host] = *scheme_host;
  if (scheme != "http" && scheme != "https") return Refused(url, "only http(s) is fetched");
  if (!policy.url_allow.empty()) {
    bool allowed = false;
    for (const std::string& entry : policy.url_allow) allowed = allowed || MatchesEntry(url, host, entry);
    if (!allowed) return Refused(url, "it matches none of the allowed URL prefixes and hosts");
  }
  if (auto literal = ParseAddress(host)) return CheckAddressBytes(*literal, policy);
  return absl::OkStatus();
}

absl::Status CheckDataSource(absl::string_view url, const DataPolicy& policy) {
  if (!policy.enforced || url == "sample://") return absl::OkStatus();
  if (absl::StartsWith(url, "file:")) {
    auto dir = FileUrlDir(url);
    if (!dir.ok()) return dir.status();
    return FindRoot(*dir, policy).status();
  }
  return CheckUrl(url, policy);
}

absl::Status CheckAddress(const sockaddr* address, const DataPolicy& policy) {
  if (!policy.enforced) return absl::OkStatus();
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return CheckAddressBytes(MappedV4(reinterpret_cast<const uint8_t*>(&in->sin_addr)), policy);
  }
  if (address->sa_family == AF_INET6) {
    Address a;
    std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, 16);
    return CheckAddressBytes(a, policy);
  }
  return absl::PermissionDeniedError(
      "data_source: only IPv4 and IPv6 addresses are fetched from");
}

namespace {

bool InsideARoot(absl::string_view path, const DataPolicy& policy) {
  for (const std::string& root : policy.file_roots) {
    if (root == "/" || path == root ||
        (absl::StartsWith(path, root) && path.size() > root.size() && path[root.size()] == '/')) {
      return true;
    }
  }
  return false;
}

// After RESOLVE_BENEATH refused `path` (an absolute symlink, or a ".." above the root, on the
// way): an absolute symlink may still lead back inside a root, so the path is opened once more
// following everything, as O_PATH (nothing is read), and the file reached is kept only when its
// own path lies in a root. A path that leads nowhere is refused as one leading outside is, so the
// answer never tells whether a file outside the roots exists.
int ReopenIfInsideARoot(int root_fd, const std::string& path, const DataPolicy& policy) {
  const int path_fd = ::openat(root_fd, path.c_str(), O_PATH | O_CLOEXEC);
  if (path_fd < 0) return -1;
  const std::string link = absl::StrCat("/proc/self/fd/", path_fd);
  char real[PATH_MAX];
  const ssize_t n = ::readlink(link.c_str(), real, sizeof real);
  int fd = -1;
  if (n > 0 && static_cast<size_t>(n) < sizeof real &&
      InsideARoot(absl::string_view(real, static_cast<size_t>(n)), policy)) {
    fd = ::open(link.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);  // the same file
  }
  ::close(path_fd);
  return fd;
}

}  // namespace

absl::StatusOr<int> OpenBeneath(const std::string& root, const std::string& relative,
                                const DataPolicy& policy) {
  const int root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the data root ", root, " cannot be opened: ", std::strerror(errno)));
  }
  open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const std::string path = relative.empty() ? "." : relative;
  int fd;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  int e = errno;
  if (fd < 0 && e == EXDEV) {
    fd = ReopenIfInsideARoot(root_fd, path, policy);
    e = EXDEV;
  }
  ::close(root_fd);
  const std::string shown = absl::StrCat(root == "/" ? "" : root, "/", relative);
  if (fd < 0) {
    switch (e) {
      case ENOENT:
      case ENOTDIR: return absl::NotFoundError(absl::StrCat(shown, ": no such file"));
      case EXDEV:
      case ELOOP:
        return Refused(absl::StrCat("file://", shown), "the path leads outside the allowed data roots");
      case ENOSYS:
        return absl::FailedPreconditionError(
            "this kernel lacks openat2 (Linux 5.6 or later), which confines file:// data to its "
            "roots");
      default: return absl::PermissionDeniedError(absl::StrCat(shown, ": ", std::strerror(e)));
    }
  }
  struct stat st;
  struct statfs fs;
  if (::fstat(fd, &st) != 0 || ::fstatfs(fd, &fs) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::PermissionDeniedError(absl::StrCat(shown, ": ", std::strerror(err)));
  }
  switch (static_cast<unsigned long>(fs.f_type)) {
    case PROC_SUPER_MAGIC: case SYSFS_MAGIC: case DEBUGFS_MAGIC: case SECURITYFS_MAGIC:
    case TRACEFS_MAGIC: case CGROUP_SUPER_MAGIC: case CGROUP2_SUPER_MAGIC:
    case DEVPTS_SUPER_MAGIC: case BPF_FS_MAGIC: case EFIVARFS_MAGIC: case PSTOREFS_MAGIC:
    case BINFMTFS_MAGIC: case NSFS_MAGIC: case SELINUX_MAGIC: case SMACK_MAGIC:
      ::close(fd);
      return Refused(absl::StrCat("file://", shown), "it is on a system file system, not data");
    default: break;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Refused(absl::StrCat("file://", shown), "it is not a regular file");
  }
  return fd;
}

}  // namespace backtest::engine
