package fakebackend

import (
	"math"
	"time"

	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

// Result makes a deterministic result of n bars of the given size from T0: a random walk with a
// trade every ~40 bars (stops and targets at 1:2), its zones, markers, equity and stats. With
// maxCandles > 0 only the last maxCandles candles and EMA points are returned, like GetResult.
func Result(jobID string, n int, bar time.Duration, maxCandles int32) *backtestv1.GetResultResponse {
	const symbol = "XAGUSD"
	step := bar.Seconds()
	t0 := float64(T0.Unix())
	r := &backtestv1.GetResultResponse{JobId: jobID, Symbol: symbol, Symbols: []string{symbol}, TotalCandles: int32(n)}
	r.Candles = make([]*backtestv1.Candle, n)
	r.Ema = make([]*backtestv1.LinePoint, 0, n)
	seed := uint64(42)
	rnd := func() float64 { // xorshift64*, in [-0.5, 0.5)
		seed ^= seed >> 12
		seed ^= seed << 25
		seed ^= seed >> 27
		return float64((seed*2685821657736338717)>>11)/float64(1<<53) - 0.5
	}
	price, ema := 22.5, 22.5
	const emaN = 40
	alpha := 2.0 / (emaN + 1)
	for i := 0; i < n; i++ {
		tm := t0 + float64(i)*step
		o := price
		price = math.Max(1, price+0.06*rnd()+0.004*math.Sin(float64(i)/60))
		hi := math.Max(o, price) + 0.02*math.Abs(rnd())
		lo := math.Min(o, price) - 0.02*math.Abs(rnd())
		r.Candles[i] = &backtestv1.Candle{Time: tm, Open: round(o), High: round(hi), Low: round(lo), Close: round(price), Volume: float64(100 + i%50)}
		ema = alpha*price + (1-alpha)*ema
		if i >= emaN-1 {
			r.Ema = append(r.Ema, &backtestv1.LinePoint{Time: tm, Value: round(ema)})
		}
	}

	equity, peak := 1e8, 1e8
	eqAt := make([]float64, n)
	var wins int32
	var grossWin, grossLoss float64
	next := 60
	for i := 0; i < n; i++ {
		if i == next && i+2 < n {
			c := r.Candles[i]
			long := (i/40)%3 != 0
			entry := c.Open
			risk := 0.08
			stop, target := entry-risk, entry+2*risk
			side, buy, sell := "long", "buy", "sell"
			if !long {
				stop, target = entry+risk, entry-2*risk
				side, buy, sell = "short", "sell", "buy"
			}
			exit, reason, j := 0.0, "end_of_data", i
			for j = i; j < n; j++ { // stop before target when both are inside one bar
				b := r.Candles[j]
				if long && b.Low <= stop || !long && b.High >= stop {
					exit, reason = stop, "stop"
					break
				}
				if long && b.High >= target || !long && b.Low <= target {
					exit, reason = target, "target"
					break
				}
			}
			if j == n {
				j = n - 1
				exit = r.Candles[j].Close
			}
			size := equity * 0.0001 / risk
			pnl := (exit - entry) * size
			if !long {
				pnl = -pnl
			}
			if pnl > 0 {
				wins++
				grossWin += pnl
			} else {
				grossLoss -= pnl
			}
			id := int32(len(r.Trades) + 1)
			r.Trades = append(r.Trades, &backtestv1.Trade{
				Id: id, Symbol: symbol, Side: side, EntryTime: c.Time, EntryPrice: round(entry), ExitTime: r.Candles[j].Time,
				ExitPrice: round(exit), Size: size, Stop: round(stop), Target: round(target), Pnl: pnl,
				ReturnPct: pnl / (entry * size) * 100, ExitReason: reason, BarsHeld: int32(j - i), EntryBar: int32(i), ExitBar: int32(j),
			})
			r.Markers = append(r.Markers,
				&backtestv1.Marker{Symbol: symbol, Time: c.Time, Side: buy, Kind: "entry", Price: round(entry), Reason: "retest", TradeId: id},
				&backtestv1.Marker{Symbol: symbol, Time: r.Candles[j].Time, Side: sell, Kind: "exit", Price: round(exit), Reason: reason, TradeId: id})
			level, kind := round(entry-0.01), "resistance"
			if !long {
				level, kind = round(entry+0.01), "support"
			}
			from := max(0, i-48)
			r.Zones = append(r.Zones,
				&backtestv1.Zone{Symbol: symbol, Start: r.Candles[from].Time, End: r.Candles[max(0, i-3)].Time, Price: level, Kind: kind, State: "broken"},
				&backtestv1.Zone{Symbol: symbol, Start: r.Candles[max(0, i-3)].Time, End: c.Time, Price: level, Kind: kind, State: "inverted"})
			equity += pnl
			next = j + 20 + int(20*(rnd()+0.5))
		}
		eqAt[i] = equity
	}
	var maxDD float64
	r.Equity = make([]*backtestv1.LinePoint, n)
	for i := 0; i < n; i++ {
		peak = math.Max(peak, eqAt[i])
		maxDD = math.Min(maxDD, (eqAt[i]-peak)/peak*100)
		r.Equity[i] = &backtestv1.LinePoint{Time: r.Candles[i].Time, Value: eqAt[i]}
	}
	if n > 48 {
		last := r.Candles[n-1].Time
		hi, lo := 0.0, math.Inf(1)
		for _, c := range r.Candles[n-48:] {
			hi, lo = math.Max(hi, c.High), math.Min(lo, c.Low)
		}
		r.Zones = append(r.Zones,
			&backtestv1.Zone{Symbol: symbol, Start: r.Candles[n-48].Time, End: last, Price: hi, Kind: "resistance", State: "active"},
			&backtestv1.Zone{Symbol: symbol, Start: r.Candles[n-48].Time, End: last, Price: lo, Kind: "support", State: "active"})
	}
	trades := int32(len(r.Trades))
	pf := math.NaN()
	if grossLoss > 0 {
		pf = grossWin / grossLoss
	}
	r.Stats = &backtestv1.Stats{
		Start: t0, End: r.Candles[n-1].Time, DurationSeconds: r.Candles[n-1].Time - t0, Bars: int32(n),
		EquityFinal: equity, EquityPeak: peak, ReturnPct: (equity/1e8 - 1) * 100,
		BuyHoldReturnPct: (r.Candles[n-1].Close/r.Candles[0].Close - 1) * 100,
		Sharpe:           0.8, Sortino: 1.1, Calmar: 0.5, MaxDrawdownPct: maxDD, AvgDrawdownPct: maxDD / 3,
		Trades: trades, WinRatePct: pct(wins, trades), ProfitFactor: pf, Expectancy: (grossWin - grossLoss) / math.Max(1, float64(trades)),
		Sqn: math.NaN(), Pnl: equity - 1e8,
		LongStats:  &backtestv1.SideStats{Trades: trades * 2 / 3},
		ShortStats: &backtestv1.SideStats{Trades: trades - trades*2/3},
	}
	r.Digest = "sha256:fake"
	if maxCandles > 0 && len(r.Candles) > int(maxCandles) {
		first := r.Candles[len(r.Candles)-int(maxCandles)].Time
		r.Candles = r.Candles[len(r.Candles)-int(maxCandles):]
		for len(r.Ema) > 0 && r.Ema[0].Time < first {
			r.Ema = r.Ema[1:]
		}
	}
	return r
}

func pct(a, b int32) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b) * 100
}

func round(x float64) float64 { return math.Round(x*1e5) / 1e5 }
