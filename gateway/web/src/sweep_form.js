// The sweep form (/sweeps/): the run's base parameters (the "run" group of ListParams), which
// numeric parameters vary and how (a range, a list of values, or log-spaced values), constraints,
// grid or seeded random search, and the objective. Every change asks the server for the
// combination count (RunSweep with dry_run), so the count is shown before running; the server's
// message names a bad field. Walk-forward windows (rolling or anchored, train and test bars) are
// optional. Running opens the sweep's page.
import { api, el, fmtInt, initTokenBox, showError } from './api.js';

// Parameters that fix the data or the trace: the server refuses to vary them (docs/sweeps.md).
const FIXED = new Set(['strategy', 'symbols', 'timeframe', 'start_date', 'end_date', 'max_candles',
  'data_source', 'market_type', 'pip_size', 'mode', 'trace_enabled', 'trace_sampling']);
// Objectives offered first; any Stats name is accepted by the server.
const OBJECTIVES = ['sharpe', 'return_pct', 'sortino', 'calmar', 'max_drawdown_pct', 'profit_factor',
  'win_rate_pct', 'sqn', 'expectancy', 'trades', 'equity_final', 'return_ann_pct'];
const DEFAULT_CONSTRAINTS = { sma_cross: 'fast_period < slow_period' };

const errorBox = document.getElementById('form-error');
const baseDiv = document.getElementById('base-fields');
const varyTable = document.getElementById('vary-table');
const countBox = document.getElementById('combo-count');
let defs = [];
let countSeq = 0;
let countTimer = 0;

function inputFor(p) {
  const id = `base-${p.name}`;
  if (p.type === 'choice') {
    return el('select', { id, name: p.name }, (p.choices || []).map((c) => el('option', { value: c }, c)));
  }
  return el('input', { id, name: p.name, type: 'text', value: p.default_value || '' });
}

async function renderBase(strategy) {
  const { params } = await api(`/api/params/?strategy=${encodeURIComponent(strategy)}`);
  defs = params;
  const shown = {};
  for (const input of baseDiv.querySelectorAll('[name]')) shown[input.name] = input.value;
  baseDiv.innerHTML = '';
  for (const p of params.filter((d) => d.group === 'run' && !d.hidden)) {
    const input = inputFor(p);
    input.value = shown[p.name] ?? (p.name === 'strategy' ? strategy : p.default_value || '');
    baseDiv.append(el('div', { class: 'field' }, el('label', { for: input.id }, p.name), input,
      el('div', { class: 'help' }, p.help || '')));
  }
  document.getElementById('base-strategy').value = strategy;
  document.getElementById('base-strategy').onchange = (e) => start(e.target.value);
  renderVary(params.filter((d) => (d.type === 'int' || d.type === 'double') && !FIXED.has(d.name) && !d.hidden));
  const constraints = document.getElementById('constraints');
  if (!constraints.dataset.touched) constraints.value = DEFAULT_CONSTRAINTS[strategy] || '';
}

function renderVary(numeric) {
  varyTable.innerHTML = '';
  varyTable.append(el('thead', {}, el('tr', {}, ['vary', 'parameter', 'default', 'how', 'start / values', 'stop', 'step / count'].map((h) => el('th', {}, h)))));
  const body = el('tbody');
  for (const p of numeric) {
    const d = Number(p.default_value || 0);
    const step = p.type === 'int' ? 1 : Math.max(Math.abs(d) / 10, 0.01);
    const tr = el('tr', { class: 'off', 'data-param': p.name, 'data-type': p.type },
      el('td', {}, el('input', { type: 'checkbox', class: 'vary-on', 'aria-label': `vary ${p.name}` })),
      el('td', {}, p.name),
      el('td', { class: 'muted' }, p.default_value),
      el('td', {}, el('select', { class: 'vary-mode' }, el('option', { value: 'range' }, 'range'), el('option', { value: 'values' }, 'values'), el('option', { value: 'log' }, 'log'))),
      el('td', {}, el('input', { type: 'text', class: 'vary-start', value: String(d) })),
      el('td', {}, el('input', { type: 'number', class: 'vary-stop', value: String(p.type === 'int' ? d * 2 : +(d * 2).toFixed(6)), step: 'any' })),
      el('td', {}, el('input', { type: 'number', class: 'vary-step', value: String(step), step: 'any' })));
    tr.querySelector('.vary-on').addEventListener('change', (e) => tr.classList.toggle('off', !e.target.checked));
    body.append(tr);
  }
  varyTable.append(body);
}

/** The RunSweepRequest the form describes. */
function request(dryRun) {
  const params = {};
  for (const input of baseDiv.querySelectorAll('[name]')) {
    if (input.value.trim() !== '') params[input.name] = input.value.trim();
  }
  const ranges = [];
  for (const tr of varyTable.querySelectorAll('tbody tr')) {
    if (!tr.querySelector('.vary-on').checked) continue;
    const name = tr.dataset.param;
    const mode = tr.querySelector('.vary-mode').value;
    const startText = tr.querySelector('.vary-start').value.trim();
    const stop = Number(tr.querySelector('.vary-stop').value);
    const third = Number(tr.querySelector('.vary-step').value);
    if (mode === 'values') {
      ranges.push({ name, values: startText.split(',').map((s) => s.trim()).filter(Boolean).map(Number) });
    } else if (mode === 'log') {
      ranges.push({ name, start: Number(startText), stop, log: true, count: Math.round(third) });
    } else {
      ranges.push({ name, start: Number(startText), stop, step: third });
    }
  }
  const method = document.getElementById('method').value;
  const body = {
    params,
    ranges,
    method,
    constraints: document.getElementById('constraints').value.split('\n').map((s) => s.trim()).filter(Boolean),
    objective: { stat: document.getElementById('objective').value, minimize: document.getElementById('minimize').checked },
    dry_run: dryRun,
  };
  if (document.getElementById('wf-on').checked) {
    body.walk_forward = {
      mode: document.getElementById('wf-mode').value,
      train_bars: Number(document.getElementById('wf-train').value),
      test_bars: Number(document.getElementById('wf-test').value),
    };
  }
  if (method === 'random') {
    body.count = Number(document.getElementById('random-count').value);
    body.seed = Number(document.getElementById('random-seed').value);
  }
  return body;
}

/** Asks the server how many combinations the form makes (a dry run), shortly after a change. */
function scheduleCount() {
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    const seq = ++countSeq;
    const body = request(true);
    if (!body.ranges.length) {
      countBox.textContent = 'tick at least one parameter to vary';
      countBox.className = 'combo-count muted';
      return;
    }
    countBox.textContent = 'counting…';
    try {
      const r = await api('/api/sweeps/', { method: 'POST', body });
      if (seq !== countSeq) return;
      const grid = Number(r.grid_size) !== Number(r.combinations) ? ` (grid of ${fmtInt(r.grid_size)} before constraints)` : '';
      countBox.textContent = `${fmtInt(r.combinations)} combinations${grid}`;
      countBox.dataset.combinations = String(r.combinations);
      countBox.className = 'combo-count';
    } catch (e) {
      if (seq !== countSeq) return;
      countBox.textContent = e.message;
      countBox.dataset.combinations = '';
      countBox.className = 'combo-count bad';
    }
  }, 250);
}

async function submit(ev) {
  ev.preventDefault();
  const button = document.getElementById('sweep-run');
  button.disabled = true;
  showError(errorBox, null);
  try {
    const r = await api('/api/sweeps/', { method: 'POST', body: request(false) });
    window.location.assign(r.sweep_url || `/sweeps/${encodeURIComponent(r.sweep_id)}/`);
  } catch (e) {
    showError(errorBox, e);
    button.disabled = false;
  }
}

async function start(strategy) {
  try {
    if (!strategy) {
      const { params } = await api('/api/params/');
      strategy = params.find((p) => p.name === 'strategy')?.default_value || 'sr_breakout';
    }
    await renderBase(strategy);
    showError(errorBox, null);
    scheduleCount();
  } catch (e) {
    showError(errorBox, e.status === 401 ? new Error(`${e.message}\nEnter your token at the top right.`) : e);
  }
}

const objective = document.getElementById('objective');
for (const o of OBJECTIVES) objective.append(el('option', { value: o }, o));
document.getElementById('constraints').addEventListener('input', (e) => { e.target.dataset.touched = '1'; });
const form = document.getElementById('sweep-form');
form.addEventListener('input', scheduleCount);
form.addEventListener('change', scheduleCount);
form.addEventListener('submit', submit);
initTokenBox(() => start());
start();
