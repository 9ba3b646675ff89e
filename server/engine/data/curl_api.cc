#include "server/engine/data/curl_api.h"

#include <dlfcn.h>

namespace backtest::engine {
namespace {

template <typename Fn>
bool Bind(void* lib, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  return *fn != nullptr;
}

}  // namespace

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
    CURLcode (*global_init)(long flags) = nullptr;
    bool ok = Bind(lib, "curl_global_init", &global_init) &&
              Bind(lib, "curl_easy_init", &a->easy_init) &&
              Bind(lib, "curl_easy_setopt", &a->easy_setopt) &&
              Bind(lib, "curl_easy_perform", &a->easy_perform) &&
              Bind(lib, "curl_easy_getinfo", &a->easy_getinfo) &&
              Bind(lib, "curl_easy_cleanup", &a->easy_cleanup) &&
              Bind(lib, "curl_easy_strerror", &a->easy_strerror) &&
              Bind(lib, "curl_url", &a->url) && Bind(lib, "curl_url_cleanup", &a->url_cleanup) &&
              Bind(lib, "curl_url_set", &a->url_set) && Bind(lib, "curl_url_get", &a->url_get) &&
              Bind(lib, "curl_free", &a->free);
    if (!ok) {
      a->error = "libcurl lacks a needed function (7.62 or later is needed)";
      return a;
    }
    global_init(CURL_GLOBAL_DEFAULT);
    return a;
  }();
  return *api;
}

}  // namespace backtest::engine
