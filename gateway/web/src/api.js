// Shared by the dashboard pages: the API client (token from localStorage, JSON errors), the token
// box in the header, and small DOM helpers.

const TOKEN_KEY = 'backtestd.token';

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

/** The Authorization header value for the stored token ("Token <token>"), or '' without one. */
export function authHeader() {
  const t = getToken().trim();
  if (!t) return '';
  return /^token\s/i.test(t) ? t : `Token ${t}`;
}

/**
 * An error answer of the gateway: {"error", "code", "grpc_code"}, and the X-Request-Id it
 * answered with (the id of the access log lines and of the job's record: what an operator asks
 * for).
 */
export class ApiError extends Error {
  constructor(message, status, grpcCode, requestId) {
    super(message);
    this.status = status;
    this.grpcCode = grpcCode || '';
    this.requestId = requestId || '';
  }
}

const tokenListeners = [];

/** Calls the REST bridge and returns the decoded JSON; throws ApiError on an error answer. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const auth = authHeader();
  if (auth) headers.Authorization = auth;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the gateway: ${e.message}`, 0, 'UNAVAILABLE');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) throw errorFrom(resp, data);
  return data;
}

/** The ApiError for an error answer (also used by the event stream). */
export function errorFrom(resp, data) {
  const msg = (data && (data.error || data.message)) || `${resp.status} ${resp.statusText}`;
  const err = new ApiError(msg, resp.status, data && data.grpc_code, resp.headers.get('X-Request-Id'));
  if (resp.status === 401) tokenListeners.forEach((f) => f(msg));
  return err;
}

/**
 * Takes a token given in the address (`?token=…`, the login link `make run` prints) into
 * localStorage and removes it from the address bar, keeping the other query parameters and the
 * hash, so the token is neither bookmarked nor left in the history. An empty `token=` changes
 * nothing stored.
 */
function adoptTokenFromAddress() {
  const url = new URL(window.location.href);
  if (!url.searchParams.has('token')) return;
  const t = url.searchParams.get('token').trim();
  if (t) localStorage.setItem(TOKEN_KEY, t);
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', `${url.pathname}${url.search}${url.hash}`);
}

/**
 * Mounts the token entry into #token-box: kept in localStorage, sent as Authorization. A token in
 * the address (`?token=…`) is stored first. onChange(token) runs when the stored token changes
 * (typed and saved with Enter or by leaving the field, or removed with "sign out"); saving the
 * token that is already stored calls nothing, so Enter followed by leaving the field reloads the
 * page's data once.
 */
export function initTokenBox(onChange) {
  adoptTokenFromAddress();
  const box = document.getElementById('token-box');
  if (!box) return;
  box.innerHTML = '';
  const label = el('label', { for: 'token-input' }, 'Token');
  const input = el('input', { id: 'token-input', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'paste your API token' });
  input.value = getToken();
  const show = el('button', { type: 'button', title: 'Show or hide the token', style: 'padding:1px 6px;font-size:12px' }, 'show');
  const signOut = el('button', { type: 'button', id: 'token-signout', title: 'Forget the stored token', style: 'padding:1px 6px;font-size:12px' }, 'sign out');
  signOut.classList.toggle('hidden', !getToken());
  const state = el('span', { class: 'state' }, getToken() ? 'set' : 'none');
  const save = () => {
    const v = input.value.trim();
    if (v === getToken()) return;
    if (v) localStorage.setItem(TOKEN_KEY, v);
    else localStorage.removeItem(TOKEN_KEY);
    state.textContent = v ? 'saved' : 'none';
    signOut.classList.toggle('hidden', !v);
    box.classList.remove('attention');
    input.title = '';
    if (onChange) onChange(v);
  };
  input.addEventListener('change', save);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      save();
    }
  });
  show.addEventListener('click', () => {
    input.type = input.type === 'password' ? 'text' : 'password';
    show.textContent = input.type === 'password' ? 'show' : 'hide';
  });
  signOut.addEventListener('click', () => {
    input.value = '';
    save();
  });
  box.append(label, input, show, signOut, state);
  tokenListeners.push((msg) => {
    box.classList.add('attention');
    state.textContent = getToken() ? 'rejected' : 'needed';
    input.title = msg;
  });
}

/** Creates an element: el('a', {href: '/'}, 'text', child, …). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/**
 * Shows an error message in a .error-box (or hides it for an empty message), with the request id
 * of the answer when it has one, to quote to an operator.
 */
export function showError(box, err) {
  if (!box) return;
  const msg = err ? (err.message || String(err)) : '';
  box.textContent = msg;
  if (msg && err.requestId) {
    box.append(el('div', { class: 'small request-id' }, `request id ${err.requestId}`));
  }
  box.classList.toggle('hidden', !msg);
}

// --- formatting -------------------------------------------------------------

/** A JSON number that protojson may have written as "NaN" or "Infinity", as a JS number. */
export function num(v) {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === null || v === undefined || v === '') return NaN;
  return Number(v);
}

export function fmtNum(v, digits = 2) {
  const n = num(v);
  if (!Number.isFinite(n)) return Number.isNaN(n) ? '—' : (n > 0 ? '∞' : '−∞');
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtInt(v) {
  const n = num(v);
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

export function fmtPrice(v) {
  const n = num(v);
  if (!Number.isFinite(n)) return '—';
  const digits = Math.abs(n) >= 1000 ? 2 : Math.abs(n) >= 10 ? 3 : 5;
  return n.toFixed(digits);
}

/** Epoch seconds → "2021-11-26 13:10" (UTC). */
export function fmtTime(sec) {
  const n = num(sec);
  if (!Number.isFinite(n) || n === 0) return '—';
  return new Date(n * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

/** Seconds → "1d 2h", "3h 4m", "5m 6s", "7s". */
export function fmtDuration(sec) {
  let s = Math.max(0, Math.round(num(sec)));
  if (!Number.isFinite(s)) return '—';
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** An RFC 3339 timestamp as written by protojson → "2021-11-26 13:10:05" (UTC). */
export function fmtStamp(ts) {
  if (!ts) return '—';
  return String(ts).slice(0, 19).replace('T', ' ');
}
