// The result part of the job page: the chart (candles, EMA, zones, entry/exit markers, SL/TP
// boxes, per-trade tooltips, equity and drawdown panes), the Explain panel (click a candle),
// the statistics and the trades.
//
// The chart's series come from GetResult in the packed layout (one base64 column of doubles per
// series, decoded into typed arrays): the last N candles only (max_candles; 50,000 by default,
// 10k/200k/all on request), merged by the server k at a time when there are more than MAX_DRAWN
// (max_points), so the chart never holds more than MAX_DRAWN bars and everything else (markers,
// zones, boxes, equity) is mapped onto the same positions. Markers and trades are not loaded
// with the chart: those of the visible span (and as much again on each side) are asked for as
// the user scrolls or zooms (trades_in_window), and the trades table asks for one page at a time.
import { AreaSeries, CandlestickSeries, LineSeries, createChart, createSeriesMarkers } from 'lightweight-charts';
import { api, el, fmtDuration, fmtInt, fmtNum, fmtPrice, fmtTime, num, showError } from './api.js';
import { Overlays, zoneStyle } from './overlays.js';

const MAX_DRAWN = 50000;
// The first chart asks for this many candles (the view opens on the last 300): drawn at once,
// then replaced by the whole window when that arrives.
const FIRST_PAINT_CANDLES = 2000;
const TRADES_PER_PAGE = 100;
// Beyond this many candles in view, the chart shows no markers or boxes (asks to zoom in).
const MAX_TRADE_SPAN = 50000;

let jobId = '';
let view = null; // the current chart and its data
let tradesPage = 0;
let loads = 0; // load() calls so far: an answer to an older one is dropped

/** Shows the result of a finished job. */
export async function showResult(id) {
  jobId = id;
  document.getElementById('result').classList.remove('hidden');
  document.getElementById('window-select').onchange = () => load();
  document.getElementById('symbol-select').onchange = () => load();
  document.getElementById('explain-run').onclick = () => explain(null);
  await load();
}

function resultPath(q) {
  return `/api/jobs/${encodeURIComponent(jobId)}/result/?${q}`;
}

/** The chart's answer: the last `maxCandles` candles (0: all) of `symbol`, merged to MAX_DRAWN. */
function chartQuery(maxCandles, symbol) {
  const q = new URLSearchParams({ layout: 'RESULT_LAYOUT_PACKED', parts: 'candles,ema,equity,zones,stats', max_points: String(MAX_DRAWN) });
  if (maxCandles > 0) q.set('max_candles', String(maxCandles));
  if (symbol) q.set('symbol', symbol);
  return resultPath(q);
}

async function load() {
  const seq = ++loads;
  const note = document.getElementById('window-note');
  const maxCandles = Number(document.getElementById('window-select').value);
  const symbol = document.getElementById('symbol-select').value;
  note.textContent = 'loading…';
  // A window larger than the first paint's is asked for twice: its last candles first.
  const quick = maxCandles === 0 || maxCandles > FIRST_PAINT_CANDLES;
  const t0 = performance.now();
  let r;
  try {
    r = await api(chartQuery(quick ? FIRST_PAINT_CANDLES : maxCandles, symbol));
  } catch (e) {
    note.textContent = '';
    showError(document.getElementById('page-error'), e);
    return;
  }
  if (seq !== loads) return;
  setSymbols(r);
  drawChart(prepare(r));
  renderStats(r.stats || {});
  const whole = quick && Number(r.total_candles || 0) > FIRST_PAINT_CANDLES;
  showNote(view.d, performance.now() - t0, whole);
  const trades = loadTradesPage(0);
  if (whole) {
    let full;
    try {
      full = await api(chartQuery(maxCandles, r.symbol));
    } catch (e) {
      showError(document.getElementById('page-error'), e);
      return;
    }
    if (seq !== loads) return;
    refine(view, prepare(full));
    showNote(view.d, performance.now() - t0, false);
  }
  await trades;
}

function showNote(d, ms, more) {
  const parts = [`${fmtInt(d.candles)} of ${fmtInt(d.totalCandles)} bars of ${d.r.symbol}`];
  if (d.k > 1) parts.push(`drawn as ${fmtInt(d.n)} bars of ${d.k} (choose fewer bars for single bars)`);
  parts.push(more ? 'loading the rest…' : `loaded in ${(ms / 1000).toFixed(1)}s`);
  document.getElementById('window-note').textContent = `· ${parts.join(' · ')}`;
}

function setSymbols(r) {
  const sel = document.getElementById('symbol-select');
  const symbols = r.symbols || [];
  document.getElementById('symbol-label').classList.toggle('hidden', symbols.length < 2);
  if (sel.options.length !== symbols.length) {
    sel.replaceChildren(...symbols.map((s) => el('option', { value: s }, s)));
  }
  sel.value = r.symbol;
}

// --- data preparation ----------------------------------------------------------------------

/** A packed column (base64 of little-endian doubles) as a Float64Array. */
function doubles(b64) {
  if (!b64) return new Float64Array(0);
  if (typeof Uint8Array.fromBase64 === 'function') return new Float64Array(Uint8Array.fromBase64(b64).buffer);
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float64Array(bytes.buffer);
}

/** Index of the last element of sorted times that is <= t (-1 when none). */
function floorIndex(times, t) {
  let lo = 0;
  let hi = times.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/**
 * Turns the packed answer into what the chart draws (the server has merged the candles k at a
 * time already), and a mapping from time to logical (drawn bar) position for everything else.
 */
function prepare(r) {
  const p = r.packed || {};
  const times = doubles(p.times);
  const open = doubles(p.opens);
  const high = doubles(p.highs);
  const low = doubles(p.lows);
  const close = doubles(p.closes);
  const n = times.length;
  const k = Math.max(1, Number(r.candles_per_point || 1));
  const bars = new Array(n);
  for (let b = 0; b < n; b++) bars[b] = { time: times[b], open: open[b], high: high[b], low: low[b], close: close[b] };
  const step = n > 1 ? (times[n - 1] - times[0]) / (n - 1) : 60 * k;
  /** Fractional drawn position of a time (before/after the data: extrapolated by bar size). */
  const logicalOf = (t) => {
    if (n === 0) return 0;
    if (t <= times[0]) return (t - times[0]) / step;
    if (t >= times[n - 1]) return n - 1 + (t - times[n - 1]) / step;
    const i = floorIndex(times, t);
    return i + (t - times[i]) / (times[i + 1] - times[i]);
  };
  const totalCandles = Number(r.total_candles || 0);
  const offset = Number(r.first_candle || 0); // bar_index of the first candle
  return {
    r, n, k, bars, times, logicalOf, offset, totalCandles,
    candles: totalCandles - offset,
    zones: r.zones || [],
    markers: [],
    trades: [],
    loaded: null, // the span of drawn bars whose markers and trades are loaded: {b0, b1}
    ema: alignLast(doubles(p.ema_times), doubles(p.ema_values), times),
    ...alignEquity(doubles(p.equity_times), doubles(p.equity_values), times),
  };
}

/** The value of a line at the last point of each drawn bar's span (none when it has none there). */
function alignLast(pt, pv, times) {
  const out = [];
  const n = times.length;
  let j = 0;
  for (let b = 0; b < n; b++) {
    const end = b + 1 < n ? times[b + 1] : Infinity;
    while (j < pt.length && pt[j] < end) j++;
    if (j > 0 && pt[j - 1] >= times[b]) out.push({ time: times[b], value: pv[j - 1] });
  }
  return out;
}

/** Equity at the end of each drawn bar and its drawdown (% below the running peak). */
function alignEquity(pt, pv, times) {
  const equity = [];
  const drawdown = [];
  const n = times.length;
  let peak = -Infinity;
  let j = 0;
  for (let b = 0; b < n; b++) {
    const end = b + 1 < n ? times[b + 1] : Infinity;
    let worst = null;
    let value = null;
    while (j < pt.length && pt[j] < end) {
      const v = pv[j];
      peak = Math.max(peak, v);
      if (pt[j] >= times[b]) {
        worst = Math.min(worst ?? 0, peak > 0 ? (v / peak - 1) * 100 : 0);
        value = v;
      }
      j++;
    }
    if (value === null) continue;
    equity.push({ time: times[b], value });
    drawdown.push({ time: times[b], value: worst });
  }
  return { equity, drawdown };
}

// --- chart ---------------------------------------------------------------------------------

function drawChart(d) {
  if (view) view.chart.remove();
  const container = document.getElementById('chart');
  const chart = createChart(container, {
    autoSize: true,
    layout: { background: { color: '#ffffff' }, textColor: '#333', panes: { separatorColor: '#dde1e5' } },
    grid: { vertLines: { color: '#f0f2f4' }, horzLines: { color: '#f0f2f4' } },
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 5 },
    crosshair: { mode: 0 },
  });
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: '#26a65b', downColor: '#d64541', borderVisible: false, wickUpColor: '#26a65b', wickDownColor: '#d64541',
    priceFormat: { type: 'price', precision: 5, minMove: 0.00001 },
  });
  let ema = null;
  if (d.ema.length) {
    ema = chart.addSeries(LineSeries, { color: '#f39c12', lineWidth: 2, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false, title: 'EMA' });
  }
  const overlays = new Overlays();
  candles.attachPrimitive(overlays);
  const markers = createSeriesMarkers(candles, []);
  let eq = null;
  let dd = null;
  if (d.equity.length) {
    eq = chart.addSeries(LineSeries, { color: '#2962ff', lineWidth: 1.5, priceLineVisible: false, title: 'equity',
      priceFormat: { type: 'price', precision: 0, minMove: 1 } }, 1);
    dd = chart.addSeries(AreaSeries, { lineColor: '#d64541', topColor: 'rgba(214,69,65,0.05)', bottomColor: 'rgba(214,69,65,0.35)',
      invertFilledArea: true, lineWidth: 1, priceLineVisible: false, title: 'drawdown %',
      priceFormat: { type: 'price', precision: 2, minMove: 0.01 } }, 2);
    const panes = chart.panes();
    panes[0].setHeight(400);
    if (panes[1]) panes[1].setHeight(110);
    if (panes[2]) panes[2].setHeight(90);
  }
  view = { chart, candles, ema, eq, dd, d, overlays, markers, timer: 0, asked: 0 };
  const v = view;
  setChartData(v, d);
  chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, d.n - 300), to: d.n + 5 });
  chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
    clearTimeout(v.timer);
    v.timer = setTimeout(() => loadTradesInView(v, range), 150);
  });
  loadTradesInView(v, chart.timeScale().getVisibleLogicalRange());
  chart.subscribeCrosshairMove((p) => onHover(p, v.d, candles, ema));
  chart.subscribeClick((p) => onClick(p, v.d));
  legend(d, d.n - 1, null);
}

/** Puts d's series into the chart of v; markers and boxes are asked for again. */
function setChartData(v, d) {
  v.d = d;
  v.candles.setData(d.bars);
  if (v.ema) v.ema.setData(d.ema);
  if (v.eq) {
    v.eq.setData(d.equity);
    v.dd.setData(d.drawdown);
  }
  v.overlays.setData(zoneItems(d), []);
  v.markers.setMarkers([]);
}

/** The time at a fractional drawn position of d (extrapolated past its ends). */
function timeAt(d, l) {
  if (d.n < 2) return d.n ? d.times[0] : 0;
  const i = Math.max(0, Math.min(d.n - 2, Math.floor(l)));
  return d.times[i] + (l - i) * (d.times[i + 1] - d.times[i]);
}

/** Replaces the chart's data with the whole window's, keeping the span on screen. */
function refine(v, d) {
  const ts = v.chart.timeScale();
  const shown = ts.getVisibleLogicalRange();
  const from = shown ? timeAt(v.d, shown.from) : 0;
  const to = shown ? timeAt(v.d, shown.to) : 0;
  setChartData(v, d);
  if (shown) ts.setVisibleLogicalRange({ from: d.logicalOf(from), to: d.logicalOf(to) });
  loadTradesInView(v, ts.getVisibleLogicalRange());
}

/**
 * Loads the markers and trades of the visible span of drawn bars (and as much again on each
 * side), unless they are loaded already or the span holds more than MAX_TRADE_SPAN candles.
 */
async function loadTradesInView(v, range) {
  const { d } = v;
  if (!range || d.n === 0 || view !== v) return;
  const b0 = Math.max(0, Math.floor(range.from));
  const b1 = Math.min(d.n - 1, Math.ceil(range.to));
  if (b1 < b0) return;
  if ((b1 - b0 + 1) * d.k > MAX_TRADE_SPAN) {
    setTrades(v, [], [], null);
    return;
  }
  if (d.loaded && d.loaded.b0 <= b0 && d.loaded.b1 >= b1) return;
  const width = b1 - b0 + 1;
  const l0 = Math.max(0, b0 - width);
  const l1 = Math.min(d.n - 1, b1 + width);
  const q = new URLSearchParams({ parts: 'markers,trades', trades_in_window: 'true', symbol: d.r.symbol,
    from_time: String(d.times[l0]) });
  // To the last candle merged into drawn bar l1: just before the next drawn bar.
  if (l1 + 1 < d.n) q.set('to_time', String(d.times[l1 + 1] - 1));
  const asked = ++v.asked;
  let r;
  try {
    r = await api(resultPath(q));
  } catch (e) {
    showError(document.getElementById('page-error'), e);
    return;
  }
  if (view !== v || asked !== v.asked) return; // a newer chart or span has asked since
  setTrades(v, r.markers || [], r.trades || [], { b0: l0, b1: l1 });
}

function setTrades(v, markers, trades, loaded) {
  const { d } = v;
  d.markers = markers;
  d.trades = trades;
  d.loaded = loaded;
  v.markers.setMarkers(markerItems(d));
  v.overlays.setData(zoneItems(d), boxItems(d));
}

function markerItems(d) {
  const out = [];
  const sym = d.r.symbol;
  for (const m of d.markers) {
    if (m.symbol && m.symbol !== sym) continue;
    const b = floorIndex(d.times, m.time);
    if (b < 0) continue;
    const buy = m.side === 'buy';
    if (m.kind === 'entry') {
      out.push({ time: d.bars[b].time, position: buy ? 'belowBar' : 'aboveBar', shape: buy ? 'arrowUp' : 'arrowDown',
        color: buy ? '#138a52' : '#c62828', id: `t${m.trade_id}` });
    } else {
      out.push({ time: d.bars[b].time, position: 'atPriceMiddle', price: num(m.price), shape: 'circle',
        color: m.reason === 'target' ? '#138a52' : m.reason === 'end_of_data' ? '#607d8b' : '#c62828', size: 0.6, id: `x${m.trade_id}` });
    }
  }
  out.sort((a, b) => a.time - b.time);
  return out;
}

function zoneItems(d) {
  const t0 = d.times[0];
  const sym = d.r.symbol;
  return d.zones
    .filter((z) => (!z.symbol || z.symbol === sym) && z.end >= t0)
    .map((z) => ({ l0: d.logicalOf(Math.max(z.start, t0)), l1: d.logicalOf(z.end), price: num(z.price), style: zoneStyle(z.kind, z.state) }));
}

function boxItems(d) {
  const t0 = d.times[0];
  const sym = d.r.symbol;
  const out = [];
  for (const t of d.trades) {
    if (t.symbol !== sym || t.exit_time < t0) continue;
    const l0 = d.logicalOf(t.entry_time);
    const l1 = Math.max(l0 + 1 / d.k, d.logicalOf(t.exit_time));
    const entry = num(t.entry_price);
    if (num(t.stop)) out.push({ l0, l1, p0: entry, p1: num(t.stop), fill: 'rgba(214,69,65,0.13)' });
    if (num(t.target)) out.push({ l0, l1, p0: entry, p1: num(t.target), fill: 'rgba(38,166,91,0.13)' });
  }
  return out;
}

/** Drawn bar under the pointer → its bucket index (or -1). */
function bucketOf(p, d) {
  if (!p || p.logical === undefined || p.logical === null) return -1;
  const b = Math.round(p.logical);
  return b >= 0 && b < d.n ? b : -1;
}

function legend(d, b, emaValue) {
  const box = document.getElementById('legend');
  if (b < 0) return;
  const c = d.bars[b];
  const parts = [d.r.symbol, fmtTime(c.time), `O ${fmtPrice(c.open)}`, `H ${fmtPrice(c.high)}`, `L ${fmtPrice(c.low)}`, `C ${fmtPrice(c.close)}`];
  if (emaValue !== null && emaValue !== undefined) parts.push(`EMA ${fmtPrice(emaValue)}`);
  parts.push(`bar ${fmtInt(d.offset + b * d.k)}${d.k > 1 ? `+${d.k - 1}` : ''}`);
  box.textContent = parts.join('  ');
}

/** The trade of the shown symbol open during drawn bar b, if any. */
function tradeAt(d, b) {
  const trades = d.trades;
  const from = d.times[b];
  const to = b + 1 < d.n ? d.times[b + 1] - 1 : Infinity;
  // trades are in entry order: look back from the last one entered by the end of the bar
  let lo = 0;
  let hi = trades.length - 1;
  let last = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (trades[mid].entry_time <= to) {
      last = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  for (let i = last; i >= 0 && i > last - 50; i--) {
    const t = trades[i];
    if (t.symbol === d.r.symbol && t.exit_time >= from) return t;
  }
  return null;
}

function onHover(p, d, candles, ema) {
  const tip = document.getElementById('tooltip');
  const b = bucketOf(p, d);
  if (b < 0 || !p.point) {
    tip.classList.add('hidden');
    return;
  }
  legend(d, b, ema ? p.seriesData.get(ema)?.value : null);
  const t = tradeAt(d, b);
  if (!t || p.paneIndex > 0) {
    tip.classList.add('hidden');
    return;
  }
  const pnl = num(t.pnl);
  tip.replaceChildren(
    el('div', {}, el('b', {}, `#${t.id} ${t.side}`), ` ${t.symbol} · ${t.exit_reason}`),
    el('div', {}, `entry ${fmtTime(t.entry_time)} @ ${fmtPrice(t.entry_price)}`),
    el('div', {}, `exit  ${fmtTime(t.exit_time)} @ ${fmtPrice(t.exit_price)}`),
    el('div', {}, `stop ${fmtPrice(t.stop)} · target ${fmtPrice(t.target)}`),
    el('div', {}, `size ${fmtNum(t.size, 2)} · ${fmtInt(t.bars_held)} bars`),
    el('div', { class: pnl >= 0 ? 'pos' : 'neg' }, `P&L ${fmtNum(pnl, 2)} (${fmtNum(t.return_pct, 2)}%)`));
  tip.classList.remove('hidden');
  const wrap = tip.parentElement.getBoundingClientRect();
  const x = p.point.x + 16 + 260 > wrap.width ? p.point.x - 276 : p.point.x + 16;
  tip.style.left = `${Math.max(0, x)}px`;
  tip.style.top = `${Math.max(0, p.point.y - 20)}px`;
}

function onClick(p, d) {
  const b = bucketOf(p, d);
  if (b < 0 || (p.paneIndex ?? 0) > 0) return;
  explain(d.offset + b * d.k, d.k > 1 ? `first of ${d.k} merged bars` : '');
}

/** Scrolls the chart to a bar_index of the shown symbol. */
function scrollToBar(barIndex) {
  if (!view) return;
  const { d, chart } = view;
  const raw = barIndex - d.offset;
  if (raw < 0 || raw >= d.candles) return;
  // 120 bars around it, kept inside the data (no empty chart beside the first or last bar).
  const from = Math.max(0, Math.min(raw / d.k - 60, d.n - 1 - 120));
  chart.timeScale().setVisibleLogicalRange({ from, to: from + 120 });
}

// --- explain -------------------------------------------------------------------------------

/** A trace payload: its reason (or verdict) in words, then the other fields as name=value. */
function payloadCell(payload) {
  const words = typeof payload?.reason === 'string' ? 'reason' : typeof payload?.verdict === 'string' ? 'verdict' : '';
  const rest = Object.entries(payload || {}).filter(([k]) => k !== 'passed' && k !== words);
  return el('td', {}, words ? el('div', {}, payload[words]) : null,
    rest.length ? el('div', { class: 'muted small' }, rest.map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toPrecision(6) : JSON.stringify(v)}`).join('  ')) : null);
}

/** Explains one bar (barIndex) or, with null, the whole run. */
async function explain(barIndex, note) {
  const box = document.getElementById('explain');
  box.classList.remove('hidden');
  box.replaceChildren(el('div', { class: 'muted' }, barIndex === null ? 'Explaining the run…' : `Explaining bar ${fmtInt(barIndex)}…`));
  const q = new URLSearchParams();
  if (barIndex !== null) q.set('bar_index', String(barIndex));
  if (view) q.set('symbol', view.d.r.symbol);
  let x;
  try {
    x = await api(`/api/bots/backtests/${encodeURIComponent(jobId)}/explain?${q}`);
  } catch (e) {
    box.replaceChildren(el('div', { class: 'error-box' }, e.message));
    return;
  }
  const bar = x.bar_index ?? barIndex;
  // The neighbourhood, a bar at a time: a replayed run answers these from the replay's cache.
  const step = (delta, label) => el('button', { type: 'button', class: 'explain-step', title: `Explain bar ${fmtInt(bar + delta)}`,
    disabled: bar + delta < 0 || (view && view.d.totalCandles > 0 && bar + delta >= view.d.totalCandles),
    onclick: () => { scrollToBar(bar + delta); explain(bar + delta); } }, label);
  const parts = [el('div', { class: 'row' }, el('strong', {}, barIndex === null ? 'The whole run' : `Bar ${fmtInt(bar)}`),
    x.ts ? el('span', { class: 'muted' }, `${fmtTime(x.ts)} UTC`) : null, x.symbol ? el('span', { class: 'muted' }, x.symbol) : null,
    x.replayed ? el('span', { class: 'badge replayed', id: 'explain-replayed', title: 'This bar had no stored trace rows: the run was replayed to explain it, its result digest checked against the stored run\'s.' }, 'replayed') : null,
    note ? el('span', { class: 'muted small' }, `(${note})`) : null, el('span', { style: 'flex:1' }),
    barIndex !== null ? step(-1, '‹ previous bar') : null, barIndex !== null ? step(1, 'next bar ›') : null,
    el('button', { type: 'button', onclick: () => box.classList.add('hidden') }, 'Close')),
  el('div', { class: 'summary', id: 'explain-summary' }, x.summary || '(no summary)')];
  if (barIndex !== null && !x.traced) parts.push(el('div', { class: 'muted small' }, 'This bar was not traced (tracing off, sampled out, or past the row limit); the verdict comes from the run\'s counters. Run with trace_enabled for every detail.'));
  const values = Object.entries(x.values || {});
  if (values.length) {
    // A value is a number, or (backtestd) the payload of the check or event that decided: shown
    // like a trace row, its reason first.
    parts.push(el('table', {}, el('tbody', {}, values.map(([k, v]) => el('tr', {}, el('th', {}, k),
      v && typeof v === 'object' && !Array.isArray(v) ? payloadCell(v)
        : el('td', { class: 'num' }, typeof v === 'number' ? String(+v.toPrecision(8)) : JSON.stringify(v)))))));
  }
  for (const s of x.sections || []) {
    parts.push(el('div', { class: 'section' }, el('h3', {}, s.section), el('table', {}, el('tbody', {}, (s.items || []).map((row) => el('tr', {},
      el('td', { class: 'muted' }, row.kind),
      el('td', {}, row.payload && 'passed' in row.payload ? el('span', { class: row.payload.passed ? 'pass' : 'fail' }, row.payload.passed ? '✓' : '✗') : ''),
      payloadCell(row.payload)))))));
  }
  if ((x.reasons || []).length) {
    parts.push(el('table', {}, el('thead', {}, el('tr', {}, ['reason', 'count', 'what it means', 'sample bars'].map((h) => el('th', {}, h)))),
      el('tbody', {}, x.reasons.map((r) => el('tr', {}, el('td', {}, r.reason), el('td', { class: 'num' }, fmtInt(r.count)), el('td', {}, r.description || ''),
        el('td', {}, (r.sample_bars || []).map((b) => el('a', { href: '#', style: 'margin-right:6px', onclick: (e) => {
          e.preventDefault();
          scrollToBar(Number(b));
          explain(Number(b));
        } }, String(b)))))))));
  }
  box.replaceChildren(...parts);
}

// --- stats and trades ----------------------------------------------------------------------

const STATS = [
  ['Start', 'start', fmtTime], ['End', 'end', fmtTime], ['Duration', 'duration_seconds', fmtDuration], ['Bars', 'bars', fmtInt],
  ['Exposure %', 'exposure_pct'], ['Equity final', 'equity_final'], ['Equity peak', 'equity_peak'], ['P&L', 'pnl'],
  ['Return %', 'return_pct'], ['Buy & hold return %', 'buy_hold_return_pct'], ['Return (ann.) %', 'return_ann_pct'],
  ['Volatility (ann.) %', 'volatility_ann_pct'], ['Sharpe', 'sharpe'], ['Sortino', 'sortino'], ['Calmar', 'calmar'],
  ['Max drawdown %', 'max_drawdown_pct'], ['Avg drawdown %', 'avg_drawdown_pct'],
  ['Max drawdown duration', 'max_drawdown_duration_seconds', fmtDuration], ['Avg drawdown duration', 'avg_drawdown_duration_seconds', fmtDuration],
  ['Trades', 'trades', fmtInt], ['Win rate %', 'win_rate_pct'], ['Best trade %', 'best_trade_pct'], ['Worst trade %', 'worst_trade_pct'],
  ['Avg trade %', 'avg_trade_pct'], ['Max trade duration', 'max_trade_duration_seconds', fmtDuration],
  ['Avg trade duration', 'avg_trade_duration_seconds', fmtDuration], ['Profit factor', 'profit_factor'], ['Expectancy', 'expectancy'],
  ['SQN', 'sqn'], ['Commission', 'commission'],
];

function renderStats(s) {
  const rows = STATS.map(([label, key, f]) => el('div', {}, el('span', {}, label), el('span', {}, (f || fmtNum)(s[key]))));
  for (const [side, st] of [['Long', s.long_stats], ['Short', s.short_stats]]) {
    if (!st) continue;
    rows.push(el('div', {}, el('span', {}, `${side}: trades · win %`), el('span', {}, `${fmtInt(st.trades)} · ${fmtNum(st.win_rate_pct)}`)));
    rows.push(el('div', {}, el('span', {}, `${side}: P&L · PF`), el('span', {}, `${fmtNum(st.pnl)} · ${fmtNum(st.profit_factor)}`)));
  }
  document.getElementById('stats').replaceChildren(...rows);
}

/** Shows page `page` of the run's trades, as GetResult answers it (trades_offset, trades_limit). */
async function loadTradesPage(page) {
  const q = new URLSearchParams({ parts: 'trades', trades_offset: String(page * TRADES_PER_PAGE), trades_limit: String(TRADES_PER_PAGE) });
  let r;
  try {
    r = await api(resultPath(q));
  } catch (e) {
    showError(document.getElementById('page-error'), e);
    return;
  }
  tradesPage = page;
  renderTrades(r.trades || [], Number(r.total_trades || 0));
}

function renderTrades(page, total) {
  const table = document.getElementById('trades');
  const pager = document.getElementById('trades-pager');
  document.getElementById('trades-count').textContent = `(${fmtInt(total)})`;
  const pages = Math.max(1, Math.ceil(total / TRADES_PER_PAGE));
  const head = ['#', 'symbol', 'side', 'entry time', 'entry', 'exit time', 'exit', 'size', 'stop', 'target', 'P&L', 'return %', 'exit reason', 'bars'];
  const numeric = new Set(['#', 'entry', 'exit', 'size', 'stop', 'target', 'P&L', 'return %', 'bars']);
  table.replaceChildren(
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { class: numeric.has(h) ? 'num' : '' }, h)))),
    el('tbody', {}, page.map((t) => {
      const pnl = num(t.pnl);
      return el('tr', { title: 'Show on the chart and explain the entry bar', onclick: () => {
        scrollToBar(Number(t.entry_bar));
        explain(Number(t.entry_bar));
        document.getElementById('chart').scrollIntoView({ block: 'center', behavior: 'smooth' });
      } },
      el('td', { class: 'num' }, t.id), el('td', {}, t.symbol), el('td', {}, t.side),
      el('td', {}, fmtTime(t.entry_time)), el('td', { class: 'num' }, fmtPrice(t.entry_price)),
      el('td', {}, fmtTime(t.exit_time)), el('td', { class: 'num' }, fmtPrice(t.exit_price)),
      el('td', { class: 'num' }, fmtNum(t.size, 2)), el('td', { class: 'num' }, num(t.stop) ? fmtPrice(t.stop) : '—'),
      el('td', { class: 'num' }, num(t.target) ? fmtPrice(t.target) : '—'),
      el('td', { class: `num ${pnl >= 0 ? 'pos' : 'neg'}` }, fmtNum(pnl, 2)),
      el('td', { class: `num ${pnl >= 0 ? 'pos' : 'neg'}` }, fmtNum(t.return_pct, 2)),
      el('td', {}, t.exit_reason), el('td', { class: 'num' }, fmtInt(t.bars_held)));
    })));
  pager.replaceChildren();
  if (pages > 1) {
    const go = (p) => () => loadTradesPage(p);
    pager.append(
      el('button', { type: 'button', disabled: tradesPage === 0, onclick: go(tradesPage - 1) }, '‹ previous'),
      el('span', { class: 'muted' }, `page ${tradesPage + 1} of ${pages}`),
      el('button', { type: 'button', disabled: tradesPage >= pages - 1, onclick: go(tradesPage + 1) }, 'next ›'));
  }
}
