package fakebackend

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

func f64(v float64) *float64 { return &v }

// registry mirrors the contract's parameter table (PRODUCT.md, "Parameters").
var registry = []*backtestv1.ParamDefinition{
	{Name: "strategy", Type: "choice", Group: "run", DefaultValue: "sr_breakout", Choices: []string{"sr_breakout", "sma_cross"}, Help: "Strategy to run."},
	{Name: "symbols", Type: "symbols", Group: "run", DefaultValue: "XAGUSD", Help: "Comma-separated symbols; one account across all of them."},
	{Name: "timeframe", Type: "choice", Group: "run", DefaultValue: "H1", Choices: []string{"M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1"}, Help: "Bar size; coarser ones are resampled from finer data."},
	{Name: "start_date", Type: "datetime", Group: "run", DefaultValue: "2021-11-26 13:10", Help: "First bar open time (UTC)."},
	{Name: "end_date", Type: "datetime", Group: "run", Optional: true, Help: "End of the window (UTC); empty for now."},
	{Name: "max_candles", Type: "int", Group: "run", Optional: true, Min: f64(1), Help: "Keep only the last N bars; empty for no limit."},
	{Name: "spread_pips", Type: "double", Group: "run", DefaultValue: "0.0", Min: f64(0), Help: "Spread added to buys, in pips."},
	{Name: "data_source", Alias: "BACKTEST_FETCH_CSV_URL", Type: "url", Group: "run", DefaultValue: "sample://", Help: "sample://, file:///dir or an http(s) base URL."},
	{Name: "market_type", Alias: "MARKET_TYPE", Type: "choice", Group: "run", DefaultValue: "forex", Choices: []string{"forex", "crypto", "stocks"}, Help: "Market type."},
	{Name: "pip_size", Type: "double", Group: "run", Optional: true, Min: f64(0), MinExclusive: true, Help: "Pip size; empty to derive it from the symbol."},
	{Name: "initial_equity", Alias: "INITIAL_EQUITY", Type: "double", Group: "risk", DefaultValue: "100000000", Min: f64(0), MinExclusive: true, Help: "Starting equity."},
	{Name: "risk_per_trade", Alias: "RISK_PER_TRADE", Type: "double", Group: "risk", DefaultValue: "0.0001", Min: f64(0), MinExclusive: true, Max: f64(0.1), Help: "Fraction of equity risked per trade."},
	{Name: "rr", Alias: "RR", Type: "double", Group: "risk", DefaultValue: "2", Min: f64(0), MinExclusive: true, Help: "Reward to risk ratio of the target."},
	{Name: "min_risk_distance_atr", Alias: "MIN_RISK_DISTANCE_ATR", Type: "double", Group: "risk", DefaultValue: "0.5", Min: f64(0), MinExclusive: true, Help: "Smallest stop distance, in ATR."},
	{Name: "sl_buffer_atr", Alias: "SL_BUFFER_ATR", Type: "double", Group: "risk", DefaultValue: "0.3", Min: f64(0), Help: "Stop buffer beyond the level, in ATR."},
	{Name: "breakout_lookback_period", Alias: "BREAKOUT_LOOKBACK_PERIOD", Type: "int", Group: "signal", DefaultValue: "48", Min: f64(2), Help: "Bars of the support/resistance window.", Strategy: "sr_breakout"},
	{Name: "breakout_min_strength_atr", Alias: "BREAKOUT_MIN_STRENGTH_ATR", Type: "double", Group: "signal", DefaultValue: "0.2", Min: f64(0), Help: "Smallest breakout beyond the level, in ATR.", Strategy: "sr_breakout"},
	{Name: "zone_inversion_margin_atr", Alias: "ZONE_INVERSION_MARGIN_ATR", Type: "double", Group: "signal", DefaultValue: "1", Min: f64(0), Help: "Move away from the level that inverts the zone, in ATR.", Strategy: "sr_breakout"},
	{Name: "sr_cancellation_threshold_atr", Alias: "SR_CANCELLATION_THRESHOLD_ATR", Type: "double", Group: "signal", DefaultValue: "0.2", Min: f64(0), Help: "Close beyond the level that cancels the setup, in ATR.", Strategy: "sr_breakout"},
	{Name: "ema_length", Alias: "EMA_LENGTH", Type: "int", Group: "signal", DefaultValue: "40", Min: f64(2), Help: "EMA period of the trend filter.", Strategy: "sr_breakout"},
	{Name: "check_for_daily_rsi", Alias: "CHECK_FOR_DAILY_RSI", Type: "bool", Group: "signal", DefaultValue: "true", Help: "Filter breakouts with the daily RSI(14).", Strategy: "sr_breakout"},
	{Name: "fast_period", Type: "int", Group: "sma_cross", DefaultValue: "10", Min: f64(1), Help: "Fast SMA period.", Strategy: "sma_cross"},
	{Name: "slow_period", Type: "int", Group: "sma_cross", DefaultValue: "30", Min: f64(1), Help: "Slow SMA period.", Strategy: "sma_cross"},
	{Name: "size", Type: "double", Group: "sma_cross", DefaultValue: "1", Min: f64(0), MinExclusive: true, Help: "Position size in units.", Strategy: "sma_cross"},
	{Name: "trace_enabled", Type: "bool", Group: "trace", DefaultValue: "false", Help: "Record the per-bar decision trace."},
	{Name: "trace_sampling", Type: "int", Group: "trace", DefaultValue: "1", Min: f64(1), Help: "Trace every Nth bar (entries and exits always)."},
	{Name: "mode", Alias: "MODE", Type: "choice", Group: "run", DefaultValue: "backtest", Choices: []string{"backtest"}, Hidden: true, Help: "Always backtest."},
}

var groups = []string{"run", "risk", "signal", "sma_cross", "trace"}

// canonical finds a parameter by name or alias, in any letter case.
func canonical(name string) *backtestv1.ParamDefinition {
	for _, p := range registry {
		if strings.EqualFold(p.Name, name) || (p.Alias != "" && strings.EqualFold(p.Alias, name)) {
			return p
		}
	}
	return nil
}

// validate checks values like backtestd would (a subset of its rules) and returns them under
// canonical names.
func validate(values map[string]*structpb.Value) (map[string]*structpb.Value, error) {
	out := map[string]*structpb.Value{}
	for name, v := range values {
		p := canonical(name)
		if p == nil {
			return nil, status.Errorf(codes.InvalidArgument, "unknown parameter %q", name)
		}
		if err := check(p, v); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "parameter %s: %v", p.Name, err)
		}
		out[p.Name] = v
	}
	return out, nil
}

func check(p *backtestv1.ParamDefinition, v *structpb.Value) error {
	empty := false
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		empty = true
	case *structpb.Value_StringValue:
		empty = strings.TrimSpace(k.StringValue) == ""
	}
	if empty {
		if p.Optional {
			return nil
		}
		return fmt.Errorf("must not be empty")
	}
	switch p.Type {
	case "int", "double":
		n, ok := number(v)
		if !ok {
			return fmt.Errorf("want a number, got %s", v.String())
		}
		if p.Type == "int" && n != float64(int64(n)) {
			return fmt.Errorf("want a whole number, got %v", n)
		}
		if p.Min != nil && (n < *p.Min || p.MinExclusive && n == *p.Min) {
			op := ">="
			if p.MinExclusive {
				op = ">"
			}
			return fmt.Errorf("must be %s %v, got %v", op, *p.Min, n)
		}
		if p.Max != nil && (n > *p.Max || p.MaxExclusive && n == *p.Max) {
			return fmt.Errorf("must be <= %v, got %v", *p.Max, n)
		}
	case "bool":
		if _, ok := v.GetKind().(*structpb.Value_BoolValue); !ok {
			if s := v.GetStringValue(); s != "true" && s != "false" {
				return fmt.Errorf("want true or false")
			}
		}
	case "choice":
		s := v.GetStringValue()
		for _, c := range p.Choices {
			if s == c {
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(p.Choices, ", "), s)
	}
	return nil
}

func number(v *structpb.Value) (float64, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return k.NumberValue, true
	case *structpb.Value_StringValue:
		n, err := strconv.ParseFloat(strings.TrimSpace(k.StringValue), 64)
		return n, err == nil
	}
	return 0, false
}
