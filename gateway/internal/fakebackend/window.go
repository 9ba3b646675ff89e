package fakebackend

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

// answer cuts the GetResult answer that req asks for out of the full result, as backtestd does
// (server/api/result_conversion.cc): the window (from_time, to_time, then the last max_candles),
// candles merged k at a time for max_points, the parts asked for, trades_in_window with
// trades_offset and trades_limit, and the per-point or packed layout.
func answer(full *backtestv1.GetResultResponse, req *backtestv1.GetResultRequest) (*backtestv1.GetResultResponse, error) {
	for name, v := range map[string]int32{"max_candles": req.GetMaxCandles(), "max_points": req.GetMaxPoints(),
		"trades_offset": req.GetTradesOffset(), "trades_limit": req.GetTradesLimit()} {
		if v < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "%s: must be >= 0, got %d", name, v)
		}
	}
	parts, err := parseParts(req.GetParts())
	if err != nil {
		return nil, err
	}
	candles := full.Candles
	first, end := 0, len(candles)
	if t := req.GetFromTime(); t != 0 {
		first = sort.Search(len(candles), func(i int) bool { return candles[i].Time >= t })
	}
	if t := req.GetToTime(); t != 0 {
		end = sort.Search(len(candles), func(i int) bool { return candles[i].Time > t })
	}
	end = max(end, first)
	if m := int(req.GetMaxCandles()); m > 0 && m < end-first {
		first = end - m
	}
	k := 1
	if p := int(req.GetMaxPoints()); p > 0 && end-first > p {
		k = (end - first + p - 1) / p
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if first == end {
		lo, hi = math.Inf(1), math.Inf(-1)
	} else {
		if first > 0 {
			lo = candles[first].Time
		}
		if end < len(candles) {
			hi = candles[end-1].Time
		}
	}
	r := &backtestv1.GetResultResponse{JobId: full.JobId, Symbol: full.Symbol, Symbols: full.Symbols,
		TotalCandles: int32(len(candles)), FirstCandle: int32(first), CandlesPerPoint: int32(k), Digest: full.Digest}
	var merged []*backtestv1.Candle
	for i0 := first; i0 < end; i0 += k {
		i1 := min(i0+k, end)
		c := &backtestv1.Candle{Time: candles[i0].Time, Open: candles[i0].Open, High: candles[i0].High,
			Low: candles[i0].Low, Close: candles[i1-1].Close, Volume: candles[i0].Volume}
		for _, x := range candles[i0+1 : i1] {
			c.High, c.Low, c.Volume = math.Max(c.High, x.High), math.Min(c.Low, x.Low), c.Volume+x.Volume
		}
		merged = append(merged, c)
	}
	line := func(points []*backtestv1.LinePoint) []*backtestv1.LinePoint {
		var out []*backtestv1.LinePoint
		j := sort.Search(len(points), func(i int) bool { return points[i].Time >= lo })
		if k == 1 {
			for ; j < len(points) && points[j].Time <= hi; j++ {
				out = append(out, points[j])
			}
			return out
		}
		for i0 := first; i0 < end; i0 += k {
			t0, t1 := candles[i0].Time, candles[min(i0+k, end)-1].Time
			for j < len(points) && points[j].Time <= t1 {
				j++
			}
			if j > 0 && points[j-1].Time >= t0 {
				out = append(out, &backtestv1.LinePoint{Time: t0, Value: points[j-1].Value})
			}
		}
		return out
	}
	packed := req.GetLayout() == backtestv1.ResultLayout_RESULT_LAYOUT_PACKED
	if packed {
		r.Packed = &backtestv1.PackedSeries{}
	}
	if parts["candles"] {
		if packed {
			col := func(f func(c *backtestv1.Candle) float64) []byte {
				b := make([]byte, 8*len(merged))
				for i, c := range merged {
					binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(f(c)))
				}
				return b
			}
			r.Packed.Times = col(func(c *backtestv1.Candle) float64 { return c.Time })
			r.Packed.Opens = col(func(c *backtestv1.Candle) float64 { return c.Open })
			r.Packed.Highs = col(func(c *backtestv1.Candle) float64 { return c.High })
			r.Packed.Lows = col(func(c *backtestv1.Candle) float64 { return c.Low })
			r.Packed.Closes = col(func(c *backtestv1.Candle) float64 { return c.Close })
			r.Packed.Volumes = col(func(c *backtestv1.Candle) float64 { return c.Volume })
		} else {
			r.Candles = merged
		}
	}
	setLine := func(points []*backtestv1.LinePoint, times, values *[]byte, plain *[]*backtestv1.LinePoint) {
		if !packed {
			*plain = points
			return
		}
		*times, *values = make([]byte, 8*len(points)), make([]byte, 8*len(points))
		for i, p := range points {
			binary.LittleEndian.PutUint64((*times)[8*i:], math.Float64bits(p.Time))
			binary.LittleEndian.PutUint64((*values)[8*i:], math.Float64bits(p.Value))
		}
	}
	if parts["ema"] {
		var t, v *[]byte
		if packed {
			t, v = &r.Packed.EmaTimes, &r.Packed.EmaValues
		}
		setLine(line(full.Ema), t, v, &r.Ema)
	}
	if parts["equity"] {
		var t, v *[]byte
		if packed {
			t, v = &r.Packed.EquityTimes, &r.Packed.EquityValues
		}
		setLine(line(full.Equity), t, v, &r.Equity)
	}
	if parts["zones"] && first < end {
		for _, z := range full.Zones {
			if z.End >= lo && z.Start <= hi {
				r.Zones = append(r.Zones, z)
			}
		}
	}
	from, to := math.Inf(1), math.Inf(-1)
	if first < end {
		from, to = candles[first].Time, candles[end-1].Time
	}
	inWindow := req.GetTradesInWindow()
	if parts["markers"] {
		for _, m := range full.Markers {
			if !inWindow || m.Symbol == full.Symbol && m.Time >= from && m.Time <= to {
				r.Markers = append(r.Markers, m)
			}
		}
	}
	var trades []*backtestv1.Trade
	for _, t := range full.Trades {
		if !inWindow || t.Symbol == full.Symbol && t.EntryTime <= to && t.ExitTime >= from {
			trades = append(trades, t)
		}
	}
	r.TotalTrades = int32(len(trades))
	if parts["trades"] {
		trades = trades[min(int(req.GetTradesOffset()), len(trades)):]
		if l := int(req.GetTradesLimit()); l > 0 && l < len(trades) {
			trades = trades[:l]
		}
		r.Trades = trades
	}
	if parts["stats"] {
		r.Stats = full.Stats
	}
	return r, nil
}

// parseParts reads GetResultRequest.parts (names, each value possibly comma-separated; none: all).
func parseParts(values []string) (map[string]bool, error) {
	known := []string{"candles", "ema", "equity", "zones", "markers", "trades", "stats"}
	parts := map[string]bool{}
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			found := false
			for _, k := range known {
				found = found || k == name
			}
			if !found {
				return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("parts: unknown part %q", name))
			}
			parts[name] = true
		}
	}
	if len(parts) == 0 {
		for _, k := range known {
			parts[k] = true
		}
	}
	return parts, nil
}
