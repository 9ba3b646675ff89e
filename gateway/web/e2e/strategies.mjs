// Browser test of a strategy-folder strategy in the dashboard: tests/e2e/browser_e2e.sh copies
// examples/strategies/my_cross into the running backtestd's --strategy-dir; once ListStrategies
// has it, the form offers it, shows its own parameters and hides the built-ins' (its fast_period
// and slow_period are fields of their own beside sma_cross's of the same names), runs it with a
// value typed into one of them, and the job page charts it; the job's params carry that value
// typed (a number), and its source hash is the strategy's. Needs the real backtestd (the Go fake
// backend has no strategy folder).
//
//   BASE_URL=http://127.0.0.1:8080 TOKEN=… OUT_DIR=build/screenshots node e2e/strategies.mjs
import { join } from 'node:path';
import { base, check, finish, launch, outDir, problems, rest, setField, step, timeoutMs, token, watchedPage } from './harness.mjs';

const browser = await launch();
try {
  let strategy = null;
  await step('the folder added while the server runs is listed', async () => {
    const deadline = Date.now() + 30000;
    while (!strategy) {
      const { strategies } = await rest('/api/strategies/');
      strategy = (strategies || []).find((s) => s.name === 'my_cross') || null;
      if (!strategy) {
        check(Date.now() < deadline, 'my_cross not listed after 30 s');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    check(strategy.kind === 'sdk', `kind ${strategy.kind}`);
  });

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(ctx);
  await step('the form offers it and shows its parameters, not the built-ins\'', async () => {
    await page.goto(`${base}/?token=${encodeURIComponent(token)}`);
    await page.locator('#p-strategy option[value="my_cross"]').waitFor({ state: 'attached' });
    await page.selectOption('#p-strategy', 'my_cross');
    await page.locator('#p-my_cross-fast_period').waitFor({ state: 'visible' });
    check(await page.locator('#p-my_cross-slow_period').isVisible(), 'its slow_period is not shown');
    check(!(await page.locator('#p-sma_cross-fast_period').isVisible()), 'sma_cross\'s fast_period still shows');
    check(!(await page.locator('#p-rr').isVisible()), 'sr_breakout\'s rr still shows');
  });

  let jobId = '';
  await step('it runs from the form and the job page charts it', async () => {
    const values = {
      data_source: 'sample://', symbols: 'EURUSD', timeframe: 'H1',
      start_date: '2022-01-03 00:00', end_date: '2022-06-01 00:00', 'my_cross-fast_period': 8,
    };
    for (const [k, v] of Object.entries(values)) await setField(page, k, v);
    await Promise.all([page.waitForURL(/\/jobs\/[^/]+\/$/), page.click('#run-button')]);
    jobId = new URL(page.url()).pathname.split('/')[2];
    await page.locator('#result:not(.hidden) #chart canvas').first().waitFor({ timeout: timeoutMs });
    check(await page.locator('#job-status').textContent() === 'finished', 'status is not finished');
    check(await page.locator('#stats > div').count() > 5, 'no stats');
    await page.screenshot({ path: join(outDir, 'strategy-folder-job.png'), fullPage: true });
  });

  await step('the job has the typed value and the strategy\'s source hash', async () => {
    const job = await rest(`/api/jobs/${encodeURIComponent(jobId)}/status/`);
    check(job.params.strategy === 'my_cross', `strategy ${job.params.strategy}`);
    check(job.params.fast_period === 8, `fast_period ${JSON.stringify(job.params.fast_period)}`);
    check(job.strategy_source_hash === strategy.source_hash,
      `source hash ${job.strategy_source_hash}, the strategy's ${strategy.source_hash}`);
  });
} catch (e) {
  problems.push(`stopped: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}
finish();
