// The http(s) source against a tiny in-process HTTP server on 127.0.0.1 (an ephemeral port).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/data/http_source.h"
#include "tests/testing/status_matchers.h"

namespace backtest::engine {
namespace {

using ::testing::HasSubstr;

// Answers its first connections with canned responses, one each, in order, and records the last
// request. Owns its thread.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response)
      : OneShotServer(std::vector<std::string>{std::move(response)}) {}
  explicit OneShotServer(std::vector<std::string> responses) : responses_(std::move(responses)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 4);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (const std::string& response : responses_) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        ssize_t n = read(c, buf, sizeof buf);
        if (n > 0) request_.assign(buf, static_cast<size_t>(n));
        (void)!write(c, response.data(), response.size());
        close(c);
      }
    });
  }
  ~OneShotServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  const std::string& request() const { return request_; }

 private:
  std::vector<std::string> responses_;
  int fd_ = -1;
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

std::string Http(int code, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Type: text/csv\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

FetchRequest Request() { return {"EURUSD", Timeframe::kH1, 1600000000, 1600010000, true}; }

TEST(HttpSourceTest, FetchesAndParsesCsv) {
  OneShotServer server(Http(200, "time,open,high,low,close\n1600002000,1.1,1.2,1.0,1.15\n"));
  HttpSource src(server.base(), HttpOptions{});
  auto bars = src.Fetch(Request());
  ASSERT_TRUE(bars.ok()) << bars.status();
  EXPECT_EQ(bars->size(), 1u);
  EXPECT_EQ(bars->close[0], 1.15);
  EXPECT_THAT(server.request(),
              HasSubstr("GET /ohlc?symbol=EURUSD&timeframe=H1&start=2020-09-13T12%3A26%3A40Z"));
}

TEST(HttpSourceTest, ErrorsNameTheUrlAndLine) {
  {
    OneShotServer server(Http(200, "time,open,high,low,close\n1600002000,1.1,1.0,1.2,1.15\n"));
    auto bars = HttpSource(server.base(), HttpOptions{}).Fetch(Request());
    EXPECT_EQ(bars.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bars.status().message(), HasSubstr("/ohlc?symbol=EURUSD"));
    EXPECT_THAT(bars.status().message(), HasSubstr(":2: high 1 < low 1.2"));
  }
  {
    OneShotServer server(Http(404, "no such symbol"));
    auto bars = HttpSource(server.base(), HttpOptions{}).Fetch(Request());
    EXPECT_EQ(bars.status().code(), absl::StatusCode::kNotFound);
  }
  {
    OneShotServer server(Http(500, "oops"));
    auto bars = HttpSource(server.base(), HttpOptions{}).Fetch(Request());
    EXPECT_EQ(bars.status().code(), absl::StatusCode::kUnavailable);
  }
  {
    OneShotServer server(Http(200, std::string(5000, '1')));
    HttpOptions small;
    small.max_response_bytes = 1000;
    auto bars = HttpSource(server.base(), small).Fetch(Request());
    EXPECT_EQ(bars.status().code(), absl::StatusCode::kResourceExhausted);
  }
}

std::string Redirect(const std::string& location) {
  return "HTTP/1.1 302 Found\r\nLocation: " + location +
         "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

// The policy of a server whose data comes from this machine's loopback only.
DataPolicy LoopbackPolicy() {
  DataPolicy policy;
  policy.enforced = true;
  policy.allowed_networks = {*ParseIpNetwork("127.0.0.1")};
  return policy;
}

TEST(HttpSourceTest, FollowsAllowedRedirects) {
  OneShotServer server(
      {Redirect("/moved"), Http(200, "time,open,high,low,close\n1600002000,1,1,1,1\n")});
  auto bars = HttpSource(server.base(), HttpOptions{}, LoopbackPolicy()).Fetch(Request());
  ASSERT_TRUE(bars.ok()) << bars.status();
  EXPECT_EQ(bars->size(), 1u);
  EXPECT_THAT(server.request(), HasSubstr("GET /moved "));
}

TEST(HttpSourceTest, RefusesRedirectsToRefusedAddressesAndPrefixes) {
  {
    // A cloud metadata address, named as a literal.
    OneShotServer server(Redirect("http://169.254.169.254/latest/meta-data/"));
    auto bars = HttpSource(server.base(), HttpOptions{}, LoopbackPolicy()).Fetch(Request());
    EXPECT_THAT(bars.status(), backtest::testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                                           HasSubstr("link-local")));
  }
  {
    // Out of the allowed prefix, on an allowed address.
    OneShotServer server(Redirect("http://127.0.0.1:1/elsewhere"));
    DataPolicy policy = LoopbackPolicy();
    policy.url_allow = {server.base() + "/ohlc"};
    auto bars = HttpSource(server.base(), HttpOptions{}, policy).Fetch(Request());
    EXPECT_THAT(bars.status(), backtest::testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                                           HasSubstr("redirects")));
  }
}

TEST(HttpSourceTest, RefusesDnsNamesThatResolveToRefusedAddresses) {
  // "localhost" is a name, not an address: only the connection shows that it is loopback.
  OneShotServer server(Http(200, "time,open,high,low,close\n1600002000,1,1,1,1\n"));
  DataPolicy policy;
  policy.enforced = true;
  HttpSource src("http://localhost:" + std::to_string(server.port()), HttpOptions{}, policy);
  EXPECT_THAT(src.Fetch(Request()).status(),
              backtest::testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                          HasSubstr("loopback")));
  // With loopback allowed the same name is fetched.
  HttpSource allowed("http://localhost:" + std::to_string(server.port()), HttpOptions{},
                     LoopbackPolicy());
  EXPECT_TRUE(allowed.Fetch(Request()).ok());
}

}  // namespace
}  // namespace backtest::engine
