import type { Locator, Page } from 'playwright-core';
import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { BrowserSession, screenshot } from './support/browser';
import { INTAKE_KEY, refOf, StackWithSandbox, startStackWithSandbox, stopStackWithSandbox } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Swagger UI in a real browser, against the real intake, worker and WeGroup sandbox: what a
 * CRM developer does first. The document once had a stray required header that made Swagger
 * UI refuse every "Execute" on POST /v1/leads while all unit tests passed.
 */

/** The example lead of the OpenAPI document (the one "Try it out" fills in). */
const EXAMPLE_REF = '123';

describe('Swagger UI at /docs (browser)', () => {
  let started: StackWithSandbox;
  let browser: BrowserSession;
  let page: Page;
  let leadId: string;

  beforeAll(async () => {
    browser = await BrowserSession.launch();
    started = await startStackWithSandbox('swagger-ui');
    page = await browser.newPage();
    // A step that cannot happen fails in seconds, with the step named.
    page.setDefaultTimeout(15_000);
  });

  afterAll(async () => {
    await browser?.close();
    await stopStackWithSandbox(started ?? {});
  });

  /** The operation's block, opened, in "Try it out" mode. */
  async function tryItOut(operationId: string) {
    const block = page.locator(`#operations-leads-${operationId}`);
    await block.locator('.opblock-summary').first().click();
    await block.getByRole('button', { name: 'Try it out' }).click();
    return block;
  }

  /**
   * Executes, then returns the status code Swagger UI shows. Swagger UI refuses to send a request
   * its document says is incomplete, and shows why: that text is the failure message.
   */
  async function execute(block: Locator): Promise<string> {
    await block.getByRole('button', { name: 'Execute' }).click();
    await block.locator('.live-responses-table, .validation-errors').first().waitFor();
    expect(await block.locator('.validation-errors').allInnerTexts()).toEqual([]);
    await block.locator('.live-responses-table').scrollIntoViewIfNeeded();
    return (await block.locator('.live-responses-table .response .response-col_status').first().innerText()).trim();
  }

  /** The JSON body Swagger UI shows for the answer. */
  async function answerBody(block: Locator): Promise<Record<string, unknown>> {
    return JSON.parse(await block.locator('.live-responses-table .response-col_description pre.microlight').first().innerText()) as Record<string, unknown>;
  }

  it('authorizes with the API key alone (the X-API-Key scheme)', async () => {
    await page.goto(`${started.stack.url}/docs`);
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'WeGroup lead intake' }).waitFor();
    await page.locator('.auth-wrapper').getByRole('button', { name: /Authorize/ }).click();
    const dialog = page.locator('.modal-ux');
    const apiKey = dialog.locator('.auth-container').filter({ hasText: 'X-API-Key' });
    await apiKey.locator('input').fill(INTAKE_KEY);
    await apiKey.locator('button.authorize').click();
    // Once authorized, Swagger UI shows the key masked and offers to log out.
    await apiKey.locator('button', { hasText: 'Logout' }).waitFor();
    await screenshot(page, 'swagger-1-authorized', dialog.locator('.modal-ux-inner'));
    await apiKey.locator('button.btn-done').click();
    expect(await page.locator('.auth-wrapper .authorize').getAttribute('class')).toMatch(/\blocked\b/);
  });

  it('sends the documented example lead with POST /v1/leads: 202 in the UI, and the sandbox receives it', async () => {
    const block = await tryItOut('LeadIntakeController_create_v1');
    // The parameters and the example body, as filled in (the documented answers below are long).
    await screenshot(page, 'swagger-2-post-lead-try-it-out', block.locator('.opblock-section').first());
    const status = await execute(block);
    // The server's answer only: the curl line above it shows the API key.
    await screenshot(page, 'swagger-3-post-lead-202', block.locator('.live-responses-table'));
    expect(status).toBe('202');
    const answer = await answerBody(block);
    expect(answer).toEqual({ id: expect.any(String), status: 'queued' });
    leadId = answer.id as string;

    const delivered = await waitFor('the sandbox to receive the lead', async () => {
      const requests = await started.control.requests(SANDBOX_DEFAULTS.distributionId);
      return requests.find((request) => refOf(request) === EXAMPLE_REF && request.status === 201);
    });
    expect(delivered.body.prospect).toMatchObject({ first_name: 'Foo', last_name: 'Bar' });
  });

  it('reads the lead back with GET /v1/leads/{id}: 200 and its status in the UI', async () => {
    // The id comes from the answer Swagger UI showed in the previous step.
    expect(leadId).toEqual(expect.any(String));
    await started.stack.waitForStatus(leadId, ['delivered']);
    const block = await tryItOut('LeadIntakeController_find_v1');
    await block.locator('tr[data-param-name="id"] input').fill(leadId);
    const status = await execute(block);
    await screenshot(page, 'swagger-4-get-lead-200', block.locator('.live-responses-table'));
    expect(status).toBe('200');
    expect(await answerBody(block)).toMatchObject({ id: leadId, status: 'delivered', source: 'test-crm' });
  });
});
