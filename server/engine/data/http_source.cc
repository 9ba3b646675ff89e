#include "server/engine/data/http_source.h"

#include <sys/socket.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/csv_reader.h"
#include "server/engine/data/curl_api.h"

namespace backtest::engine {
namespace {

struct Sink {
  std::string body;
  int64_t cap = 0;
  bool overflow = false;
};

size_t Write(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t n = size * nmemb;
  if (static_cast<int64_t>(sink->body.size() + n) > sink->cap) {
    sink->overflow = true;
    return 0;  // makes curl abort the transfer
  }
  sink->body.append(data, n);
  return n;
}

// Asked by curl for every socket it opens: the address it will connect to, after DNS, for the
// request and each redirect alike. A refused address gets no socket (curl tries the next one).
struct SocketGuard {
  const DataPolicy* policy = nullptr;
  absl::Status refused;
};

curl_socket_t OpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* guard = static_cast<SocketGuard*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  absl::Status allowed = CheckAddress(&address->addr, *guard->policy);
  if (!allowed.ok()) {
    guard->refused = std::move(allowed);
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}


std::string Escape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out.push_back('%');
      out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
      out.push_back(kHex[static_cast<unsigned char>(c) & 15]);
    }
  }
  return out;
}

}  // namespace

std::string HttpSource::UrlFor(const FetchRequest& req) const {
  return absl::StrCat(base_, "/ohlc?symbol=", Escape(req.symbol),
                      "&timeframe=", TimeframeName(req.timeframe),
                      "&start=", Escape(IsoTime(req.start)), "&end=", Escape(IsoTime(req.end)));
}

absl::StatusOr<HttpSource::Response> HttpSource::Get(const std::string& url) const {
  const CurlApi& api = Curl();  // thread-safe first load (static initialization)
  if (!api.error.empty()) return absl::UnavailableError(api.error);
  std::unique_ptr<CURL, void (*)(CURL*)> curl(api.easy_init(), api.easy_cleanup);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* c = curl.get();
  Sink sink;
  sink.cap = options_.max_response_bytes;
  SocketGuard guard{.policy = &policy_};
  char error[CURL_ERROR_SIZE] = {0};
  api.easy_setopt(c, CURLOPT_URL, url.c_str());
  api.easy_setopt(c, CURLOPT_WRITEFUNCTION, &Write);
  api.easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  api.easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  api.easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout_ms));
  api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // Redirects are followed by Fetch, each target checked against the policy first.
  api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  api.easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  if (policy_.enforced) {
    api.easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, &OpenSocket);
    api.easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
    api.easy_setopt(c, CURLOPT_PROXY, "");  // a proxy's address would be the one checked
  }
  const CURLcode rc = api.easy_perform(c);
  if (sink.overflow) {
    return absl::ResourceExhaustedError(absl::StrCat(
        url, ": response larger than ", options_.max_response_bytes, " bytes"));
  }
  // A refused address fails the fetch only when no other address of the host was connected to.
  if (rc != CURLE_OK && !guard.refused.ok()) return guard.refused;
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(url, ": timed out (", error, ")"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(url, ": ", error[0] ? error : api.easy_strerror(rc)));
  }
  Response response;
  api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.code);
  char* location = nullptr;
  api.easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
  if (location != nullptr) response.redirect = location;
  response.body = std::move(sink.body);
  return response;
}

absl::StatusOr<BarSeries> HttpSource::Fetch(const FetchRequest& req) {
  const std::string first = UrlFor(req);
  std::string url = first;
  for (int hops = 0;; ++hops) {
    if (absl::Status allowed = CheckUrl(url, policy_); !allowed.ok()) {
      if (hops == 0) return allowed;
      return absl::Status(allowed.code(),
                          absl::StrCat(first, " redirects to a refused URL: ", allowed.message()));
    }
    auto response = Get(url);
    if (!response.ok()) return response.status();
    if (response->code >= 300 && response->code < 400 && !response->redirect.empty()) {
      if (hops == kMaxRedirects) {
        return absl::UnavailableError(
            absl::StrCat(first, ": more than ", kMaxRedirects, " redirects"));
      }
      url = response->redirect;
      continue;
    }
    if (response->code == 404) {
      return absl::NotFoundError(absl::StrCat(url, ": HTTP 404 (no data for ", req.symbol, ")"));
    }
    if (response->code != 200) {
      return absl::UnavailableError(absl::StrCat(url, ": HTTP ", response->code));
    }
    return ParseCsv(response->body, url);
  }
}

}  // namespace backtest::engine
