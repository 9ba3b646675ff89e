// Browser test of the compare page: two sma_cross jobs that differ in fast_period are run through
// the REST API, picked in the form page's job list and compared; the page draws both equity
// curves, lists fast_period as the parameter that differs with each job's value, shows the
// statistics CompareRuns answers with their differences, filters to those that differ, and names
// the field of a bad request. Needs a gateway in front of the real backtestd (the Go fake backend
// has no CompareRuns); tests/e2e/browser_e2e.sh runs it.
//
//   BASE_URL=http://127.0.0.1:8080 TOKEN=… OUT_DIR=build/screenshots node e2e/compare.mjs
import { join } from 'node:path';
import { base, check, finish, launch, outDir, problems, rest, runJob, step, token, waitJob, watchedPage } from './harness.mjs';

const common = {
  strategy: 'sma_cross', data_source: 'sample://', symbols: 'EURUSD', timeframe: 'H1',
  start_date: '2022-01-03 00:00', end_date: '2022-06-01 00:00',
};
const browser = await launch();
try {
  let ids = [];
  await step('two sma_cross jobs differing in fast_period finish', async () => {
    ids = [await runJob({ ...common, fast_period: 8 }), await runJob({ ...common, fast_period: 21 })];
    for (const id of ids) check((await waitJob(id)) === 'finished', `job ${id} did not finish`);
  });

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(ctx);
  await step('the job list picks the two jobs and opens /compare/ with them', async () => {
    await page.goto(`${base}/?token=${encodeURIComponent(token)}`);
    for (const id of ids) await page.locator(`input.pick[value="${id}"]`).check();
    const button = page.locator('#compare-button');
    check(await button.isEnabled(), 'Compare selected stays disabled with two jobs picked');
    await Promise.all([page.waitForURL(/\/compare\/\?jobs=/), button.click()]);
    const url = new URL(page.url());
    check(url.searchParams.get('jobs').split(',').sort().join() === [...ids].sort().join(), `address ${page.url()}`);
  });

  const answer = await rest(`/api/compare/?jobs=${new URL(page.url()).searchParams.get('jobs')}&max_points=2000`);
  await step('both equity curves are drawn on one chart', async () => {
    await page.waitForSelector('#compare-chart[data-curves="2"] canvas');
    const box = await page.locator('#compare-chart').boundingBox();
    check(box && box.width > 400 && box.height > 200, `chart box ${JSON.stringify(box)}`);
    const legend = await page.locator('#compare-jobs a').allTextContents();
    check(legend.length === 2, `legend ${legend}`);
  });
  await step('fast_period is the parameter that differs, with each job\'s value', async () => {
    const rows = await page.locator('#params-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.param));
    check(rows.join() === 'fast_period', `differing parameters shown: ${rows}`);
    const cells = await page.locator('#params-table tr[data-param="fast_period"] td').allTextContents();
    const want = answer.differing_params[0].values;
    check(cells.slice(1).join() === want.join(), `cells ${cells}, want ${want}`);
  });
  await step('the statistics table shows every statistic with its difference', async () => {
    const rows = await page.locator('#compare-stats tbody tr').count();
    check(rows === answer.stats.length, `${rows} rows, want ${answer.stats.length}`);
    const trades = answer.stats.find((r) => r.name === 'trades');
    const cells = await page.locator('#compare-stats tr[data-stat="trades"] td').allTextContents();
    // statistic, job 1, job 2, Δ
    check(cells[1] === String(trades.values[0]) && cells[2] === String(trades.values[1]), `trades cells ${cells}`);
    const d = trades.differences[1];
    check(cells[3] === (d === 0 ? '=' : `${d > 0 ? '+' : '−'}${Math.abs(d)}`), `trades Δ ${cells[3]}, want ${d}`);
  });
  await step('"only statistics that differ" keeps the rows that differ', async () => {
    await page.locator('#only-different').check();
    const rows = await page.locator('#compare-stats tbody tr').count();
    const want = answer.stats.filter((r) => !r.same).length;
    check(rows === want && want > 0, `${rows} rows, want ${want}`);
    await page.screenshot({ path: join(outDir, 'compare.png'), fullPage: true });
  });
  await step('a compare of one job shows the server\'s message naming jobs', async () => {
    await page.goto(`${base}/compare/?jobs=${ids[0]}`);
    await page.waitForSelector('#page-error:not(.hidden)');
    const msg = await page.locator('#page-error').textContent();
    check(/^jobs: compare 2 to 8 jobs/.test(msg), `message ${msg}`);
  });
} catch (e) {
  problems.push(`stopped: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}
finish();
