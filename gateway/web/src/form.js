// The form page (/): parameters rendered from GET /api/params (groups, defaults, help, bounds),
// presets (list, load, save, delete), the last submitted values restored from the bt_params
// cookie, and submission with POST /run/, which opens the job page. Validation is the server's:
// its message is shown and the parameter it names is marked.
import { api, el, fmtStamp, initTokenBox, showError } from './api.js';

const COOKIE = 'bt_params';
const errorBox = document.getElementById('form-error');
const fieldsDiv = document.getElementById('fields');
let defs = []; // ParamDefinition[] shown on the form
let renderedDefs = ''; // the /api/params answer the fields were rendered from (JSON)
let loadedPreset = ''; // name of the preset whose values were loaded last

const GROUP_TITLES = { run: 'Run', risk: 'Risk', signal: 'Signal (sr_breakout)', sma_cross: 'SMA cross', trace: 'Decision trace' };

// --- cookie -------------------------------------------------------------------

function readCookie() {
  const m = document.cookie.split('; ').find((c) => c.startsWith(`${COOKIE}=`));
  if (!m) return {};
  try {
    const v = JSON.parse(decodeURIComponent(m.slice(COOKIE.length + 1)));
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

function writeCookie(values) {
  const v = encodeURIComponent(JSON.stringify(values));
  document.cookie = `${COOKIE}=${v}; path=/; max-age=${365 * 86400}; SameSite=Lax`;
}

// --- fields -------------------------------------------------------------------

function boundsText(p) {
  const parts = [];
  if (p.min !== null && p.min !== undefined) parts.push(`${p.min_exclusive ? '>' : '≥'} ${p.min}`);
  if (p.max !== null && p.max !== undefined) parts.push(`${p.max_exclusive ? '<' : '≤'} ${p.max}`);
  return parts.join(', ');
}

/**
 * The id of a parameter's input: p-NAME, or p-STRATEGY-NAME for a name several strategies declare
 * (sma_cross's fast_period and a folder strategy's own), so each keeps a field of its own.
 */
function fieldId(p) {
  const shared = p.strategy && defs.some((d) => d !== p && d.name === p.name);
  return shared ? `p-${p.strategy}-${p.name}` : `p-${p.name}`;
}

function inputFor(p) {
  const id = fieldId(p);
  let input;
  if (p.type === 'choice') {
    input = el('select', { id, name: p.name }, p.choices.map((c) => el('option', { value: c }, c)));
  } else if (p.type === 'bool') {
    input = el('input', { id, name: p.name, type: 'checkbox' });
  } else if (p.type === 'int' || p.type === 'double') {
    input = el('input', { id, name: p.name, type: 'number', step: p.type === 'int' ? '1' : 'any', inputmode: p.type === 'int' ? 'numeric' : 'decimal' });
    if (p.min !== null && p.min !== undefined && !p.min_exclusive) input.min = p.min;
    if (p.max !== null && p.max !== undefined && !p.max_exclusive) input.max = p.max;
  } else {
    input = el('input', { id, name: p.name, type: 'text', spellcheck: 'false' });
    if (p.type === 'datetime') input.placeholder = 'YYYY-MM-DD HH:MM (UTC)';
    if (p.type === 'symbols') input.placeholder = 'e.g. XAGUSD,EURUSD';
  }
  if (p.optional && p.type !== 'bool' && p.type !== 'choice') input.placeholder = input.placeholder || 'empty = default';
  return input;
}

function setValue(p, value) {
  const input = document.getElementById(fieldId(p));
  if (!input) return;
  if (p.type === 'bool') input.checked = value === true || value === 'true';
  else input.value = value === null || value === undefined ? '' : String(value);
  if (p.name === 'strategy') applyStrategy();
}

function getValue(p) {
  const input = document.getElementById(fieldId(p));
  if (p.type === 'bool') return input.checked;
  return input.value;
}

function render(params, groups) {
  defs = params.filter((p) => !p.hidden);
  fieldsDiv.innerHTML = '';
  const order = [...groups, ...new Set(defs.map((p) => p.group).filter((g) => !groups.includes(g)))];
  for (const g of order) {
    const inGroup = defs.filter((p) => p.group === g);
    if (!inGroup.length) continue;
    const fields = inGroup.map((p) => {
      const bounds = boundsText(p);
      return el('div', { class: 'field', 'data-name': p.name, 'data-strategy': p.strategy || '' },
        el('label', { for: fieldId(p) }, p.name, p.alias ? el('span', { class: 'alias' }, p.alias) : null),
        inputFor(p),
        el('div', { class: 'help' }, p.help || '', bounds ? ` (${bounds})` : '', p.default_value ? ` Default: ${p.default_value}.` : ''));
    });
    fieldsDiv.append(el('fieldset', { 'data-group': g }, el('legend', {}, GROUP_TITLES[g] || g), el('div', { class: 'fields' }, fields)));
  }
  const strategy = document.getElementById('p-strategy');
  if (strategy) strategy.addEventListener('change', applyStrategy);
}

/** The values on the form now, by parameter name (none before the fields are rendered). */
function shownValues() {
  const values = {};
  // Of a name several strategies declare, the field shown now gives the value.
  const shown = new Set(visibleDefs());
  for (const p of [...defs.filter((d) => !shown.has(d)), ...shown]) {
    if (document.getElementById(fieldId(p))) values[p.name] = getValue(p);
  }
  return values;
}

function resetDefaults() {
  for (const p of defs) setValue(p, p.type === 'bool' ? p.default_value === 'true' : p.default_value);
  applyStrategy();
}

/** Shows only the parameters of the chosen strategy (and the common ones). */
function applyStrategy() {
  const s = document.getElementById('p-strategy')?.value || '';
  for (const f of fieldsDiv.querySelectorAll('.field')) {
    const own = f.dataset.strategy;
    f.classList.toggle('hidden', Boolean(own) && own !== s);
  }
  for (const fs of fieldsDiv.querySelectorAll('fieldset')) {
    fs.classList.toggle('hidden', !fs.querySelector('.field:not(.hidden)'));
  }
}

function visibleDefs() {
  return defs.filter((p) => !document.getElementById(fieldId(p))?.closest('.field')?.classList.contains('hidden'));
}

/** The values to send: typed (numbers, booleans, strings), empty ones left out (the default). */
function collect() {
  const params = {};
  const raw = {};
  for (const p of visibleDefs()) {
    const v = getValue(p);
    raw[p.name] = v;
    if (p.type === 'bool') {
      params[p.name] = v;
      continue;
    }
    const s = String(v).trim();
    if (s === '') continue;
    if (p.type === 'int' || p.type === 'double') {
      const n = Number(s);
      params[p.name] = Number.isFinite(n) ? n : s; // the server names a bad number
    } else {
      params[p.name] = s;
    }
  }
  return { params, raw };
}

function markInvalid(message) {
  for (const f of fieldsDiv.querySelectorAll('.field.invalid')) f.classList.remove('invalid');
  const names = defs.map((p) => p.name).sort((a, b) => b.length - a.length);
  const hit = names.find((n) => new RegExp(`\\b${n}\\b`, 'i').test(message)) ||
    defs.find((p) => p.alias && new RegExp(`\\b${p.alias}\\b`).test(message))?.name;
  if (!hit) return;
  const f = fieldsDiv.querySelector(`.field[data-name="${CSS.escape(hit)}"]:not(.hidden)`);
  if (f) {
    f.classList.add('invalid');
    f.scrollIntoView({ block: 'center', behavior: 'smooth' });
    f.querySelector('input,select')?.focus({ preventScroll: true });
  }
}

// --- presets ------------------------------------------------------------------

const presetSelect = document.getElementById('preset-select');
const presetMsg = document.getElementById('preset-msg');

async function loadPresetNames(select) {
  try {
    const { names } = await api('/api/presets/');
    presetSelect.innerHTML = '';
    presetSelect.append(el('option', { value: '' }, names.length ? '— choose —' : '(no presets)'));
    for (const n of names) presetSelect.append(el('option', { value: n }, n));
    if (select && names.includes(select)) presetSelect.value = select;
  } catch (e) {
    presetMsg.textContent = e.message;
  }
}

async function loadPreset() {
  const name = presetSelect.value;
  if (!name) return;
  try {
    const preset = await api(`/api/presets/${encodeURIComponent(name)}/`);
    const strategy = preset.values?.strategy;
    for (const [k, v] of Object.entries(preset.values || {})) {
      for (const p of defs.filter((d) => d.name === k && (!d.strategy || !strategy || d.strategy === strategy))) {
        setValue(p, v);
      }
    }
    applyStrategy();
    loadedPreset = name;
    document.getElementById('preset-name').value = name;
    presetMsg.textContent = `loaded “${name}”`;
  } catch (e) {
    presetMsg.textContent = e.message;
  }
}

async function savePreset() {
  const name = document.getElementById('preset-name').value.trim() || presetSelect.value;
  if (!name) {
    presetMsg.textContent = 'give the preset a name';
    document.getElementById('preset-name').focus();
    return;
  }
  try {
    const { params } = collect();
    await api('/api/presets/', { method: 'POST', body: { name, values: params } });
    presetMsg.textContent = `saved “${name}”`;
    showError(errorBox, null);
    await loadPresetNames(name);
  } catch (e) {
    presetMsg.textContent = '';
    showError(errorBox, e);
    markInvalid(e.message);
  }
}

async function deletePreset() {
  const name = presetSelect.value;
  if (!name || !window.confirm(`Delete the preset “${name}”?`)) return;
  try {
    await api(`/api/presets/${encodeURIComponent(name)}/`, { method: 'DELETE' });
    presetMsg.textContent = `deleted “${name}”`;
    if (loadedPreset === name) loadedPreset = '';
    await loadPresetNames();
  } catch (e) {
    presetMsg.textContent = e.message;
  }
}

// --- jobs ---------------------------------------------------------------------

async function loadJobs() {
  const box = document.getElementById('jobs');
  try {
    const { jobs } = await api('/api/jobs/?page_size=10');
    if (!jobs.length) {
      box.textContent = 'No jobs yet.';
      return;
    }
    box.innerHTML = '';
    // Finished jobs can be picked (2 to 8) and compared on /compare/.
    const compare = el('button', { type: 'button', id: 'compare-button', disabled: true }, 'Compare selected');
    const picked = () => [...box.querySelectorAll('input.pick:checked')].map((c) => c.value);
    const onPick = () => {
      const n = picked().length;
      compare.disabled = n < 2 || n > 8;
      compareMsg.textContent = n ? `${n} selected` : 'pick 2 to 8 finished jobs';
    };
    const compareMsg = el('span', { class: 'muted small' }, 'pick 2 to 8 finished jobs');
    compare.addEventListener('click', () => {
      window.location.assign(`/compare/?jobs=${picked().map(encodeURIComponent).join(',')}`);
    });
    box.append(el('table', {},
      el('thead', {}, el('tr', {}, ['', 'job', 'status', 'strategy', 'symbols', 'timeframe', 'submitted'].map((h) => el('th', {}, h)))),
      el('tbody', {}, jobs.map((j) => el('tr', {},
        // A sweep's job has rows, not one result: it opens its sweep page and is not compared.
        el('td', {}, el('input', { type: 'checkbox', class: 'pick', value: j.job_id, 'aria-label': `compare ${j.job_id}`, disabled: j.status !== 'finished' || j.kind === 'sweep', onchange: onPick })),
        el('td', {}, j.kind === 'sweep'
          ? [el('a', { href: `/sweeps/${encodeURIComponent(j.job_id)}/` }, j.job_id), ' ', el('span', { class: 'badge sweep' }, 'sweep')]
          : el('a', { href: `/jobs/${encodeURIComponent(j.job_id)}/` }, j.job_id)),
        el('td', {}, el('span', { class: `badge ${j.status}` }, j.status)),
        el('td', {}, j.params?.strategy ?? ''),
        el('td', {}, j.params?.symbols ?? ''),
        el('td', {}, j.params?.timeframe ?? ''),
        el('td', {}, fmtStamp(j.created_at)))))),
      el('div', { class: 'compare-bar' }, compare, compareMsg));
  } catch (e) {
    box.textContent = e.status === 401 ? 'Enter your token (top right) to see your jobs.' : e.message;
  }
}

// --- main -----------------------------------------------------------------------

async function submit(ev) {
  ev.preventDefault();
  const button = document.getElementById('run-button');
  const msg = document.getElementById('run-msg');
  const { params, raw } = collect();
  writeCookie(raw);
  button.disabled = true;
  msg.textContent = 'submitting…';
  showError(errorBox, null);
  try {
    const body = { params };
    if (loadedPreset && presetSelect.value === loadedPreset) body.preset = loadedPreset;
    const resp = await api('/run/', { method: 'POST', body });
    msg.textContent = `queued ${resp.job_id}`;
    window.location.assign(resp.job_url || `/jobs/${encodeURIComponent(resp.job_id)}/`);
  } catch (e) {
    msg.textContent = '';
    showError(errorBox, e);
    markInvalid(e.message);
    button.disabled = false;
  }
}

/**
 * Loads the form's data: parameters, presets, recent jobs. Runs on load and again when the token
 * changes. Fields already rendered from the same definitions stay as they are, so what the user
 * is typing (and where) survives a reload; fields rendered anew take the defaults, then the
 * bt_params cookie, then the values the form showed before.
 */
async function start() {
  try {
    const { params, groups } = await api('/api/params/');
    const answer = JSON.stringify({ params, groups });
    if (answer !== renderedDefs || !fieldsDiv.querySelector('.field')) {
      const shown = shownValues();
      render(params, groups);
      resetDefaults();
      const saved = { ...readCookie(), ...shown };
      for (const p of defs) if (Object.hasOwn(saved, p.name)) setValue(p, saved[p.name]);
      applyStrategy();
      renderedDefs = answer;
    }
    showError(errorBox, null);
  } catch (e) {
    fieldsDiv.innerHTML = '';
    showError(errorBox, e.status === 401 ? new Error(`${e.message}\nEnter your token at the top right.`) : e);
    return false;
  }
  loadPresetNames();
  loadJobs();
  return true;
}

initTokenBox(() => start());
fieldsDiv.addEventListener('input', (e) => e.target.closest('.field')?.classList.remove('invalid'));
document.getElementById('params-form').addEventListener('submit', submit);
document.getElementById('reset-defaults').addEventListener('click', resetDefaults);
document.getElementById('preset-load').addEventListener('click', loadPreset);
document.getElementById('preset-save').addEventListener('click', savePreset);
document.getElementById('preset-delete').addEventListener('click', deletePreset);
start();
