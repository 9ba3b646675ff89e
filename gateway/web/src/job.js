// The job page (/jobs/{id}/): status, progress with ETA, the live log over Server-Sent Events
// (resumed with Last-Event-ID after a disconnect), a cancel button while the job runs, and the
// result (chart, explain, stats, trades) once it has finished.
import { ApiError, api, authHeader, el, errorFrom, fmtDuration, fmtInt, fmtStamp, initTokenBox, showError } from './api.js';
import { showResult } from './result.js';

const jobId = decodeURIComponent(window.location.pathname.split('/').filter(Boolean)[1] || '');
const pageError = document.getElementById('page-error');
const logBox = document.getElementById('log');
const connLabel = document.getElementById('conn');
const cancelButton = document.getElementById('cancel-button');
const MAX_LOG_LINES = 3000; // older lines leave the page; the whole log stays in /api/jobs/{id}/log

let status = '';
let resultShown = false;
let follower = null; // AbortController of the event stream

document.title = `backtestd · ${jobId}`;
document.getElementById('job-id').textContent = jobId;

// --- status and progress -----------------------------------------------------------

/**
 * Shows the result; a sweep's job has rows, not a result, and its page is /sweeps/{id}/. Its
 * stats are asked for beside the chart (small, and the chart waits for nothing): NOT_FOUND there
 * and a sweep of that id send the browser on.
 */
async function showResultOrSweep() {
  const shown = showResult(jobId);
  try {
    await api(`/api/jobs/${encodeURIComponent(jobId)}/result/?parts=stats`);
  } catch (e) {
    if (e.status === 404 && await api(`/api/sweeps/${encodeURIComponent(jobId)}/`).then(() => true, () => false)) {
      window.location.replace(`/sweeps/${encodeURIComponent(jobId)}/`);
      return;
    }
  }
  await shown;
}

function setStatus(s, error) {
  if (!s) return;
  status = s;
  const badge = document.getElementById('job-status');
  badge.textContent = s;
  badge.className = `badge ${s}`;
  const active = s === 'queued' || s === 'running';
  cancelButton.classList.toggle('hidden', !active);
  if (error !== undefined) showError(document.getElementById('job-error'), error ? new Error(error) : null);
  if (s === 'finished') {
    setProgress({ fraction: 1, stage: 'done' });
    if (!resultShown) {
      resultShown = true;
      showResultOrSweep().catch((e) => showError(pageError, e));
    }
  }
}

let progressStart = null; // [time ms, fraction] of the first progress seen, for an ETA of our own

function setProgress(p) {
  const frac = Math.max(0, Math.min(1, Number(p.fraction) || 0));
  const box = document.getElementById('progress');
  box.querySelector('.bar').style.width = `${(frac * 100).toFixed(1)}%`;
  const parts = [p.stage || status || '', `${(frac * 100).toFixed(frac < 0.1 ? 1 : 0)}%`];
  if (Number(p.bars_total) > 0) parts.push(`${fmtInt(p.bars_done)} / ${fmtInt(p.bars_total)} bars`);
  let eta = Number(p.eta_seconds) || 0;
  if (!eta && frac > 0 && frac < 1) {
    if (!progressStart) progressStart = [Date.now(), frac];
    const [t0, f0] = progressStart;
    const rate = (frac - f0) / ((Date.now() - t0) / 1000);
    if (rate > 0) eta = (1 - frac) / rate;
  }
  if (eta > 0 && frac < 1) parts.push(`ETA ${fmtDuration(eta)}`);
  box.querySelector('.label').textContent = parts.filter(Boolean).join(' · ');
}

function showJob(job) {
  setStatus(job.status, job.error);
  if (job.progress) setProgress(job.progress);
  const meta = [];
  if (job.owner) meta.push(`by ${job.owner}`);
  if (job.preset) meta.push(`preset ${job.preset}`);
  meta.push(`submitted ${fmtStamp(job.created_at)}`);
  if (job.started_at) meta.push(`started ${fmtStamp(job.started_at)}`);
  if (job.finished_at) meta.push(`ended ${fmtStamp(job.finished_at)}`);
  if (job.runner) meta.push(job.runner);
  else if (job.pid) meta.push(`pid ${job.pid}`);
  if (job.request_id) meta.push(`request ${job.request_id}`);
  document.getElementById('job-meta').textContent = meta.join(' · ');
  const params = Object.entries(job.params || {}).sort(([a], [b]) => a.localeCompare(b));
  document.getElementById('job-params').replaceChildren(params.length
    ? el('table', {}, el('tbody', {}, params.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, JSON.stringify(v))))))
    : '');
  const tails = [];
  if (job.stdout_tail) tails.push(el('div', { class: 'small' }, 'stdout (last lines)'), el('pre', { class: 'tail' }, job.stdout_tail));
  if (job.stderr_tail) tails.push(el('div', { class: 'small' }, 'stderr (last lines)'), el('pre', { class: 'tail' }, job.stderr_tail));
  document.getElementById('job-tails').replaceChildren(...tails);
  if (job.status === 'failed' && job.stderr_tail) document.getElementById('job-details').open = true;
}

async function refreshJob() {
  try {
    showJob(await api(`/api/jobs/${encodeURIComponent(jobId)}/status/`));
    showError(pageError, null);
    return true;
  } catch (e) {
    showError(pageError, e.status === 401 ? new Error(`${e.message}\nEnter your token at the top right.`) : e);
    return false;
  }
}

// --- live log -----------------------------------------------------------------------

let pending = []; // log lines waiting for the next animation frame
let flushScheduled = false;

function appendLog(ev) {
  const line = ev.log;
  const t = ev.time ? String(ev.time).slice(11, 19) : '';
  pending.push(el('div', { class: line.level || 'info' },
    el('span', { class: 't' }, `${t} `), line.source && line.source !== 'engine' ? `[${line.source}] ` : '', line.text));
  if (!flushScheduled) {
    flushScheduled = true;
    requestAnimationFrame(flushLog);
  }
}

function flushLog() {
  flushScheduled = false;
  const atBottom = logBox.scrollHeight - logBox.scrollTop - logBox.clientHeight < 30;
  const lines = pending.length > MAX_LOG_LINES ? pending.slice(-MAX_LOG_LINES) : pending;
  pending = [];
  logBox.append(...lines);
  let extra = logBox.childElementCount - MAX_LOG_LINES;
  while (extra-- > 0) logBox.firstElementChild.remove();
  if (atBottom) logBox.scrollTop = logBox.scrollHeight;
}

const TERMINAL = new Set(['finished', 'failed', 'cancelled']);

function onEvent(type, ev) {
  // Replayed history must not take an ended job back to running.
  if (TERMINAL.has(status) && (type === 'progress' || (type === 'status' && !TERMINAL.has(ev.status.status)))) return;
  switch (type) {
    case 'log':
      appendLog(ev);
      break;
    case 'progress':
      setProgress(ev.progress);
      break;
    case 'status':
      // Status changes belong in the log too: a failed job's reason is often its last line.
      appendLog({ time: ev.time, log: { source: 'status', level: ev.status.status === 'failed' ? 'error' : 'info',
        text: ev.status.error ? `${ev.status.status}: ${ev.status.error}` : ev.status.status } });
      setStatus(ev.status.status, ev.status.error);
      if (ev.status.status !== 'running' && ev.status.status !== 'queued') refreshJob();
      break;
    default:
      break;
  }
}

/** Parses a text/event-stream body into {id, event, data} objects. */
async function* readEvents(body, signal) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let ev = { id: '', event: '', data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (ev.data.length || ev.event) yield { id: ev.id, event: ev.event || 'message', data: ev.data.join('\n') };
          ev = { id: '', event: '', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue; // heartbeat
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') ev.id = val;
        else if (field === 'event') ev.event = val;
        else if (field === 'data') ev.data.push(val);
      }
    }
  } finally {
    if (!signal.aborted) reader.cancel().catch(() => {});
  }
}

/**
 * Follows GET /api/jobs/{id}/events until `end`. A dropped connection is resumed with
 * Last-Event-ID (the last seq seen), so no event is lost or repeated. fetch rather than
 * EventSource because EventSource cannot send the Authorization header.
 */
async function follow() {
  if (follower) follower.abort();
  const ctrl = new AbortController();
  follower = ctrl;
  let lastSeq = 0;
  let failures = 0;
  while (!ctrl.signal.aborted) {
    try {
      const headers = { Accept: 'text/event-stream' };
      const auth = authHeader();
      if (auth) headers.Authorization = auth;
      if (lastSeq > 0) headers['Last-Event-ID'] = String(lastSeq);
      connLabel.textContent = lastSeq ? '(reconnecting…)' : '(connecting…)';
      const resp = await fetch(`/api/jobs/${encodeURIComponent(jobId)}/events`, { headers, signal: ctrl.signal });
      if (!resp.ok) throw errorFrom(resp, await resp.json().catch(() => null));
      connLabel.textContent = '(live)';
      for await (const ev of readEvents(resp.body, ctrl.signal)) {
        failures = 0;
        if (ev.event === 'end') {
          connLabel.textContent = '(ended)';
          return;
        }
        if (ev.event === 'error') {
          const body = JSON.parse(ev.data);
          throw new ApiError(body.error, body.code, body.grpc_code);
        }
        if (ev.id) lastSeq = Number(ev.id);
        onEvent(ev.event, JSON.parse(ev.data));
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        connLabel.textContent = '';
        showError(pageError, e);
        return; // unknown job, bad token: retrying will not help
      }
    }
    failures += 1;
    const delay = Math.min(15000, 500 * 2 ** Math.min(failures, 5));
    connLabel.textContent = `(disconnected; retrying in ${Math.round(delay / 1000)}s)`;
    await new Promise((r) => setTimeout(r, delay));
  }
}

// --- cancel -------------------------------------------------------------------------

cancelButton.addEventListener('click', async () => {
  if (!window.confirm('Cancel this backtest?')) return;
  cancelButton.disabled = true;
  try {
    showJob(await api(`/api/jobs/${encodeURIComponent(jobId)}/cancel/`, { method: 'POST' }));
  } catch (e) {
    showError(pageError, e);
  } finally {
    cancelButton.disabled = false;
  }
});

async function start() {
  if (await refreshJob()) follow();
}

initTokenBox(() => start());
start();
