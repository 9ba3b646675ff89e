// Shared by the dashboard's page tests (compare.mjs, …): steps that count and report, checks, a
// headless Chromium, pages whose console errors and 5xx answers count as problems, and the REST
// calls the tests make beside the browser. dashboard.mjs predates it and keeps its own.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const base = process.env.BASE_URL;
export const token = process.env.TOKEN;
if (!base || !token) {
  console.error('BASE_URL and TOKEN are required');
  process.exit(2);
}
export const outDir = resolve(process.env.OUT_DIR || 'screenshots');
mkdirSync(outDir, { recursive: true });
export const timeoutMs = Number(process.env.TIMEOUT_S || 120) * 1000;

let passed = 0;
let failed = 0;
export const problems = [];

/** Runs one named step; a failure is reported and ends the test. */
export async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
    throw e;
  }
}

export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Headless Chromium (Debian's, or CHROMIUM). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/** A new page whose console errors, page errors and 5xx answers count as problems. */
export async function watchedPage(ctx) {
  const p = await ctx.newPage();
  p.setDefaultTimeout(15000);
  p.on('console', (m) => {
    // Answers with 4xx are expected in some steps (and logged by Chromium); 5xx are caught below.
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  p.on('response', (r) => {
    if (r.status() >= 500) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  return p;
}

/** A REST call to the gateway with TOKEN; the decoded JSON, or an error naming the answer. */
export async function rest(path, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Token ${token}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  check(resp.ok, `${method} ${path}: ${resp.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Sets the form page's field of parameter `name` (a text input, a select or a checkbox). */
export async function setField(page, name, value) {
  const input = page.locator(`#p-${name}`);
  if (!(await input.count()) || !(await input.isVisible())) return;
  const type = await input.getAttribute('type');
  const tag = await input.evaluate((e) => e.tagName);
  if (type === 'checkbox') await input.setChecked(Boolean(value));
  else if (tag === 'SELECT') await input.selectOption(String(value));
  else await input.fill(String(value));
}

/** Submits a backtest with `params`; its job id. */
export async function runJob(params) {
  return (await rest('/run/', { method: 'POST', body: { params } })).job_id;
}

/** Polls the job until it has ended (deadline TIMEOUT_S); its final status. */
export async function waitJob(id) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = await rest(`/api/jobs/${encodeURIComponent(id)}/status/`);
    if (['finished', 'failed', 'cancelled'].includes(j.status)) return j.status;
    check(Date.now() < deadline, `job ${id} still ${j.status} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Prints the summary; exits 1 when a step failed or a page had a problem. */
export function finish() {
  for (const p of problems) console.log(`FAIL ${p}`);
  console.log(`${passed} passed, ${failed + problems.length} failed`);
  process.exit(failed || problems.length ? 1 : 0);
}
