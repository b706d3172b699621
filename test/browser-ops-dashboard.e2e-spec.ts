import type { Page } from 'playwright-core';
import { BrowserSession, screenshot } from './support/browser';
import { distributionId, lead, OPS, StackWithSandbox, startStackWithSandbox, stopStackWithSandbox } from './support/stack';

/**
 * The ops dashboard (bull-board at /ops/queues) in a real browser, as the person on call uses
 * it: log in, find the leads queue, open a failed lead and read why it failed, in words.
 */

/** A stack-trace line as V8 prints it: "    at fn (file:line:col)". */
const STACK_LINE = /^\s+at \S.*$/m;

describe('ops dashboard at /ops/queues (browser)', () => {
  let started: StackWithSandbox;
  let browser: BrowserSession;
  let page: Page;
  let failedId: string;

  beforeAll(async () => {
    browser = await BrowserSession.launch();
    started = await startStackWithSandbox('ops-dashboard-ui');
    // WeGroup refuses this lead for good: the worker fails it at once, without retries.
    const did = distributionId();
    await started.control.fault({ status: 422, count: 1, distribution_id: did, body: { detail: 'prospect.birth_date is not a date' } });
    const response = await started.stack.postLead(lead({ distribution_id: did }));
    expect(response.status).toBe(202);
    failedId = ((await response.json()) as { id: string }).id;
    await started.stack.waitForStatus(failedId, ['failed']);
    // The browser answers the basic-auth challenge the way a person's saved login would.
    page = await browser.newPage({ httpCredentials: { username: OPS.username, password: OPS.password } });
    page.setDefaultTimeout(15_000);
  });

  afterAll(async () => {
    await browser?.close();
    await stopStackWithSandbox(started ?? {});
  });

  it('logs in with the ops credentials and shows the leads queue', async () => {
    const response = await page.goto(`${started.stack.url}/ops/queues`);
    expect(response?.status()).toBe(200);
    const main = page.locator('main');
    await main.getByText('leads', { exact: true }).first().waitFor();
    await main.getByText(/failed/i).first().waitFor();
    await screenshot(page, 'dashboard-1-queues');
  });

  it('lists the failed lead under the queue’s FAILED tab', async () => {
    await page.locator('main').getByText('leads', { exact: true }).first().click();
    await page.getByRole('link', { name: /failed/i }).first().click();
    await page.waitForURL(/\/ops\/queues\/queue\/leads\?status=failed/);
    await page.getByText(failedId).first().waitFor();
    await screenshot(page, 'dashboard-2-failed-list');
  });

  it('opens the failed lead and shows WeGroup’s reason in words, without a stack trace', async () => {
    await page.getByRole('link', { name: failedId }).first().click();
    await page.waitForURL(new RegExp(`/ops/queues/queue/leads/${failedId}`));
    await page.getByRole('tab', { name: 'Error' }).click();
    const reason = page.getByRole('tabpanel');
    await reason.waitFor();
    await screenshot(page, 'dashboard-3-failed-reason');
    const text = (await reason.innerText()).trim();
    expect(text).toMatch(/^WeGroup answered 4\d\d\b/);
    expect(await page.locator('body').innerText()).not.toMatch(STACK_LINE);
  });
});
