// @pglite-only: the dashboard reads the same API on either store; the storage tests cover both.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { call, startTestNode, suiteCleanup, type TestNode } from '../helpers/node.js';
import { signIn, type SignedIn } from '../helpers/users.js';
import { chromiumMissing, launchBrowser, openPage, screenshot, signInThroughUi, type WatchedPage } from '../helpers/browser.js';
import { finedRegistration, finesNodeConfig, finesSystem, register, WARD, OTHER_WARD, DISTRICT } from '../approvals/helpers.js';
import { speedingEvent } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The Authority Command Dashboard in Debian's Chromium against a real node (issue 6): sign in,
 * a webhook event on the live map within 2 s, its decision approved from the browser, an
 * emergency stop set and lifted, and a user of another ward who sees none of it. Every view is
 * saved as a screenshot (test-output/screens) at 1366×768 and at phone size, and the browser's
 * console must stay free of errors throughout.
 */
const skip = chromiumMissing();

describe('the dashboard in a browser', { skip }, () => {
  let node: TestNode;
  let key: string;
  let browser: Browser;
  let officer: SignedIn;
  let outsider: SignedIn;
  let commander: SignedIn;
  let officerPage: WatchedPage;
  /** The officer of the neighbouring ward, watching the live map while the event arrives. */
  let outsiderPage: WatchedPage;
  let decisionId: string;
  const suite = suiteCleanup();
  after(() => suite.run());

  before(async () => {
    const fines = await finesSystem(suite);
    node = await startTestNode(suite, finesNodeConfig(fines));
    key = await register(node, finedRegistration());
    officer = await signIn(node, { role: 'authority', level: 1, scope: WARD, name: 'officer' });
    outsider = await signIn(node, { role: 'authority', level: 1, scope: OTHER_WARD, name: 'outsider' });
    commander = await signIn(node, { role: 'authority', level: 2, scope: DISTRICT, name: 'commander' });
    browser = await launchBrowser(suite);
    officerPage = await openPage(browser);
    outsiderPage = await openPage(browser);
  });

  const page = (): Page => officerPage.page;
  const mapRegion = (p: Page) => p.getByRole('region', { name: 'Incident map' });
  const latest = (p: Page) => p.getByRole('region', { name: 'Latest on the map' });
  /** The map is ready and really drawn: its canvas has a size (data-ready alone says nothing of layout). */
  const mapDrawn = async (p: Page) => {
    await mapRegion(p).and(p.locator('[data-ready="true"]')).waitFor({ timeout: 30_000 });
    const box = await mapRegion(p).locator('canvas').first().boundingBox();
    assert.ok(box && box.width > 200 && box.height > 200, `the map's canvas is drawn at ${JSON.stringify(box)}`);
  };

  test('an officer signs in and the map shows the zones of their scope', async () => {
    await signInThroughUi(page(), node.url, officer);
    await mapDrawn(page());
    const nav = page().getByRole('navigation', { name: 'Views' });
    for (const view of ['Live map', 'Approvals', 'History', 'System health', 'Overrides', 'Topology']) {
      assert.ok(await nav.getByRole('link', { name: view }).isVisible(), `${view} is in the officer's navigation`);
    }
    await screenshot(page(), 'map-empty');
  });

  test('an event posted through the webhook is on the map within 2 s, without reload; the other ward’s live map stays empty', async () => {
    await signInThroughUi(outsiderPage.page, node.url, outsider);
    await mapDrawn(outsiderPage.page);
    const pointsBefore = Number(await mapRegion(page()).getAttribute('data-points'));
    await page().evaluate('window.__sameDocument = true'); // gone if the page reloads
    const res = await call(node, 'POST', '/webhook/traffic-violation-detector-v2', {
      headers: { 'x-api-key': key },
      body: speedingEvent({ event_id: 'dash-1', timestamp: new Date().toISOString() }),
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    // Issue 6: "see it on the map within 2 s", counted from the acknowledgement. The list beside
    // the map is the map's own data (one store feeds both); data-points counts the map's source.
    const acked = performance.now();
    await latest(page()).getByRole('button', { name: /Decision:.*violation/i }).first().waitFor({ timeout: 2000 });
    await waitFor('the event and its decision as points on the map', async () => Number(await mapRegion(page()).getAttribute('data-points')) >= pointsBefore + 2, 2000);
    const elapsedMs = performance.now() - acked;
    assert.ok(elapsedMs < 2000, `on the map ${elapsedMs.toFixed(0)} ms after the acknowledgement`);
    assert.equal(await page().evaluate('window.__sameDocument === true'), true, 'the page was not reloaded');
    // The same live stream narrowed to ward 118: nothing of ward 119 reached the outsider's map.
    assert.equal(await latest(outsiderPage.page).getByRole('button', { name: /violation/i }).count(), 0, 'nothing of ward 119 on the live map of ward 118');
    await page().waitForTimeout(500); // let maplibre draw the new points for the screenshot
    await screenshot(page(), 'map-live');
  });

  test('the officer opens the decision, approves it and sees the status change', async () => {
    await latest(page()).getByRole('button', { name: /Decision:/ }).first().click();
    const details = page().getByRole('complementary', { name: 'Details' });
    await details.getByText('PENDING').first().waitFor();
    await screenshot(page(), 'map-details');
    await details.getByRole('link', { name: 'Review approval' }).click();
    decisionId = new URL(page().url().replace('#/', '')).searchParams.get('decision') ?? '';
    assert.ok(decisionId, 'the approvals view is opened on the decision');

    const item = page().getByRole('article').filter({ hasText: WARD }).first();
    await item.getByRole('timer').waitFor();
    await screenshot(page(), 'approvals');
    await item.getByLabel('Notes').fill('Confirmed on the video');
    await item.getByRole('button', { name: 'Approve' }).click();
    await page().getByRole('status').filter({ hasText: 'APPROVED' }).waitFor();
    const stored = await call(node, 'GET', `/api/v1/decisions/${decisionId}`, { headers: node.admin });
    assert.equal(stored.body.approval_status, 'APPROVED');

    await page().goto(`${node.url}/#/history?decision=${decisionId}`);
    const explanation = page().getByRole('dialog', { name: /Decision/ });
    await explanation.getByText('APPROVED').first().waitFor();
    await explanation.getByRole('cell', { name: 'Confirmed on the video' }).waitFor();
    await screenshot(page(), 'history-explanation');
    await explanation.getByRole('button', { name: 'Close' }).click();
    await screenshot(page(), 'history');
  });

  test('an emergency stop for the ward is confirmed, held by the node, and lifted (its effect on actions: test/overrides)', async () => {
    await page().goto(`${node.url}/#/overrides`);
    const stop = page().getByRole('region', { name: 'Emergency stop' });
    await stop.getByRole('combobox', { name: 'Zone' }).selectOption(WARD);
    await stop.getByRole('textbox', { name: 'Reason' }).fill('Signal failure at Teynampet');
    await stop.getByRole('button', { name: 'Emergency stop' }).click();
    const confirm = page().getByRole('alertdialog');
    await confirm.getByText(/every zone inside it/).waitFor();
    await screenshot(page(), 'overrides-confirm');
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    const resume = page().getByRole('button', { name: /^Resume .*chennai-w119|^Resume .*Teynampet/i });
    await resume.first().waitFor();
    const active = (await call(node, 'GET', '/api/v1/overrides', { headers: node.admin })).body.active;
    assert.equal(JSON.stringify(active).includes(WARD), true, 'the node holds the stop');
    await screenshot(page(), 'overrides');

    await resume.first().click();
    await page().getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
    await waitFor('the stop lifted on the node', async () => !JSON.stringify((await call(node, 'GET', '/api/v1/overrides', { headers: node.admin })).body.active).includes(WARD));
    await resume.first().waitFor({ state: 'detached' });
  });

  test('health and topology views draw from the node', async () => {
    await page().goto(`${node.url}/#/health`);
    await page().getByRole('figure').first().waitFor();
    await page().waitForTimeout(4500); // two scrapes: the rates need a pair
    await screenshot(page(), 'health');
    await page().goto(`${node.url}/#/topology`);
    await page().getByText(/standalone/i).waitFor();
    await screenshot(page(), 'topology');
  });

  test('a user of another ward does not see the event, its decision or the approval', async () => {
    const other = outsiderPage;
    await other.page.reload();
    await mapDrawn(other.page);
    assert.equal(await latest(other.page).getByRole('button', { name: /violation/i }).count(), 0, 'nothing of ward 119 on the map of ward 118 after a reload either');
    await screenshot(other.page, 'map-other-ward');
    await other.page.goto(`${node.url}/#/approvals`);
    await other.page.getByText(/Nothing waiting/i).waitFor();
    await other.page.goto(`${node.url}/#/history?decision=${decisionId}`);
    await other.page.getByRole('alert').filter({ hasText: /outside your scope/ }).first().waitFor();
    assert.deepEqual(other.consoleErrors.filter((e) => !/403|Forbidden/.test(e)), []);
    await other.context.close();
  });

  test('every view works on a phone-sized screen', async () => {
    const phone = await openPage(browser, { width: 390, height: 844 });
    await signInThroughUi(phone.page, node.url, commander);
    for (const view of ['map', 'approvals', 'history', 'health', 'overrides', 'topology']) {
      await phone.page.goto(`${node.url}/#/${view}`);
      await phone.page.getByRole('main').waitFor();
      if (view === 'map') await mapDrawn(phone.page);
      await phone.page.waitForTimeout(view === 'map' || view === 'health' ? 2500 : 800);
      const overflow = await phone.page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      assert.ok(overflow <= 1, `${view}: the page is ${overflow}px wider than the phone`);
      await screenshot(phone.page, `phone-${view}`);
    }
    assert.deepEqual(phone.consoleErrors, []);
    await phone.context.close();
  });

  test('the officer’s browser console stayed free of errors', () => {
    assert.deepEqual(officerPage.consoleErrors, []);
  });
});

