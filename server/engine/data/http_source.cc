#include "server/engine/data/http_source.h"

#include <curl/curl.h>
#include <dlfcn.h>


#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/csv_reader.h"

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

// libcurl is loaded on first use (dlopen), not linked: a process that never fetches over HTTP
// (the runner on sample:// or file:// data, the benchmarks, the CLI) does not pay for loading
// libcurl and its ~30 dependencies at start-up.
struct CurlApi {
  CURLcode (*global_init)(long flags) = nullptr;
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL* curl, CURLoption option, ...) = nullptr;
  CURLcode (*easy_perform)(CURL* curl) = nullptr;
  CURLcode (*easy_getinfo)(CURL* curl, CURLINFO info, ...) = nullptr;
  void (*easy_cleanup)(CURL* curl) = nullptr;
  const char* (*easy_strerror)(CURLcode code) = nullptr;
  std::string error;
};

template <typename Fn>
bool Bind(void* lib, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  return *fn != nullptr;
}

const CurlApi& Curl() {
  static const CurlApi* api = [] {
    auto* a = new CurlApi();
    void* lib = nullptr;
    for (const char* name : {"libcurl.so.4", "libcurl.so", "libcurl-gnutls.so.4"}) {
      if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
    }
    if (lib == nullptr) {
      a->error = "libcurl is not installed (needed for http(s) data sources)";
      return a;
    }
    bool ok = Bind(lib, "curl_global_init", &a->global_init) &&
              Bind(lib, "curl_easy_init", &a->easy_init) &&
              Bind(lib, "curl_easy_setopt", &a->easy_setopt) &&
              Bind(lib, "curl_easy_perform", &a->easy_perform) &&
              Bind(lib, "curl_easy_getinfo", &a->easy_getinfo) &&
              Bind(lib, "curl_easy_cleanup", &a->easy_cleanup) &&
              Bind(lib, "curl_easy_strerror", &a->easy_strerror);
    if (!ok) {
      a->error = "libcurl lacks a needed function";
      return a;
    }
    a->global_init(CURL_GLOBAL_DEFAULT);
    return a;
  }();
  return *api;
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

absl::StatusOr<BarSeries> HttpSource::Fetch(const FetchRequest& req) {
  const CurlApi& api = Curl();  // thread-safe first load (static initialization)
  if (!api.error.empty()) return absl::UnavailableError(api.error);
  std::string url = UrlFor(req);
  CURL* curl = api.easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  Sink sink;
  sink.cap = options_.max_response_bytes;
  char error[CURL_ERROR_SIZE] = {0};
  api.easy_setopt(curl, CURLOPT_URL, url.c_str());
  api.easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Write);
  api.easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  api.easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  api.easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout_ms));
  api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  api.easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
  api.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  api.easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  CURLcode rc = api.easy_perform(curl);
  long http_code = 0;
  api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_code);
  api.easy_cleanup(curl);
  if (sink.overflow) {
    return absl::ResourceExhaustedError(absl::StrCat(
        url, ": response larger than ", options_.max_response_bytes, " bytes"));
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(url, ": timed out (", error, ")"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(url, ": ", error[0] ? error : api.easy_strerror(rc)));
  }
  if (http_code == 404) {
    return absl::NotFoundError(absl::StrCat(url, ": HTTP 404 (no data for ", req.symbol, ")"));
  }
  if (http_code != 200) {
    return absl::UnavailableError(absl::StrCat(url, ": HTTP ", http_code));
  }
  return ParseCsv(sink.body, url);
}

}  // namespace backtest::engine
