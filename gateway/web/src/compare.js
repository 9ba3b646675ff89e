// The compare page (/compare/?jobs=a,b,…): CompareRuns' answer for 2 to 8 finished jobs, the
// equity curves overlaid on one chart (the server aligns them on one time axis and downsamples
// it), the parameters that differ, and every statistic side by side with its difference from the
// first job. The job list on the form page and the sweep page (its top rows) link here; jobs
// that have not finished yet are waited for.
import { LineSeries, createChart } from 'lightweight-charts';
import { api, el, fmtDuration, fmtInt, fmtNum, fmtTime, initTokenBox, num, showError } from './api.js';

// One colour per job, in order (8 jobs at most).
const COLORS = ['#2962ff', '#e65100', '#2e7d32', '#8e24aa', '#c62828', '#00838f', '#6d4c41', '#546e7a'];
const MAX_POINTS = 2000;
const WAIT_MS = 1000; // between asks while a job to compare has not finished

const pageError = document.getElementById('page-error');
let chart = null;

/** The job ids of the address: ?jobs=a,b (or repeated jobs=). */
function jobsOfAddress() {
  const q = new URLSearchParams(window.location.search);
  return q.getAll('jobs').flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

function shortId(id) {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

/** How a statistic's value reads: times, durations, counts or numbers. */
function fmtStat(name, v) {
  const base = name.split('.').pop();
  if (base === 'start' || base === 'end') return fmtTime(v);
  if (base.endsWith('_seconds')) return fmtDuration(v);
  if (base === 'trades' || base === 'bars') return fmtInt(v);
  return fmtNum(v, base.endsWith('_pct') ? 2 : 3);
}

function fmtDiff(name, d) {
  const n = num(d);
  if (!Number.isFinite(n)) return '—';
  if (n === 0) return '=';
  const base = name.split('.').pop();
  const sign = n > 0 ? '+' : '−';
  const abs = Math.abs(n);
  if (base === 'start' || base === 'end' || base.endsWith('_seconds')) return `${sign}${fmtDuration(abs)}`;
  return `${sign}${base === 'trades' || base === 'bars' ? fmtInt(abs) : fmtNum(abs, base.endsWith('_pct') ? 2 : 3)}`;
}

function renderJobs(jobs) {
  const box = document.getElementById('compare-jobs');
  box.innerHTML = '';
  jobs.forEach((j, i) => box.append(el('div', { class: 'compare-job' },
    el('span', { class: 'swatch', style: `background:${COLORS[i]}` }),
    el('a', { href: `/jobs/${encodeURIComponent(j.job_id)}/`, title: j.job_id }, shortId(j.job_id)),
    el('span', { class: 'muted small' }, ` ${j.params?.strategy ?? ''} · ${j.params?.symbols ?? ''} · ${j.params?.timeframe ?? ''}`))));
}

function renderChart(equity, jobs) {
  const box = document.getElementById('compare-chart');
  if (chart) chart.remove();
  chart = createChart(box, {
    autoSize: true,
    layout: { attributionLogo: false },
    // minBarSpacing: the whole axis fits the width (up to 20,000 times).
    timeScale: { timeVisible: true, secondsVisible: false, minBarSpacing: 0.01 },
    rightPriceScale: { borderVisible: false },
  });
  const times = (equity.times || []).map(num);
  let curves = 0;
  (equity.curves || []).forEach((c, i) => {
    const first = num(c.first) || 0;
    const data = (c.values || []).map((v, k) => ({ time: times[first + k], value: num(v) }))
      .filter((p) => Number.isFinite(p.value));
    const series = chart.addSeries(LineSeries, {
      color: COLORS[i], lineWidth: 2, title: shortId(jobs[i]?.job_id || c.job_id), priceLineVisible: false,
    });
    series.setData(data);
    if (data.length) curves += 1;
  });
  chart.timeScale().fitContent();
  box.dataset.curves = String(curves);
  const total = num(equity.total_times);
  document.getElementById('equity-note').textContent = times.length < total
    ? `${fmtInt(times.length)} of ${fmtInt(total)} times shown (evenly picked by the server)`
    : `${fmtInt(times.length)} times`;
}

function renderParams(rows, jobs) {
  const box = document.getElementById('compare-params');
  box.innerHTML = '';
  if (!rows.length) {
    box.append(el('span', { class: 'muted' }, 'Every parameter is the same in these jobs.'));
    return;
  }
  box.append(el('table', { id: 'params-table' },
    el('thead', {}, el('tr', {}, el('th', {}, 'parameter'), jobs.map((j, i) => el('th', { style: `color:${COLORS[i]}` }, shortId(j.job_id))))),
    el('tbody', {}, rows.map((r) => el('tr', { 'data-param': r.name },
      el('td', {}, r.name), (r.values || []).map((v) => el('td', {}, v === '' ? '—' : v)))))));
}

function renderStats(rows, jobs) {
  const table = document.getElementById('compare-stats');
  const only = document.getElementById('only-different').checked;
  table.innerHTML = '';
  table.append(
    el('thead', {}, el('tr', {}, el('th', {}, 'statistic'),
      jobs.map((j, i) => [
        el('th', { class: 'num', style: `color:${COLORS[i]}` }, shortId(j.job_id)),
        i > 0 ? el('th', { class: 'num small' }, 'Δ') : null]).flat())),
    el('tbody', {}, rows.filter((r) => !only || !r.same).map((r) => el('tr', { 'data-stat': r.name, class: r.same ? '' : 'differs' },
      el('td', {}, r.name),
      (r.values || []).map((v, i) => {
        const d = num(r.differences[i]);
        const cls = !Number.isFinite(d) || d === 0 ? 'num diff muted' : `num diff ${d > 0 ? 'pos' : 'neg'}`;
        return [el('td', { class: 'num' }, fmtStat(r.name, v)),
          i > 0 ? el('td', { class: cls }, fmtDiff(r.name, r.differences[i])) : null];
      }).flat()))));
}

async function load() {
  const ids = jobsOfAddress();
  const hint = document.getElementById('compare-hint');
  const section = document.getElementById('compare');
  const wait = document.getElementById('compare-wait');
  showError(pageError, null);
  if (ids.length === 0) {
    hint.classList.remove('hidden');
    section.classList.add('hidden');
    return;
  }
  hint.classList.add('hidden');
  document.title = `backtestd · compare ${ids.length} jobs`;
  try {
    const q = new URLSearchParams({ jobs: ids.join(','), max_points: String(MAX_POINTS) });
    const r = await api(`/api/compare/?${q}`);
    wait.classList.add('hidden');
    section.classList.remove('hidden');
    renderJobs(r.jobs);
    renderChart(r.equity || {}, r.jobs);
    renderParams(r.differing_params || [], r.jobs);
    renderStats(r.stats || [], r.jobs);
    document.getElementById('only-different').onchange = () => renderStats(r.stats || [], r.jobs);
  } catch (e) {
    // Jobs just submitted (a sweep's rows opened for comparison): wait for them.
    if (e.grpcCode === 'FAILED_PRECONDITION' && / is (queued|running);/.test(e.message)) {
      showError(pageError, null);
      wait.classList.remove('hidden');
      wait.textContent = `waiting: ${e.message.replace(/;.*$/, '')}…`;
      setTimeout(load, WAIT_MS);
      return;
    }
    section.classList.add('hidden');
    showError(pageError, e.status === 401 ? new Error(`${e.message}\nEnter your token at the top right.`) : e);
  }
}

initTokenBox(() => load());
load();
