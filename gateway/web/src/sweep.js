// The sweep page (/sweeps/{id}/): status and a live progress bar (GetSweep polled while the sweep
// runs), the best row so far, a heatmap of the objective over two chosen parameters (each cell
// the best over the other parameters, or the other parameters fixed at the best row's values),
// the rows, sortable by any column, and (when the sweep asked for it) the walk-forward: its
// stitched out-of-sample equity with the test windows drawn on it and its trades marked, and
// each window's choice. A
// click on a cell or a row opens that row as a normal job (OpenSweepRow) and goes to its page.
import { HistogramSeries, LineSeries, createChart, createSeriesMarkers } from 'lightweight-charts';
import { api, el, fmtDuration, fmtInt, fmtNum, fmtTime, initTokenBox, num, showError } from './api.js';

const sweepId = decodeURIComponent(window.location.pathname.split('/').filter(Boolean)[1] || '');
const pageError = document.getElementById('page-error');
const canvas = document.getElementById('heatmap');
const tip = document.getElementById('heat-tip');
const POLL_MS = 500;
const ROWS_EVERY_MS = 2000; // heatmap and rows while the sweep runs
const ROWS_SHOWN = 100;
const HEAT_PAGE = 10000;
const STAT_COLUMNS = ['return_pct', 'sharpe', 'max_drawdown_pct', 'trades', 'win_rate_pct', 'profit_factor'];

let sweep = null;
let order = { by: '', descending: true }; // '' = the objective, best first
let lastRowsLoad = 0;
let heat = null; // the drawn heatmap: axes, cells, geometry

document.title = `backtestd · sweep ${sweepId}`;
document.getElementById('sweep-id').textContent = `sweep ${sweepId}`;

const active = () => sweep && ['queued', 'running'].includes(sweep.job.status);
const objectiveName = () => sweep?.request?.objective?.stat || 'sharpe';
const minimize = () => Boolean(sweep?.request?.objective?.minimize);

function paramsText(params) {
  return Object.entries(params || {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

/** Opens row `row` as a job and goes to its page. */
async function openRow(row) {
  try {
    const r = await api(`/api/sweeps/${encodeURIComponent(sweepId)}/rows/${row}/open`, { method: 'POST' });
    window.location.assign(r.job_url || `/jobs/${encodeURIComponent(r.job_id)}/`);
  } catch (e) {
    showError(pageError, e);
  }
}

// --- status and progress --------------------------------------------------------------------

function renderStatus() {
  const job = sweep.job;
  const badge = document.getElementById('sweep-status');
  badge.textContent = job.status;
  badge.className = `badge ${job.status}`;
  document.getElementById('cancel-button').classList.toggle('hidden', !active());
  const done = num(sweep.rows_done);
  const total = num(sweep.combinations);
  // After the rows, a walk-forward tells its own progress: its runs (each window's combinations
  // and its test run).
  const wfRuns = active() && job.progress?.stage === 'walk_forward' ? job.progress : null;
  const fraction = wfRuns ? num(wfRuns.fraction) : total > 0 ? Math.min(1, done / total) : 0;
  const bar = document.querySelector('#sweep-progress .bar');
  bar.style.width = `${(fraction * 100).toFixed(1)}%`;
  const eta = num(job.progress?.eta_seconds);
  const label = `${fmtInt(done)} of ${fmtInt(total)} combinations` +
    (num(sweep.rows_failed) ? ` (${fmtInt(sweep.rows_failed)} failed)` : '') +
    (wfRuns ? ` · walk-forward ${fmtInt(num(wfRuns.bars_done))} of ${fmtInt(num(wfRuns.bars_total))} runs` : '') +
    (active() && eta > 0 ? ` · ETA ${fmtDuration(eta)}` : '');
  const progress = document.getElementById('sweep-progress');
  progress.querySelector('.label').textContent = label;
  progress.dataset.done = String(done);
  progress.dataset.total = String(total);
  document.getElementById('sweep-meta').textContent =
    `${sweep.job.params?.strategy ?? ''} · ${sweep.job.params?.symbols ?? ''} · ${sweep.job.params?.timeframe ?? ''} · objective ${minimize() ? 'min' : 'max'} ${objectiveName()}`;
  document.getElementById('sweep-plan').textContent = planText(sweep.request);
  renderDistribution(sweep.distribution);
  showError(document.getElementById('sweep-error'), job.error ? new Error(job.error) : null);
  const best = document.getElementById('sweep-best');
  best.innerHTML = '';
  if (sweep.best && sweep.best.params && Object.keys(sweep.best.params).length) {
    best.append(`best ${objectiveName()} ${fmtNum(sweep.best.objective, 3)} at row ${sweep.best.row}: ${paramsText(sweep.best.params)} `,
      el('button', { type: 'button', id: 'open-best', onclick: () => openRow(sweep.best.row) }, 'open this run'));
  }
}

/** What the sweep varies and how it searches, from its request. */
function planText(req) {
  const ranges = (req?.ranges || []).map((r) => {
    if (r.values && r.values.length) return `${r.name} ∈ {${r.values.join(', ')}}`;
    if (r.log) return `${r.name} ${r.start}…${r.stop} log (${r.count})`;
    return `${r.name} ${r.start}…${r.stop} step ${r.step ?? 1}`;
  });
  const method = req?.method === 'random' ? `random ${req.count} (seed ${req.seed})` : 'grid';
  const constraints = (req?.constraints || []).length ? ` · where ${req.constraints.join(', ')}` : '';
  return `varies ${ranges.join(' · ')} · ${method}${constraints}`;
}

function renderDistribution(d) {
  const box = document.getElementById('sweep-dist');
  const buckets = d?.buckets || [];
  const most = Math.max(1, ...buckets.map((b) => num(b.count)));
  box.replaceChildren(...buckets.map((b) => el('div', {
    style: `height:${(100 * num(b.count) / most).toFixed(1)}%`,
    title: `${fmtNum(b.from, 3)} to ${fmtNum(b.to, 3)}: ${fmtInt(b.count)} rows`,
  })));
  document.getElementById('sweep-dist-note').textContent = buckets.length
    ? `${objectiveName()} over ${fmtInt(d.count)} rows: min ${fmtNum(d.min, 3)} · median ${fmtNum(d.median, 3)} · mean ${fmtNum(d.mean, 3)} · max ${fmtNum(d.max, 3)}` +
      (num(d.undefined) ? ` · ${fmtInt(d.undefined)} undefined or failed` : '')
    : '';
}

// --- walk-forward ----------------------------------------------------------------------------

let wfChart = null;

/** The stitched out-of-sample equity with its test windows as bands, and the windows' table. */
function renderWalkForward(wf) {
  const windows = wf.windows || [];
  document.getElementById('wf').classList.remove('hidden');
  document.getElementById('wf-note').textContent =
    `${windows.length} windows · walk-forward efficiency ${fmtNum(wf.efficiency, 2)} · ${fmtInt((wf.trades || []).length)} out-of-sample trades`;
  const box = document.getElementById('wf-chart');
  if (wfChart) wfChart.remove();
  // minBarSpacing: the whole curve fits the width (5,000 points at most).
  wfChart = createChart(box, { autoSize: true, layout: { attributionLogo: false }, timeScale: { timeVisible: true, minBarSpacing: 0.01 } });
  const times = (wf.equity_times || []).map(num);
  const values = (wf.equity_values || []).map(num);
  const windowOf = (t) => windows.findIndex((w) => t >= num(w.test_start) && t < num(w.test_end));
  // Bands: a full-height bar at every point, its colour by its window (alternating).
  const bands = wfChart.addSeries(HistogramSeries, { priceScaleId: 'bands', priceLineVisible: false, lastValueVisible: false });
  wfChart.priceScale('bands').applyOptions({ scaleMargins: { top: 0, bottom: 0 }, visible: false });
  bands.setData(times.map((t) => {
    const i = windowOf(t);
    return { time: t, value: 1, color: i < 0 ? 'rgba(0,0,0,0)' : (i % 2 ? '#eaf0ff' : '#fff1e6') };
  }));
  const line = wfChart.addSeries(LineSeries, { color: '#2962ff', lineWidth: 2, priceLineVisible: false });
  line.setData(times.map((t, k) => ({ time: t, value: values[k] })));
  const marks = [];
  windows.forEach((w, i) => {
    const t = times.find((x) => x >= num(w.test_start));
    if (t !== undefined && (!marks.length || marks[marks.length - 1].time !== t)) {
      marks.push({ time: t, position: 'aboveBar', shape: 'arrowDown', color: '#455a64', text: `W${i + 1}` });
    }
  });
  // The out-of-sample trades: each entry and exit on the point of the curve at or before it (the
  // curve keeps at most 5,000 points, so a fill's own bar may not be one of them).
  const at = (t) => {
    let lo = 0;
    let hi = times.length - 1;
    if (hi < 0 || t < times[0]) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= t) lo = mid; else hi = mid - 1;
    }
    return times[lo];
  };
  let tradeMarks = 0;
  for (const tr of wf.trades || []) {
    const long = tr.side === 'long';
    const entry = at(num(tr.entry_time));
    const exit = at(num(tr.exit_time));
    if (entry !== undefined) {
      marks.push({ time: entry, position: long ? 'belowBar' : 'aboveBar', shape: long ? 'arrowUp' : 'arrowDown', color: long ? '#26a69a' : '#ef5350' });
      tradeMarks += 1;
    }
    if (exit !== undefined) {
      marks.push({ time: exit, position: 'inBar', shape: 'circle', color: num(tr.pnl) >= 0 ? '#26a69a' : '#ef5350', size: 0.5 });
      tradeMarks += 1;
    }
  }
  marks.sort((a, b) => a.time - b.time);
  createSeriesMarkers(line, marks);
  box.dataset.tradeMarkers = String(tradeMarks);
  wfChart.timeScale().fitContent();
  box.dataset.windows = String(windows.length);
  box.dataset.points = String(times.length);
  const names = sweep.names || [];
  const table = document.getElementById('wf-table');
  table.replaceChildren(
    el('thead', {}, el('tr', {}, ['window', 'train', 'test', ...names, 'train return %', 'test return %', 'train sharpe', 'test sharpe', 'efficiency'].map((h) => el('th', {}, h)))),
    el('tbody', {}, windows.map((w, i) => el('tr', { 'data-window': String(i) },
      el('td', {}, `W${i + 1}`),
      el('td', {}, `${fmtTime(w.train_start)} – ${fmtTime(w.train_end)}`),
      el('td', {}, `${fmtTime(w.test_start)} – ${fmtTime(w.test_end)}`),
      names.map((n) => el('td', { class: 'num' }, w.params?.[n] ?? '—')),
      el('td', { class: 'num' }, fmtNum(w.train_stats?.return_pct, 2)),
      el('td', { class: 'num' }, fmtNum(w.test_stats?.return_pct, 2)),
      el('td', { class: 'num' }, fmtNum(w.train_stats?.sharpe, 2)),
      el('td', { class: 'num' }, fmtNum(w.test_stats?.sharpe, 2)),
      el('td', { class: 'num' }, fmtNum(w.efficiency, 2))))));
}

// --- heatmap ----------------------------------------------------------------------------------

/** Every row's parameters and objective (pages of 10,000). */
async function allRows() {
  const rows = [];
  let token = '';
  do {
    const q = new URLSearchParams({ objective_only: 'true', page_size: String(HEAT_PAGE) });
    if (token) q.set('page_token', token);
    const r = await api(`/api/sweeps/${encodeURIComponent(sweepId)}/rows?${q}`);
    rows.push(...(r.rows || []));
    token = r.next_page_token;
  } while (token);
  return rows;
}

/** A colour from dark blue (worst) to yellow (best), t in [0, 1]. */
function colour(t) {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function drawHeatmap(rows) {
  const xName = document.getElementById('heat-x').value;
  const yName = document.getElementById('heat-y').value;
  const better = (a, b) => (minimize() ? a < b : a > b);
  // The other varied parameters: the best over them, or fixed at the best row's values.
  const fixed = document.getElementById('heat-others').value === 'fixed' && sweep.best?.params
    ? (sweep.names || []).filter((n) => n !== xName && n !== yName) : [];
  const cells = new Map(); // "x|y" -> {x, y, value, row}
  for (const r of rows) {
    const v = num(r.objective);
    if (r.error || !Number.isFinite(v)) continue;
    if (fixed.some((n) => r.params[n] !== sweep.best.params[n])) continue;
    const x = Number(r.params[xName]);
    const y = yName ? Number(r.params[yName]) : 0;
    const key = `${x}|${y}`;
    const c = cells.get(key);
    if (!c || better(v, c.value) || (v === c.value && r.row < c.row)) cells.set(key, { x, y, value: v, row: r.row });
  }
  const xs = [...new Set([...cells.values()].map((c) => c.x))].sort((a, b) => a - b);
  const ys = [...new Set([...cells.values()].map((c) => c.y))].sort((a, b) => a - b);
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const note = document.getElementById('heatmap-note');
  if (!cells.size) {
    note.textContent = 'no rows yet';
    heat = null;
    return;
  }
  const left = 60, bottom = 34, top = 8, right = 8;
  const w = (canvas.width - left - right) / xs.length;
  const h = (canvas.height - top - bottom) / ys.length;
  const values = [...cells.values()].map((c) => c.value);
  const lo = Math.min(...values), hi = Math.max(...values);
  let best = null;
  for (const c of cells.values()) {
    const t = hi > lo ? (c.value - lo) / (hi - lo) : 1;
    ctx.fillStyle = colour(minimize() ? 1 - t : t);
    const px = left + xs.indexOf(c.x) * w;
    const py = top + (ys.length - 1 - ys.indexOf(c.y)) * h; // y grows upwards
    ctx.fillRect(px, py, Math.ceil(w), Math.ceil(h));
    c.px = px; c.py = py;
    if (!best || better(c.value, best.value) || (c.value === best.value && c.row < best.row)) best = c;
  }
  ctx.strokeStyle = '#d50000';
  ctx.lineWidth = 2;
  ctx.strokeRect(best.px + 1, best.py + 1, Math.max(2, w - 2), Math.max(2, h - 2));
  // Axis labels: at most ~12 per axis.
  ctx.fillStyle = '#1d2125';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'center';
  const xEvery = Math.ceil(xs.length / 12);
  xs.forEach((x, i) => { if (i % xEvery === 0) ctx.fillText(String(x), left + (i + 0.5) * w, canvas.height - bottom + 14); });
  ctx.fillText(xName, left + (canvas.width - left - right) / 2, canvas.height - 4);
  ctx.textAlign = 'right';
  const yEvery = Math.ceil(ys.length / 12);
  ys.forEach((y, i) => { if (i % yEvery === 0) ctx.fillText(yName ? String(y) : '', left - 4, top + (ys.length - 1 - i + 0.5) * h + 4); });
  heat = { xs, ys, w, h, left, top, cells, xName, yName };
  // Where the best cell is, in page pixels of the canvas (for tests and tools).
  const scale = canvas.getBoundingClientRect().width / canvas.width;
  canvas.dataset.bestRow = String(best.row);
  canvas.dataset.bestX = String(Math.round((best.px + w / 2) * scale));
  canvas.dataset.bestY = String(Math.round((best.py + h / 2) * scale));
  canvas.dataset.cells = String(cells.size);
  note.textContent = `${fmtInt(cells.size)} cells · ${objectiveName()} from ${fmtNum(lo, 3)} to ${fmtNum(hi, 3)}`;
  document.getElementById('heat-legend').textContent = `${minimize() ? 'lower' : 'higher'} ${objectiveName()} is brighter; the red frame is the best cell`;
}

/** The cell under a mouse event, or null. */
function cellAt(ev) {
  if (!heat) return null;
  const rect = canvas.getBoundingClientRect();
  const x = (ev.clientX - rect.left) * (canvas.width / rect.width);
  const y = (ev.clientY - rect.top) * (canvas.height / rect.height);
  const i = Math.floor((x - heat.left) / heat.w);
  const j = heat.ys.length - 1 - Math.floor((y - heat.top) / heat.h);
  if (i < 0 || i >= heat.xs.length || j < 0 || j >= heat.ys.length) return null;
  return heat.cells.get(`${heat.xs[i]}|${heat.ys[j]}`) || null;
}

canvas.addEventListener('mousemove', (ev) => {
  const c = cellAt(ev);
  tip.classList.toggle('hidden', !c);
  if (!c) return;
  tip.textContent = `${heat.xName}=${c.x}${heat.yName ? `, ${heat.yName}=${c.y}` : ''}: ${objectiveName()} ${fmtNum(c.value, 3)} (row ${c.row})`;
  const wrap = canvas.parentElement.getBoundingClientRect();
  tip.style.left = `${ev.clientX - wrap.left + 12}px`;
  tip.style.top = `${ev.clientY - wrap.top + 12}px`;
});
canvas.addEventListener('mouseleave', () => tip.classList.add('hidden'));
canvas.addEventListener('click', (ev) => {
  const c = cellAt(ev);
  if (c) openRow(c.row);
});

/** Opens the first n rows of the table as jobs and compares them (the compare page waits). */
async function compareTop() {
  const rows = [...document.querySelectorAll('#rows-table tbody tr')].slice(0, Number(document.getElementById('compare-count').value));
  try {
    const opened = await Promise.all(rows.map((tr) => api(`/api/sweeps/${encodeURIComponent(sweepId)}/rows/${tr.dataset.row}/open`, { method: 'POST' })));
    window.location.assign(`/compare/?jobs=${opened.map((o) => encodeURIComponent(o.job_id)).join(',')}`);
  } catch (e) {
    showError(pageError, e);
  }
}
document.getElementById('compare-top').addEventListener('click', compareTop);
document.getElementById('rows-filter').addEventListener('change', () => {
  firstPage();
  loadRows().catch((e) => showError(pageError, e));
});
document.getElementById('rows-prev').addEventListener('click', () => {
  pageIndex = Math.max(0, pageIndex - 1);
  loadRows().catch((e) => showError(pageError, e));
});
document.getElementById('rows-next').addEventListener('click', () => {
  pageIndex += 1;
  loadRows().catch((e) => showError(pageError, e));
});

// --- rows -----------------------------------------------------------------------------------

// Pages of the table: the token of each page seen so far (the first's is empty).
let pageTokens = [''];
let pageIndex = 0;

/** Back to the first page (a new order or filter). */
function firstPage() {
  pageTokens = [''];
  pageIndex = 0;
}

async function loadRows() {
  const q = new URLSearchParams({ page_size: String(ROWS_SHOWN) });
  if (order.by) {
    q.set('order_by', order.by);
    q.set('descending', String(order.descending));
  }
  const filter = document.getElementById('rows-filter').value.trim();
  if (filter) q.set('filter', filter);
  if (pageTokens[pageIndex]) q.set('page_token', pageTokens[pageIndex]);
  let r;
  try {
    r = await api(`/api/sweeps/${encodeURIComponent(sweepId)}/rows?${q}`);
    showError(document.getElementById('rows-error'), null);
  } catch (e) {
    if (e.status !== 400) throw e;
    showError(document.getElementById('rows-error'), e); // the filter, named by the server
    return;
  }
  pageTokens[pageIndex + 1] = r.next_page_token || '';
  document.getElementById('rows-prev').disabled = pageIndex === 0;
  document.getElementById('rows-next').disabled = !r.next_page_token;
  const names = sweep.names || [];
  const header = (label, key) => el('th', {
    class: `sortable num${(order.by || objectiveName()) === key ? ' sorted' : ''}`,
    'data-sort': key,
    onclick: () => {
      order = order.by === key ? { by: key, descending: !order.descending } : { by: key, descending: true };
      firstPage();
      loadRows().catch((e) => showError(pageError, e));
    },
  }, label);
  const table = document.getElementById('rows-table');
  table.innerHTML = '';
  table.append(
    el('thead', {}, el('tr', {}, el('th', {}, 'row'), names.map((n) => header(n, n)), header(`${objectiveName()} (objective)`, objectiveName()),
      STAT_COLUMNS.filter((s) => s !== objectiveName()).map((s) => header(s, s)), el('th', {}, 'run'))),
    el('tbody', {}, (r.rows || []).map((row) => el('tr', { 'data-row': String(row.row), onclick: () => openRow(row.row), title: 'open this row as a job' },
      el('td', {}, String(row.row)),
      names.map((n) => el('td', { class: 'num' }, row.params?.[n] ?? '')),
      el('td', { class: 'num' }, row.error ? 'failed' : fmtNum(row.objective, 3)),
      STAT_COLUMNS.filter((s) => s !== objectiveName()).map((s) => el('td', { class: 'num' }, s === 'trades' ? fmtInt(row.stats?.[s]) : fmtNum(row.stats?.[s], 3))),
      el('td', {}, row.job_id ? el('a', { href: `/jobs/${encodeURIComponent(row.job_id)}/`, onclick: (e) => e.stopPropagation() }, 'job') : 'open')))));
  const by = order.by || `${objectiveName()}, best first`;
  document.getElementById('rows-note').textContent =
    `${fmtInt(pageIndex * ROWS_SHOWN + 1)}–${fmtInt(Math.min((pageIndex + 1) * ROWS_SHOWN, num(r.total_size)))} of ${fmtInt(r.total_size)}${filter ? ' matching' : ''} by ${by}${order.by ? (order.descending ? ' (descending)' : ' (ascending)') : ''}; click a header to sort, a row to open it`;
}

async function loadRowsAndHeatmap() {
  lastRowsLoad = Date.now();
  const [rows] = await Promise.all([allRows(), loadRows()]);
  drawHeatmap(rows);
}

function fillAxes() {
  const names = sweep.names || [];
  const xSel = document.getElementById('heat-x');
  const ySel = document.getElementById('heat-y');
  if (xSel.options.length) return;
  for (const n of names) xSel.append(el('option', { value: n }, n));
  ySel.append(el('option', { value: '' }, '—'));
  for (const n of names) ySel.append(el('option', { value: n }, n));
  xSel.value = names[0] || '';
  ySel.value = names[1] || '';
  const redraw = async () => drawHeatmap(await allRows());
  xSel.onchange = () => redraw().catch((e) => showError(pageError, e));
  ySel.onchange = xSel.onchange;
  document.getElementById('heat-others').onchange = xSel.onchange;
}

// --- main -----------------------------------------------------------------------------------

async function poll() {
  try {
    const wasActive = active();
    sweep = await api(`/api/sweeps/${encodeURIComponent(sweepId)}/`);
    showError(pageError, null);
    renderStatus();
    fillAxes();
    const ended = wasActive && !active();
    if (sweep.walk_forward && (sweep.walk_forward.windows || []).length && (ended || !wfChart)) {
      renderWalkForward(sweep.walk_forward);
    }
    if (ended || !wasActive && !heat || (active() && Date.now() - lastRowsLoad > ROWS_EVERY_MS)) {
      await loadRowsAndHeatmap();
    }
  } catch (e) {
    showError(pageError, e.status === 401 ? new Error(`${e.message}\nEnter your token at the top right.`) : e);
    if (e.status >= 400 && e.status < 500) return; // not the caller's sweep, or no token: stop
  }
  if (!sweep || active()) setTimeout(poll, POLL_MS);
}

document.getElementById('cancel-button').addEventListener('click', async () => {
  try {
    await api(`/api/jobs/${encodeURIComponent(sweepId)}/cancel/`, { method: 'POST' });
  } catch (e) {
    showError(pageError, e);
  }
});
initTokenBox(() => poll());
poll();
