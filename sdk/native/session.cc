// The Python strategy's view of its run (Session, Indicator, Bar, Fill) and the logic that calls
// it. The per-bar path is one call into Python (on_bar with the one Bar object of the run) and,
// from the strategy, a few property reads (an indicator's value, a field of the bar): nanobind's
// cheapest paths (docs/benchmarks.md, "SDK").
#include "sdk/native/session.h"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <nanobind/ndarray.h>

#include <cmath>
#include <stdexcept>

#include "absl/strings/str_cat.h"

namespace backtest::sdk {
namespace {

using engine::ExternalStrategy;

ExternalStrategy& Live(const std::shared_ptr<SessionState>& st) {
  if (st->strategy == nullptr) throw std::runtime_error("the run is over (or has not started)");
  return *st->strategy;
}

void Check(const absl::Status& s) {
  if (s.ok()) return;
  if (s.code() == absl::StatusCode::kInvalidArgument) throw nb::value_error(std::string(s.message()).c_str());
  throw std::runtime_error(std::string(s.message()));
}

engine::PriceField FieldOf(const std::string& name) {
  if (name == "close") return engine::PriceField::kClose;
  if (name == "open") return engine::PriceField::kOpen;
  if (name == "high") return engine::PriceField::kHigh;
  if (name == "low") return engine::PriceField::kLow;
  if (name == "volume") return engine::PriceField::kVolume;
  throw nb::value_error(("source: must be open, high, low, close or volume, got " + name).c_str());
}

engine::IndicatorKind KindOf(const std::string& name) {
  if (name == "sma") return engine::IndicatorKind::kSma;
  if (name == "ema") return engine::IndicatorKind::kEma;
  if (name == "atr") return engine::IndicatorKind::kAtr;
  if (name == "rsi") return engine::IndicatorKind::kRsi;
  if (name == "highest") return engine::IndicatorKind::kHighest;
  if (name == "lowest") return engine::IndicatorKind::kLowest;
  throw nb::value_error(("no indicator " + name).c_str());
}

engine::TraceSection SectionOf(const std::string& name) {
  static const char* kNames[] = {"indicators", "zones", "signal", "filters",
                                 "risk",       "orders", "position"};
  for (int k = 0; k < 7; ++k) {
    if (name == kNames[k]) return static_cast<engine::TraceSection>(k);
  }
  throw nb::value_error(("section: must be one of indicators, zones, signal, filters, risk, "
                         "orders, position; got " + name).c_str());
}

engine::TraceKind TraceKindOf(const std::string& name) {
  if (name == "value") return engine::TraceKind::kValue;
  if (name == "check") return engine::TraceKind::kCheck;
  if (name == "event") return engine::TraceKind::kEvent;
  throw nb::value_error(("kind: must be value, check or event; got " + name).c_str());
}

size_t SymbolIndex(ExternalStrategy& s, const std::optional<std::string>& symbol) {
  if (!symbol) {
    if (!s.in_bar()) throw std::runtime_error("no current bar: name the symbol");
    return s.sym();
  }
  for (size_t k = 0; k < s.symbols(); ++k) {
    if (s.data(k).symbol == *symbol) return k;
  }
  throw nb::value_error(("symbol: " + *symbol + " is not a symbol of this run").c_str());
}

// What a strategy holds for an indicator: its id in the run.
struct Indicator {
  std::shared_ptr<SessionState> st;
  int id;
  std::string label;
};

// The current bar, read where it is (nothing is copied per bar).
struct Bar {
  std::shared_ptr<SessionState> st;
};

struct Fill {
  engine::FillInfo info;
  std::string symbol;
};

struct Session {
  std::shared_ptr<SessionState> st;
};

// A value for a trace payload: bool, int, float, str, None; anything else as its str().
void WriteValue(engine::JsonWriter& w, const std::string& key, nb::handle v) {
  if (v.is_none()) {
    w.NullAt(key);
  } else if (nb::isinstance<bool>(v)) {
    w.BoolAt(key, nb::cast<bool>(v));
  } else if (nb::isinstance<int>(v)) {
    w.IntAt(key, nb::cast<int64_t>(v));
  } else if (nb::isinstance<float>(v)) {
    w.NumAt(key, nb::cast<double>(v));
  } else if (nb::isinstance<nb::str>(v)) {
    w.StrAt(key, nb::cast<std::string>(v));
  } else if (nb::hasattr(v, "__float__")) {
    w.NumAt(key, nb::cast<double>(v.attr("__float__")()));
  } else {
    w.StrAt(key, nb::cast<std::string>(nb::str(v)));
  }
}

std::string StrOr(const nb::dict& d, const char* key) {
  if (!d.contains(key)) return "";
  nb::handle v = d[key];
  return v.is_none() ? std::string() : nb::cast<std::string>(nb::str(v));
}

void Trace(Session& self, const std::string& section, const std::string& kind, nb::dict values) {
  ExternalStrategy& s = Live(self.st);
  const engine::TraceKind k = TraceKindOf(kind);
  const engine::TraceSection sec = SectionOf(section);
  if (!s.WantsTrace(k)) return;
  engine::JsonWriter& w = s.BeginTraceRow(sec, k);
  for (auto [key, value] : values) WriteValue(w, nb::cast<std::string>(nb::str(key)), value);
  s.EndTraceRow();
  if (k == engine::TraceKind::kCheck) {
    const bool passed = values.contains("passed") && nb::cast<bool>(nb::bool_(values["passed"]));
    std::string code = StrOr(values, "code");
    if (code.empty()) code = StrOr(values, "check");
    s.NoteCheck(passed, StrOr(values, "reason"), code);
  } else if (k == engine::TraceKind::kEvent) {
    const std::string event = StrOr(values, "event");
    const std::string reason = StrOr(values, "reason");
    s.NoteEvent(event, reason.empty() ? event : reason);
  }
}

const uint8_t* Flags(nb::handle v, size_t n, const char* name, SessionState& st) {
  if (v.is_none()) return nullptr;
  auto a = nb::cast<nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>>(v);
  if (a.shape(0) != n) {
    throw nb::value_error(absl::StrCat(name, ": has ", a.shape(0), " elements, the data ", n)
                              .c_str());
  }
  st.keep.push_back(nb::borrow(v));
  return a.data();
}

const double* Numbers(nb::handle v, size_t n, const char* name, SessionState& st) {
  if (v.is_none()) return nullptr;
  auto a = nb::cast<nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>>(v);
  if (a.shape(0) != n) {
    throw nb::value_error(absl::StrCat(name, ": has ", a.shape(0), " elements, the data ", n)
                              .c_str());
  }
  st.keep.push_back(nb::borrow(v));
  return a.data();
}

// A read-only numpy view of a column of the run's bars; the array keeps the series alive (a
// strategy may keep it past the run).
template <typename T>
nb::ndarray<nb::numpy, const T, nb::ndim<1>> View(const std::shared_ptr<const engine::BarSeries>& bars,
                                                  const engine::Column<T>& c) {
  auto* keep = new std::shared_ptr<const engine::BarSeries>(bars);
  nb::capsule owner(keep, [](void* p) noexcept {
    delete static_cast<std::shared_ptr<const engine::BarSeries>*>(p);
  });
  return nb::ndarray<nb::numpy, const T, nb::ndim<1>>(c.data(), {c.size()}, owner);
}

}  // namespace

PyLogic::~PyLogic() = default;

PyRun::PyRun(nb::object start) : state_(std::make_shared<SessionState>()) {
  state_->start = std::move(start);
  state_->session = MakeSession(state_);
  state_->bar = MakeBar(state_);
}

engine::StrategyFactory PyRun::Factory() const {
  return engine::ExternalStrategyFactory(
      [state = state_]() -> absl::StatusOr<std::unique_ptr<engine::ExternalLogic>> {
        return std::make_unique<PyLogic>(state);
      });
}

std::optional<nb::python_error> PyRun::Release() {
  SessionState& st = *state_;
  st.strategy = nullptr;
  std::optional<nb::python_error> error = std::move(st.error);
  st.error.reset();
  st.on_bar = st.on_fill = st.on_stop = nb::object();
  st.bar = st.session = st.start = nb::object();
  st.keep.clear();
  return error;
}

nb::object MakeSession(std::shared_ptr<SessionState> state) {
  return nb::cast(Session{std::move(state)});
}

nb::object MakeBar(std::shared_ptr<SessionState> state) { return nb::cast(Bar{std::move(state)}); }

std::string DescribePythonError(nb::python_error& error) {
  try {
    nb::object describe = nb::module_::import_("backtestd._errors").attr("describe");
    return nb::cast<std::string>(describe(error.value()));
  } catch (...) {
    return error.what();
  }
}

absl::Status KeepPythonError(SessionState& state, nb::python_error& error) {
  std::string text = DescribePythonError(error);
  if (!state.error) state.error.emplace(std::move(error));
  return absl::AbortedError(text);
}

absl::Status PyLogic::Start(ExternalStrategy& strategy) {
  state_->strategy = &strategy;
  try {
    state_->start(state_->session);
  } catch (nb::python_error& e) {
    return KeepPythonError(*state_, e);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return absl::OkStatus();
}

absl::Status PyLogic::Bar(ExternalStrategy&) {
  if (!state_->on_bar.is_valid()) return absl::OkStatus();
  try {
    state_->on_bar(state_->bar);
  } catch (nb::python_error& e) {
    return KeepPythonError(*state_, e);
  } catch (const std::exception& e) {
    return absl::AbortedError(e.what());
  }
  return absl::OkStatus();
}

absl::Status PyLogic::Fill(ExternalStrategy& strategy, const engine::FillInfo& fill) {
  if (!state_->on_fill.is_valid()) return absl::OkStatus();
  try {
    state_->on_fill(nb::cast(sdk::Fill{fill, strategy.data(fill.sym).symbol}));
  } catch (nb::python_error& e) {
    return KeepPythonError(*state_, e);
  } catch (const std::exception& e) {
    return absl::AbortedError(e.what());
  }
  return absl::OkStatus();
}

absl::Status PyLogic::Stop(ExternalStrategy&) {
  if (!state_->on_stop.is_valid()) return absl::OkStatus();
  try {
    state_->on_stop();
  } catch (nb::python_error& e) {
    return KeepPythonError(*state_, e);
  } catch (const std::exception& e) {
    return absl::AbortedError(e.what());
  }
  return absl::OkStatus();
}

void BindSession(nb::module_& m) {
  nb::class_<Indicator>(m, "Indicator", "An engine indicator, updated in C++ on every bar.")
      .def_prop_ro("value", [](const Indicator& i) {
        return i.st->strategy != nullptr ? i.st->strategy->IndicatorValue(i.id) : NAN;
      }, "The value on the current bar of the current symbol (NaN until ready).")
      .def_prop_ro("ready", [](const Indicator& i) {
        return i.st->strategy != nullptr && i.st->strategy->IndicatorReady(i.id);
      })
      .def("__float__", [](const Indicator& i) {
        return i.st->strategy != nullptr ? i.st->strategy->IndicatorValue(i.id) : NAN;
      })
      .def("__repr__", [](const Indicator& i) {
        const double v = i.st->strategy != nullptr ? i.st->strategy->IndicatorValue(i.id) : NAN;
        return absl::StrCat("<", i.label, " ", v, ">");
      });

  nb::class_<Bar>(m, "Bar", "The current bar (one object, read in place).")
      .def_prop_ro("time", [](const Bar& b) { return Live(b.st).time(); })
      .def_prop_ro("open", [](const Bar& b) { return Live(b.st).open(); })
      .def_prop_ro("high", [](const Bar& b) { return Live(b.st).high(); })
      .def_prop_ro("low", [](const Bar& b) { return Live(b.st).low(); })
      .def_prop_ro("close", [](const Bar& b) { return Live(b.st).close(); })
      .def_prop_ro("volume", [](const Bar& b) { return Live(b.st).volume(); })
      .def_prop_ro("index", [](const Bar& b) { return Live(b.st).bar_index(); })
      .def_prop_ro("symbol", [](const Bar& b) {
        ExternalStrategy& s = Live(b.st);
        return s.data(s.sym()).symbol;
      });

  nb::class_<Fill>(m, "Fill", "An entry or exit that just filled.")
      .def_prop_ro("symbol", [](const Fill& f) { return f.symbol; })
      .def_prop_ro("time", [](const Fill& f) { return f.info.time; })
      .def_prop_ro("bar_index", [](const Fill& f) { return f.info.bar_index; })
      .def_prop_ro("kind", [](const Fill& f) { return f.info.entry ? "entry" : "exit"; })
      .def_prop_ro("side", [](const Fill& f) { return std::string(engine::SideName(f.info.side)); })
      .def_prop_ro("price", [](const Fill& f) { return f.info.price; })
      .def_prop_ro("size", [](const Fill& f) { return f.info.size; })
      .def_prop_ro("trade_id", [](const Fill& f) { return f.info.trade_id; })
      .def_prop_ro("exit_reason", [](const Fill& f) -> std::optional<std::string> {
        if (f.info.entry) return std::nullopt;
        return std::string(engine::ExitReasonName(f.info.exit_reason));
      })
      .def_prop_ro("pnl", [](const Fill& f) { return f.info.pnl; })
      .def("__repr__", [](const Fill& f) {
        return absl::StrCat("<Fill ", f.info.entry ? "entry " : "exit ",
                            engine::SideName(f.info.side), " ", f.symbol, " at ", f.info.price,
                            ">");
      });

  nb::class_<Session>(m, "Session", "A run as its strategy sees it (made by the engine).")
      .def_prop_ro("symbols", [](Session& self) {
        ExternalStrategy& s = Live(self.st);
        std::vector<std::string> out;
        for (size_t k = 0; k < s.symbols(); ++k) out.push_back(s.data(k).symbol);
        return out;
      })
      .def_prop_ro("tracing", [](Session& self) { return Live(self.st).tracing(); })
      .def_prop_ro("bar", [](Session& self) { return self.st->bar; })
      .def("indicator", [](Session& self, const std::string& kind, int64_t period,
                           const std::string& source) {
        auto id = Live(self.st).AddIndicator(KindOf(kind), period, FieldOf(source));
        Check(id.status());
        return Indicator{self.st, *id, absl::StrCat(kind, "(", period, ")")};
      })
      .def("crossover", [](Session& self, const Indicator& a, const Indicator& b) {
        auto id = Live(self.st).AddIndicator(engine::IndicatorKind::kCrossover, 1,
                                             engine::PriceField::kClose, a.id, b.id);
        Check(id.status());
        return Indicator{self.st, *id, absl::StrCat("crossover(", a.label, ", ", b.label, ")")};
      })
      .def("order", [](Session& self, int target, double size, std::optional<double> stop,
                       std::optional<double> take_profit, std::string reason,
                       std::optional<std::string> symbol) {
        ExternalStrategy& s = Live(self.st);
        engine::OrderRequest o;
        o.target = target > 0   ? engine::OrderRequest::Target::kLong
                   : target < 0 ? engine::OrderRequest::Target::kShort
                                : engine::OrderRequest::Target::kFlat;
        o.size = size;
        o.stop = stop;
        o.take_profit = take_profit;
        o.reason = std::move(reason);
        Check(s.Order(SymbolIndex(s, symbol), std::move(o)));
      }, nb::arg("target"), nb::arg("size"), nb::arg("stop").none(), nb::arg("take_profit").none(),
         nb::arg("reason"), nb::arg("symbol").none())
      .def("position", [](Session& self, std::optional<std::string> symbol) {
        ExternalStrategy& s = Live(self.st);
        return s.PositionSize(SymbolIndex(s, symbol));
      }, nb::arg("symbol").none() = nb::none())
      .def("entry_price", [](Session& self, std::optional<std::string> symbol) {
        ExternalStrategy& s = Live(self.st);
        const engine::Position& p = s.position(SymbolIndex(s, symbol));
        return p.open ? p.entry_price : NAN;
      }, nb::arg("symbol").none() = nb::none())
      .def("equity", [](Session& self) { return Live(self.st).Equity(); })
      .def("log", [](Session& self, const std::string& level, const std::string& text) {
        engine::LogLevel l = level == "warning" ? engine::LogLevel::kWarning
                             : level == "error" ? engine::LogLevel::kError
                             : level == "debug" ? engine::LogLevel::kDebug
                                                : engine::LogLevel::kInfo;
        Live(self.st).Log(l, text);
      })
      .def("wants", [](Session& self, const std::string& kind) {
        return Live(self.st).WantsTrace(TraceKindOf(kind));
      })
      .def("trace", &Trace)
      .def("verdict", [](Session& self, const std::string& text, const std::string& code) {
        Live(self.st).SetVerdict(text, code);
      })
      .def("count_reason", [](Session& self, const std::string& code,
                              const std::string& description) {
        Live(self.st).CountReason(code, description);
      })
      .def("plot", [](Session& self, const std::string& name, double value) {
        Live(self.st).Plot(name, value);
      })
      .def("zone", [](Session& self, double price, std::optional<int64_t> start,
                      std::optional<int64_t> end, const std::string& kind,
                      const std::string& state, std::optional<std::string> symbol) {
        ExternalStrategy& s = Live(self.st);
        engine::Zone z;
        z.symbol = symbol.value_or("");
        const int64_t now = s.in_bar() ? s.time() : 0;
        z.start = start.value_or(now);
        z.end = end.value_or(now);
        z.price = price;
        if (kind != "support" && kind != "resistance") {
          throw nb::value_error("kind: must be support or resistance");
        }
        z.kind = kind == "support" ? engine::ZoneKind::kSupport : engine::ZoneKind::kResistance;
        if (state == "active") z.state = engine::ZoneState::kActive;
        else if (state == "broken") z.state = engine::ZoneState::kBroken;
        else if (state == "inverted") z.state = engine::ZoneState::kInverted;
        else if (state == "cancelled") z.state = engine::ZoneState::kCancelled;
        else throw nb::value_error("state: must be active, broken, inverted or cancelled");
        s.AddZone(std::move(z));
      }, nb::arg("price"), nb::arg("start").none(), nb::arg("end").none(), nb::arg("kind"),
         nb::arg("state"), nb::arg("symbol").none())
      .def("mark", [](Session& self, const std::string& side, double price,
                      const std::string& text) {
        if (side != "buy" && side != "sell") throw nb::value_error("side: must be buy or sell");
        Live(self.st).AddNote(side == "buy" ? engine::OrderSide::kBuy : engine::OrderSide::kSell,
                              price, text);
      })
      .def("set_callbacks", [](Session& self, nb::object on_bar, nb::object on_fill,
                               nb::object on_stop) {
        self.st->on_bar = on_bar.is_none() ? nb::object() : on_bar;
        self.st->on_fill = on_fill.is_none() ? nb::object() : on_fill;
        self.st->on_stop = on_stop.is_none() ? nb::object() : on_stop;
      }, nb::arg("on_bar").none(), nb::arg("on_fill").none(), nb::arg("on_stop").none())
      .def("data", [](Session& self, size_t sym) {
        ExternalStrategy& s = Live(self.st);
        if (sym >= s.symbols()) throw nb::index_error("no such symbol");
        const engine::SymbolData& d = s.data(sym);
        nb::dict out;
        out["symbol"] = d.symbol;
        out["first_kept"] = d.first_kept;
        out["pip"] = d.pip;
        out["time"] = View(d.bars, d.bars->time);
        out["open"] = View(d.bars, d.bars->open);
        out["high"] = View(d.bars, d.bars->high);
        out["low"] = View(d.bars, d.bars->low);
        out["close"] = View(d.bars, d.bars->close);
        out["volume"] = View(d.bars, d.bars->volume);
        return out;
      })
      .def("set_signals", [](Session& self, size_t sym, nb::object entries, nb::object exits,
                             nb::object short_entries, nb::object short_exits, nb::object size,
                             double size_value, nb::object stop, nb::object take_profit,
                             std::string entry_reason, std::string short_entry_reason,
                             std::string exit_reason) {
        ExternalStrategy& s = Live(self.st);
        if (sym >= s.symbols()) throw nb::index_error("no such symbol");
        const size_t n = s.data(sym).bars->size();
        SessionState& st = *self.st;
        engine::SignalArrays a;
        a.entries = Flags(entries, n, "entries", st);
        a.exits = Flags(exits, n, "exits", st);
        a.short_entries = Flags(short_entries, n, "short_entries", st);
        a.short_exits = Flags(short_exits, n, "short_exits", st);
        a.size = Numbers(size, n, "size", st);
        a.size_value = size_value;
        a.stop = Numbers(stop, n, "stop", st);
        a.take_profit = Numbers(take_profit, n, "target", st);
        a.entry_reason = std::move(entry_reason);
        a.short_entry_reason = std::move(short_entry_reason);
        a.exit_reason = std::move(exit_reason);
        Check(s.SetSignals(sym, std::move(a)));
      }, nb::arg("sym"), nb::arg("entries").none(), nb::arg("exits").none(),
         nb::arg("short_entries").none(), nb::arg("short_exits").none(), nb::arg("size").none(),
         nb::arg("size_value"), nb::arg("stop").none(), nb::arg("target").none(),
         nb::arg("entry_reason"), nb::arg("short_entry_reason"), nb::arg("exit_reason"));
}

}  // namespace backtest::sdk
