// Browser test of the sweep pages: the sweep form (/sweeps/) varies fast_period and slow_period of
// sma_cross on six years of sample M1 bars and shows the combination count before running (and the
// server's message for a bad range); running opens /sweeps/{id}/, whose progress bar moves while
// the sweep runs; the heatmap is drawn with a cell per (fast, slow) pair; the rows table sorts by
// a clicked column and narrows to a filter; the first rows compare (/compare/ waits for their
// jobs); the job page of the sweep's own job leads to the sweep page; a click on the heatmap's
// best cell opens that row as a job whose page charts it, with the row's stats; a walk-forward
// asked for on the form draws its windows and stitched equity. Needs a gateway in front of the
// real backtestd (the Go fake backend has no SweepService); tests/e2e/browser_e2e.sh runs it.
//
//   BASE_URL=http://127.0.0.1:8080 TOKEN=… OUT_DIR=build/screenshots node e2e/sweeps.mjs
import { join } from 'node:path';
import { base, check, finish, launch, outDir, problems, rest, step, timeoutMs, token, watchedPage } from './harness.mjs';

const FAST = { start: 5, stop: 24 }; // 20 values
const SLOW = { start: 30, stop: 100, step: 5 }; // 15 values
const COMBINATIONS = 20 * 15;

/** Fills the sweep form: sma_cross on sample EURUSD bars, fast_period and slow_period varied. */
async function fillForm(page, { timeframe, start, end, fast, slow }) {
  await page.waitForSelector('#base-strategy');
  await page.selectOption('#base-strategy', 'sma_cross');
  await page.waitForSelector('#vary-table tr[data-param="fast_period"]');
  await page.fill('#base-data_source', 'sample://');
  await page.fill('#base-symbols', 'EURUSD');
  await page.selectOption('#base-timeframe', timeframe);
  await page.fill('#base-start_date', start);
  await page.fill('#base-end_date', end);
  for (const [name, r] of [['fast_period', fast], ['slow_period', slow]]) {
    const row = page.locator(`#vary-table tr[data-param="${name}"]`);
    await row.locator('.vary-on').check();
    await row.locator('.vary-start').fill(String(r.start));
    await row.locator('.vary-stop').fill(String(r.stop));
    await row.locator('.vary-step').fill(String(r.step || 1));
  }
}

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(ctx);

  await step('the sweep form shows the combination count before running', async () => {
    await page.goto(`${base}/sweeps/?token=${encodeURIComponent(token)}`);
    // Six years of minute bars: seconds of sweep, so that its progress (sent about once a second)
    // is seen between 0 and the total on a quiet machine too (a year took ~1 s and showed none).
    await fillForm(page, { timeframe: 'M1', start: '2016-01-01', end: '2022-01-01', fast: FAST, slow: SLOW });
    check((await page.inputValue('#constraints')) === 'fast_period < slow_period', 'the sma_cross constraint is not pre-filled');
    await page.waitForFunction((n) => document.getElementById('combo-count').dataset.combinations === String(n), COMBINATIONS, { timeout: 10000 });
    check((await page.textContent('#combo-count')).startsWith(`${COMBINATIONS} combinations`), await page.textContent('#combo-count'));
  });

  await step('a bad range shows the server\'s message naming it, and fixing it counts again', async () => {
    await page.locator('#vary-table tr[data-param="fast_period"] .vary-step').fill('0.5');
    await page.waitForSelector('#combo-count.bad');
    const msg = await page.textContent('#combo-count');
    check(/fast_period/.test(msg), `message ${msg}`);
    await page.locator('#vary-table tr[data-param="fast_period"] .vary-step').fill('1');
    await page.waitForFunction((n) => document.getElementById('combo-count').dataset.combinations === String(n), COMBINATIONS);
    await page.screenshot({ path: join(outDir, 'sweep-form.png'), fullPage: true });
  });

  let sweepId = '';
  await step('running opens the sweep page, whose progress bar moves while it runs', async () => {
    await Promise.all([page.waitForURL(/\/sweeps\/[0-9a-f]+\/?$/), page.click('#sweep-run')]);
    sweepId = new URL(page.url()).pathname.split('/').filter(Boolean)[1];
    // Progress seen on the page: some value below the total, then the total.
    const seen = new Set();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const done = await page.locator('#sweep-progress').getAttribute('data-done');
      if (done !== null) seen.add(Number(done));
      const status = await page.textContent('#sweep-status');
      if (['finished', 'failed', 'cancelled'].includes(status)) {
        check(status === 'finished', `sweep ${status}: ${await page.textContent('#sweep-error')}`);
        break;
      }
      check(Date.now() < deadline, `sweep still ${status} after ${timeoutMs / 1000} s`);
      await page.waitForTimeout(100);
    }
    await page.waitForFunction((n) => document.getElementById('sweep-progress').dataset.done === String(n), COMBINATIONS);
    const partial = [...seen].filter((d) => d > 0 && d < COMBINATIONS);
    check(partial.length > 0, `no progress between 0 and ${COMBINATIONS} shown (seen ${[...seen]})`);
    const width = await page.locator('#sweep-progress .bar').evaluate((b) => b.style.width);
    check(width === '100%' || width === '100.0%', `bar width ${width}`);
  });

  const sweep = await rest(`/api/sweeps/${sweepId}/`);
  await step('the heatmap has a cell per (fast_period, slow_period) and frames the best row; the plan and the objective\'s histogram show', async () => {
    await page.waitForFunction((n) => document.getElementById('heatmap').dataset.cells === String(n), COMBINATIONS);
    const bestRow = await page.locator('#heatmap').getAttribute('data-best-row');
    check(bestRow === String(sweep.best.row), `best cell row ${bestRow}, GetSweep's best ${sweep.best.row}`);
    check(await page.locator('#open-best').isVisible(), 'no "open this run" button for the best row');
    const bars = await page.locator('#sweep-dist div').count();
    check(bars === sweep.distribution.buckets.length && bars > 1, `${bars} histogram bars, GetSweep has ${sweep.distribution.buckets.length} buckets`);
    const plan = await page.textContent('#sweep-plan');
    check(plan.includes('fast_period 5…24 step 1') && plan.includes('where fast_period < slow_period'), `plan line: ${plan}`);
  });

  await step('the rows table sorts by a clicked column', async () => {
    const firstRows = () => page.locator('#rows-table tbody tr').evaluateAll((trs) => trs.slice(0, 5).map((tr) => tr.dataset.row));
    check((await firstRows())[0] === String(sweep.best.row), 'rows do not start with the best row');
    await page.click('#rows-table th[data-sort="trades"]');
    await page.waitForSelector('#rows-table th.sorted[data-sort="trades"]');
    const want = await rest(`/api/sweeps/${sweepId}/rows?order_by=trades&descending=true&page_size=5`);
    check((await firstRows()).join() === want.rows.map((r) => String(r.row)).join(), 'table order is not the server\'s by trades');
    await page.screenshot({ path: join(outDir, 'sweep.png'), fullPage: true });
  });

  await step('the rows filter narrows the table; a bad filter shows the server\'s message', async () => {
    await page.fill('#rows-filter', 'fast_period <= 6');
    await page.press('#rows-filter', 'Enter');
    await page.waitForFunction(() => /matching/.test(document.getElementById('rows-note').textContent));
    const fast = await page.locator('#rows-table tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.children[1].textContent)));
    check(fast.length === 30 && fast.every((f) => f <= 6), `rows with fast_period ${fast.slice(0, 40)}`);
    await page.fill('#rows-filter', 'nonsense >= 1');
    await page.press('#rows-filter', 'Enter');
    await page.waitForSelector('#rows-error:not(.hidden)');
    check(/nonsense/.test(await page.textContent('#rows-error')), await page.textContent('#rows-error'));
    await page.fill('#rows-filter', '');
    await page.press('#rows-filter', 'Enter');
    await page.waitForSelector('#rows-error.hidden', { state: 'attached' });
    await page.waitForFunction(() => !/matching/.test(document.getElementById('rows-note').textContent));
  });

  await step('"Compare the first 3 rows" opens them as jobs and compares them once they finish', async () => {
    const rows = await page.locator('#rows-table tbody tr').evaluateAll((trs) => trs.slice(0, 3).map((tr) => tr.dataset.row));
    await page.selectOption('#compare-count', '3');
    await Promise.all([page.waitForURL(/\/compare\/\?jobs=/), page.click('#compare-top')]);
    await page.waitForSelector('#compare-chart[data-curves="3"] canvas', { timeout: timeoutMs });
    const names = await page.locator('#params-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.param));
    const all = await rest(`/api/sweeps/${sweepId}/rows?order_by=trades&descending=true&page_size=3`);
    check(all.rows.map((r) => String(r.row)).join() === rows.join(), `compared rows ${rows}, want the table's first ${all.rows.map((r) => r.row)}`);
    const varied = new Set(sweep.names);
    check(names.length > 0 && names.every((n) => varied.has(n)), `differing parameters ${names}, want some of ${[...varied]}`);
    await page.goBack();
  });

  await step('the job page of the sweep\'s job sends the browser to the sweep page', async () => {
    await page.goto(`${base}/jobs/${sweepId}/`);
    await page.waitForURL(new RegExp(`/sweeps/${sweepId}/$`));
    await page.waitForFunction((n) => document.getElementById('heatmap').dataset.cells === String(n), COMBINATIONS);
  });

  await step('a click on the best cell opens its run, whose job page charts it', async () => {
    const box = await page.locator('#heatmap').boundingBox();
    const x = Number(await page.locator('#heatmap').getAttribute('data-best-x'));
    const y = Number(await page.locator('#heatmap').getAttribute('data-best-y'));
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]+\/?$/), page.mouse.click(box.x + x, box.y + y)]);
    const jobId = new URL(page.url()).pathname.split('/').filter(Boolean)[1];
    const job = await rest(`/api/jobs/${jobId}/status/`);
    for (const [k, v] of Object.entries(sweep.best.params)) {
      check(String(job.params[k]) === v, `job's ${k} ${job.params[k]}, best row's ${v}`);
    }
    await page.waitForSelector('#result:not(.hidden) #chart canvas', { timeout: timeoutMs });
    const result = await rest(`/api/jobs/${jobId}/result/?parts=stats`);
    check(result.stats.trades === sweep.best.stats.trades && result.stats.sharpe === sweep.best.stats.sharpe,
      `job stats (trades ${result.stats.trades}, sharpe ${result.stats.sharpe}) differ from the row's (${sweep.best.stats.trades}, ${sweep.best.stats.sharpe})`);
    await page.screenshot({ path: join(outDir, 'sweep-best-job.png') });
  });

  await step('a walk-forward from the form: the stitched out-of-sample equity with its windows, and each window\'s choice', async () => {
    await page.goto(`${base}/sweeps/`);
    await fillForm(page, { timeframe: 'H1', start: '2019-01-01', end: '2022-01-01', fast: { start: 5, stop: 14 }, slow: { start: 20, stop: 40, step: 5 } });
    await page.locator('#wf-on').check();
    await page.selectOption('#wf-mode', 'rolling');
    await page.fill('#wf-train', '4000');
    await page.fill('#wf-test', '2000');
    await page.waitForFunction(() => document.getElementById('combo-count').dataset.combinations === '50');
    await Promise.all([page.waitForURL(/\/sweeps\/[0-9a-f]+\/?$/), page.click('#sweep-run')]);
    const id = new URL(page.url()).pathname.split('/').filter(Boolean)[1];
    await page.waitForSelector('#wf:not(.hidden) #wf-chart canvas', { timeout: timeoutMs });
    const wf = (await rest(`/api/sweeps/${id}/`)).walk_forward;
    check(wf && wf.windows.length >= 2, `walk-forward windows: ${wf && wf.windows.length}`);
    const drawn = await page.locator('#wf-chart').getAttribute('data-windows');
    check(drawn === String(wf.windows.length), `${drawn} windows drawn, GetSweep has ${wf.windows.length}`);
    // Every out-of-sample trade's entry and exit marked on the stitched equity.
    const marked = await page.locator('#wf-chart').getAttribute('data-trade-markers');
    check(wf.trades.length > 0 && marked === String(2 * wf.trades.length), `${marked} trade markers, GetSweep has ${wf.trades.length} trades`);
    const rows = await page.locator('#wf-table tbody tr').count();
    check(rows === wf.windows.length, `${rows} window rows`);
    const first = await page.locator('#wf-table tbody tr[data-window="0"] td').allTextContents();
    check(first[3] === wf.windows[0].params.fast_period, `W1's fast_period ${first[3]}, want ${wf.windows[0].params.fast_period}`);
    await page.screenshot({ path: join(outDir, 'sweep-walk-forward.png'), fullPage: true });
  });
} catch (e) {
  problems.push(`stopped: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}
finish();
