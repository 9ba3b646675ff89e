// The native side of one SDK strategy run: what the Python objects of a run (Session, Indicator,
// Bar) share with the engine's ExternalStrategy, and the ExternalLogic that calls the Python
// strategy (PyLogic). All of it runs on the thread that holds the GIL and runs the backtest.
#ifndef BACKTEST_SDK_NATIVE_SESSION_H_
#define BACKTEST_SDK_NATIVE_SESSION_H_

#include <nanobind/nanobind.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/engine/strategies/external_strategy.h"

namespace backtest::sdk {

namespace nb = nanobind;

// Shared by the run's Python objects; `strategy` is null before and after the run, so an object
// kept past it answers "the run is over" instead of reading freed memory.
struct SessionState {
  engine::ExternalStrategy* strategy = nullptr;
  nb::object start;  // the Python layer's start(session): binds the strategy, sets callbacks
  nb::object session;  // the Session object given to start (made once)
  nb::object bar;      // the Bar object given to on_bar (one object for the whole run)
  nb::object on_bar, on_fill, on_stop;  // None when the strategy has none
  std::vector<nb::object> keep;         // the signal arrays (they must outlive the run)
  std::optional<nb::python_error> error;  // the strategy's exception that ended the run
};

// The ExternalLogic of a Python strategy: each call goes to the Python layer; a Python exception is
// kept (SessionState::error) and ends the run with Aborted("FILE:LINE in FUNCTION: Type: message").
class PyLogic : public engine::ExternalLogic {
 public:
  explicit PyLogic(std::shared_ptr<SessionState> state) : state_(std::move(state)) {}
  ~PyLogic() override;

  absl::Status Start(engine::ExternalStrategy& strategy) override;
  absl::Status Bar(engine::ExternalStrategy& strategy) override;
  absl::Status Fill(engine::ExternalStrategy& strategy, const engine::FillInfo& fill) override;
  absl::Status Stop(engine::ExternalStrategy& strategy) override;

 private:
  std::shared_ptr<SessionState> state_;
};

// One run of a Python strategy: the state its Python objects share and the engine's factory of
// its PyLogic (RunOptions::external_strategy). `start(session)` binds the strategy (the Python
// layer's bind). Made, used and destroyed with the GIL held.
class PyRun {
 public:
  explicit PyRun(nb::object start);
  ~PyRun() { Release(); }
  PyRun(const PyRun&) = delete;
  PyRun& operator=(const PyRun&) = delete;

  engine::StrategyFactory Factory() const;
  // Ends the run's hold on its Python objects (and the cycle state → bar → state) once the run
  // is over; returns the strategy's exception that ended it, if any.
  std::optional<nb::python_error> Release();

 private:
  std::shared_ptr<SessionState> state_;
};

// Keeps the exception being handled and returns the run's status for it.
absl::Status KeepPythonError(SessionState& state, nb::python_error& error);

// The one line a failure shows: the traceback's last frame and the message.
std::string DescribePythonError(nb::python_error& error);

// The run's Session and Bar objects.
nb::object MakeSession(std::shared_ptr<SessionState> state);
nb::object MakeBar(std::shared_ptr<SessionState> state);

// Binds Session, Indicator, Bar and Fill (module.cc calls it).
void BindSession(nb::module_& m);

}  // namespace backtest::sdk

#endif  // BACKTEST_SDK_NATIVE_SESSION_H_
