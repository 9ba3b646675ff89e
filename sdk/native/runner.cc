// backtestd._native.Channel: the runner protocol from the Python runner's side
// (`python -m backtestd.runner`, docs/strategies.md). Every frame is written by the runner's own
// C++ code (server/runner/runner_session.h, shared with backtest-runner): the hello, the spec read
// from stdin (and a cancel watched for), heartbeats on their own thread, log and progress frames,
// trace batches, the result with its digest, the run's end.
#include "sdk/native/runner.h"

#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>

#include <memory>
#include <optional>

#include "sdk/native/result_dict.h"
#include "sdk/native/session.h"
#include "sdk/native/sweep.h"
#include "server/engine/digest.h"
#include "server/engine/strategies/external_strategy.h"
#include "server/jobs/frame_codec.h"
#include "server/runner/result_conversion.h"
#include "server/runner/runner_session.h"

namespace backtest::sdk {
namespace {

namespace rv1 = backtest::runner::v1;

class Channel {
 public:
  // Says hello to the server (the protocol's first event).
  explicit Channel(int events_fd) : writer_(runner::StdoutCapture::EventsFd(events_fd)) {
    runner::SendHello(writer_, "backtestd.runner");
    capture_ = std::make_unique<runner::StdoutCapture>(writer_);
  }
  ~Channel() {
    heartbeat_.reset();
    server_.reset();
  }

  // Waits for the spec on stdin (without the GIL: a warm runner waits here), applies its limits,
  // starts the heartbeat and watches for a cancel. None when stdin closed without one (the server
  // went away) or the server speaks another protocol version; the failure is written.
  nb::object ReadSpec() {
    absl::Status accepted;
    {
      nb::gil_scoped_release release;
      accepted = server_->ReadSpec(&spec_)
                     ? runner::AcceptSpec(spec_)
                     : absl::InternalError("the runner could not read its job spec");
    }
    if (!accepted.ok()) {
      runner::Fail(writer_, "internal", std::string(accepted.message()));
      return nb::none();
    }
    heartbeat_ = std::make_unique<runner::Heartbeat>(
        writer_, spec_.heartbeat_interval_ms() > 0 ? spec_.heartbeat_interval_ms() : 500,
        server_.get());  // its thread watches stdin for the cancel too
    nb::dict d;
    d["job_id"] = spec_.job_id();
    nb::dict params;
    for (const auto& [k, v] : spec_.params()) params[k.c_str()] = v;
    d["params"] = params;
    d["trace_max_rows"] = spec_.trace_max_rows();
    d["trace_batch_size"] = spec_.trace_batch_size();
    d["heartbeat_interval_ms"] = spec_.heartbeat_interval_ms();
    d["data_timeout_ms"] = spec_.data_timeout_ms();
    d["cpu_seconds"] = spec_.limits().cpu_seconds();
    d["memory_mb"] = spec_.limits().memory_mb();
    nb::dict policy;
    nb::list roots, urls, networks;
    for (const auto& r : spec_.data_policy().file_roots()) roots.append(r);
    for (const auto& u : spec_.data_policy().url_allow()) urls.append(u);
    for (const auto& n : spec_.data_policy().allowed_networks()) networks.append(n);
    policy["file_roots"] = roots;
    policy["url_allow"] = urls;
    policy["allowed_networks"] = networks;
    d["data_policy"] = policy;
    nb::dict ext;
    ext["kind"] = spec_.external_strategy().kind();
    ext["path"] = spec_.external_strategy().path();
    ext["entry"] = spec_.external_strategy().entry();
    ext["source_hash"] = spec_.external_strategy().source_hash();
    d["external_strategy"] = ext;
    d["sweep"] = spec_.has_sweep();
    return d;
  }

  void Log(const std::string& level, const std::string& text) {
    rv1::RunnerEvent e;
    e.mutable_log()->set_level(level);
    e.mutable_log()->set_text(text);
    writer_.Write(e, /*now=*/false);
  }

  void Progress(const std::string& stage, int64_t done, int64_t total) {
    rv1::RunnerEvent e;
    auto* p = e.mutable_progress();
    p->set_stage(stage);
    p->set_bars_done(done);
    p->set_bars_total(total);
    p->set_fraction(stage == "done" ? 1.0
                    : total > 0     ? static_cast<double>(done) / static_cast<double>(total)
                                    : 0.0);
    writer_.Write(e, /*now=*/false);
  }

  bool Fail(const std::string& code, const std::string& message) {
    runner::Fail(writer_, code, message);
    return writer_.Flush();
  }

  bool SendResult(nb::handle result) {
    engine::RunResult r = ResultFromDict(result);
    nb::gil_scoped_release release;
    return runner::SendResult(writer_, r);
  }

  // Runs an SDK strategy: `start(session)` binds it (backtestd.strategy.bind); `params` are the
  // engine's (the spec's, with the strategy's own names set aside). Returns the exit status; the
  // result or the failure ("strategy" for the strategy's exception) is written.
  int RunSdk(nb::object start, const std::map<std::string, std::string>& params) {
    PyRun run(std::move(start));
    engine::ParamValues values(params.begin(), params.end());
    return runner::RunJob(writer_, spec_, values, run.Factory());
  }

  // Runs the spec's sweep of an SDK strategy (sweep.h): `prepare(params)` answers a
  // combination's (start, engine parameters) or why its values are refused; `base` is the
  // engine's share of the base set. Returns the exit status.
  int RunSdkSweep(nb::object prepare, const std::map<std::string, std::string>& base) {
    return sdk::RunSdkSweep(writer_, spec_, std::move(prepare), base);
  }

  bool Flush() { return writer_.Flush(); }

  // The run's end after its result: finished.
  bool Finish() { return runner::Finish(writer_); }

  // Stops the heartbeat, the cancel watch and the stdout capture (the job's last frame is
  // written).
  void Close() {
    heartbeat_.reset();
    server_.reset();
    capture_.reset();
    writer_.Flush();
  }

 private:
  runner::EventWriter writer_;
  std::unique_ptr<runner::StdoutCapture> capture_;
  std::unique_ptr<runner::ServerChannel> server_ = std::make_unique<runner::ServerChannel>();
  rv1::RunSpec spec_;
  std::unique_ptr<runner::Heartbeat> heartbeat_;
};

nb::bytes EncodeResult(nb::handle result) {
  engine::RunResult r = ResultFromDict(result);
  rv1::RunnerEvent e;
  runner::ToRunOutput(r, e.mutable_result());
  e.mutable_result()->set_digest(engine::ResultDigest(r));
  std::string frame;
  jobs::AppendFrame(e.SerializeAsString(), &frame);
  return nb::bytes(frame.data(), frame.size());
}

}  // namespace

void BindRunner(nb::module_& m) {
  nb::class_<Channel>(m, "Channel", "The runner protocol's frames to the server (events fd).")
      .def(nb::init<int>(), nb::arg("events_fd"))
      .def("read_spec", &Channel::ReadSpec)
      .def("log", &Channel::Log, nb::arg("level"), nb::arg("text"))
      .def("progress", &Channel::Progress, nb::arg("stage"), nb::arg("done"), nb::arg("total"))
      .def("fail", &Channel::Fail, nb::arg("code"), nb::arg("message"))
      .def("send_result", &Channel::SendResult, nb::arg("result"))
      .def("run_sdk", &Channel::RunSdk, nb::arg("start"), nb::arg("params"))
      .def("run_sdk_sweep", &Channel::RunSdkSweep, nb::arg("prepare"), nb::arg("base"))
      .def("finish", &Channel::Finish)
      .def("flush", &Channel::Flush)
      .def("close", &Channel::Close);
  m.def("encode_result", &EncodeResult, nb::arg("result"),
        "The runner's result frame (4-byte length + RunnerEvent) for a result dict.");
  m.def("apply_limits", &runner::ApplyLimits, nb::arg("cpu_seconds"), nb::arg("memory_mb"));
  m.def("install_term_handler", &runner::InstallTermHandler);
  m.def("decode_frames", [](nb::bytes data) {
    // The events a runner wrote, as dicts of their kind: for tests and tools (parts joined).
    jobs::FrameDecoder decoder;
    decoder.Append(static_cast<const char*>(data.data()), data.size());
    nb::list out;
    std::string joined;
    while (true) {
      auto frame = decoder.Next();
      if (!frame.ok()) throw nb::value_error(std::string(frame.status().message()).c_str());
      if (!frame->has_value()) break;
      rv1::RunnerEvent e;
      if (!e.ParseFromString(**frame)) throw nb::value_error("not a RunnerEvent frame");
      if (e.has_part()) {
        joined += e.part().data();
        if (!e.part().last()) continue;
        if (!e.ParseFromString(joined)) throw nb::value_error("parts of no RunnerEvent");
        joined.clear();
      }
      nb::dict d;
      switch (e.event_case()) {
        case rv1::RunnerEvent::kLog:
          d["log"] = nb::make_tuple(e.log().level(), e.log().text());
          break;
        case rv1::RunnerEvent::kProgress:
          d["progress"] = nb::make_tuple(e.progress().stage(), e.progress().bars_done(),
                                         e.progress().bars_total());
          break;
        case rv1::RunnerEvent::kTrace:
          d["trace"] = e.trace().rows_size();
          break;
        case rv1::RunnerEvent::kHeartbeat:
          d["heartbeat"] = e.heartbeat().time_ms();
          break;
        case rv1::RunnerEvent::kHello:
          d["hello"] = nb::make_tuple(e.hello().protocol_version(), e.hello().runner());
          break;
        case rv1::RunnerEvent::kEnd:
          d["end"] = nb::make_tuple(rv1::RunEnd::Outcome_Name(e.end().outcome()), e.end().code(),
                                    e.end().message());
          break;
        case rv1::RunnerEvent::kResult: {
          const rv1::RunOutput& r = e.result();
          nb::dict x;
          x["strategy"] = r.strategy();
          x["digest"] = r.digest();
          x["trades"] = r.trades_size();
          x["markers"] = r.markers_size();
          x["equity_final"] = r.stats().equity_final();
          x["series"] = r.series_size();
          x["candles"] = r.series_size() > 0 ? r.series(0).candle_columns().time_size() +
                                                   r.series(0).candle_columns().time_delta().delta_size()
                                             : 0;
          nb::list lines;
          for (const auto& s : r.series()) {
            for (const auto& l : s.lines()) lines.append(l.name());
          }
          x["lines"] = lines;
          d["result"] = x;
          break;
        }
        default:
          break;
      }
      out.append(d);
    }
    return out;
  }, nb::arg("data"));
}

}  // namespace backtest::sdk
