// libcurl, loaded on first use (dlopen) and not linked: a process that never fetches over HTTP
// (the runner on sample:// or file:// data, the benchmarks, the CLI) does not pay for loading
// libcurl and its ~30 dependencies at start-up (the runner starts per job; cmake/StaticDeps.cmake).
// The engine uses libcurl's headers only.
#ifndef BACKTEST_SERVER_ENGINE_DATA_CURL_API_H_
#define BACKTEST_SERVER_ENGINE_DATA_CURL_API_H_

#include <curl/curl.h>

#include <string>

namespace backtest::engine {

// The libcurl functions the engine calls. Immutable after the first Curl(); thread-safe.
struct CurlApi {
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL* curl, CURLoption option, ...) = nullptr;
  CURLcode (*easy_perform)(CURL* curl) = nullptr;
  CURLcode (*easy_getinfo)(CURL* curl, CURLINFO info, ...) = nullptr;
  void (*easy_cleanup)(CURL* curl) = nullptr;
  const char* (*easy_strerror)(CURLcode code) = nullptr;
  CURLU* (*url)() = nullptr;
  void (*url_cleanup)(CURLU* handle) = nullptr;
  CURLUcode (*url_set)(CURLU* handle, CURLUPart what, const char* part, unsigned int flags) =
      nullptr;
  CURLUcode (*url_get)(const CURLU* handle, CURLUPart what, char** part, unsigned int flags) =
      nullptr;
  void (*free)(void* p) = nullptr;
  // Why libcurl cannot be used (not installed, too old); empty when it can.
  std::string error;
};

// Loads libcurl and runs its global initialization, once per process.
const CurlApi& Curl();

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_CURL_API_H_
