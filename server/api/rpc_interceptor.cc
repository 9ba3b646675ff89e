#include "server/api/rpc_interceptor.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/message_lite.h"
#include "nlohmann/json.hpp"
#include "server/api/auth.h"
#include "server/log_format.h"
#include "server/metrics/server_metrics.h"

namespace backtest::api {
namespace {

using grpc::experimental::InterceptionHookPoints;

constexpr const char* kRequestIdKey = "x-request-id";
constexpr const char* kOtherMethod = "other";
// The default health service speaks ByteBuffers, not generated messages.
constexpr std::string_view kHealthPrefix = "/grpc.health.v1.";

// The names of grpc::StatusCode, as gRPC's documentation spells them.
const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",        "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
}

// 32 hex digits, as the gateway makes them.
std::string NewRequestId() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return absl::StrFormat("%016x%016x", random(), random());
}

std::string_view View(const grpc::string_ref& ref) { return {ref.data(), ref.size()}; }

class RpcInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcInterceptor(grpc::experimental::ServerRpcInfo* info, Authenticator* auth, bool json)
      : info_(info), auth_(auth), json_(json),
        method_(info->method() != nullptr ? info->method() : "unknown"),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      TakeRequestId(*methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      CountReceived(methods->GetRecvMessage());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (grpc::ByteBuffer* sent = methods->GetSerializedSendMessage()) bytes_out_ += sent->Length();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Ended(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  // The client's id when well-formed; else a new one in its place (the strings the map refers
  // to live in this interceptor, as long as the call).
  void TakeRequestId(std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
    auto [first, last] = metadata.equal_range(kRequestIdKey);
    if (first != last && std::next(first) == last && ValidRequestId(View(first->second))) {
      request_id_ = std::string(View(first->second));
      return;
    }
    metadata.erase(first, last);
    request_id_ = NewRequestId();
    metadata.emplace(kRequestIdKey, request_id_);
  }

  void CountReceived(void* message) {
    if (message == nullptr) return;
    if (std::string_view(method_).substr(0, kHealthPrefix.size()) == kHealthPrefix) {
      bytes_in_ += static_cast<grpc::ByteBuffer*>(message)->Length();
    } else {
      bytes_in_ += static_cast<google::protobuf::MessageLite*>(message)->ByteSizeLong();
    }
  }

  // The name of the token's user; "-" without a valid one.
  std::string User(grpc::StatusCode code) {
    if (auth_ == nullptr || code == grpc::StatusCode::UNAUTHENTICATED) return "-";
    const auto& metadata = info_->server_context()->client_metadata();
    auto it = metadata.find("authorization");
    if (it == metadata.end()) return "-";
    absl::StatusOr<Caller> caller =
        auth_->AuthenticateHeader(absl::string_view(it->second.data(), it->second.size()));
    return caller.ok() ? caller->name : "-";
  }

  void Ended(grpc::StatusCode code) {
    const double seconds = metrics::SecondsSince(start_);
    // A method nobody serves is named by the caller: one label for all of them keeps the
    // metrics' size bounded whatever names come in.
    const std::string label = code == grpc::StatusCode::UNIMPLEMENTED ? kOtherMethod : method_;
    metrics::ServerMetrics& m = metrics::ServerMetrics::Get();
    m.rpcs.With({label, CodeName(code)}).Inc();
    m.rpc_duration.With({label}).Observe(seconds);
    std::shared_ptr<spdlog::logger> logger = spdlog::get(kAccessLogger);
    if (logger == nullptr) logger = spdlog::default_logger();
    // Health checks come every few seconds from probes: only at debug level.
    const bool health = std::string_view(method_).substr(0, kHealthPrefix.size()) == kHealthPrefix;
    const spdlog::level::level_enum level = health ? spdlog::level::debug : spdlog::level::info;
    if (!logger->should_log(level)) return;
    const std::string user = User(code);
    const std::string peer = info_->server_context()->peer();
    if (json_) {
      nlohmann::ordered_json line = {{"msg", "rpc"},          {"method", method_},
                             {"user", user},          {"code", CodeName(code)},
                             {"duration_ms", std::round(seconds * 1e6) / 1e3}, {"bytes_in", bytes_in_},
                             {"bytes_out", bytes_out_}, {"request_id", request_id_},
                             {"peer", peer}};
      logger->log(level, "{}",
                  line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    } else {
      logger->log(level, "rpc {} user={} code={} ms={:.3f} in={} out={} request_id={} peer={}",
                  method_, user, CodeName(code), seconds * 1000, bytes_in_, bytes_out_,
                  request_id_, peer);
    }
  }

  grpc::experimental::ServerRpcInfo* info_;
  Authenticator* auth_;
  bool json_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
  std::string request_id_;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace

grpc::experimental::Interceptor* RpcInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcInterceptor(info, auth_, json_);  // gRPC deletes it when the call ends
}

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':') {
      return false;
    }
  }
  return true;
}

std::string RequestId(const grpc::ServerContextBase& context) {
  auto it = context.client_metadata().find(kRequestIdKey);
  return it == context.client_metadata().end() ? std::string()
                                               : std::string(it->second.data(), it->second.size());
}

}  // namespace backtest::api
