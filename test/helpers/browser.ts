import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Cleanup } from './node.js';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it). Never a downloaded one. */
export const CHROMIUM = process.env.CITY_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of every view, for a person to look at (git-ignored). */
export const SCREENSHOT_DIR = join(process.cwd(), 'test-output/screens');

/**
 * DESIGN.md: headless Chromium here needs these flags; the background-networking ones keep it
 * from reaching out to the internet (this machine's network is closed), and SwiftShader gives
 * maplibre-gl its WebGL.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
];

export function chromiumMissing(): string | false {
  return existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}: apt-get install chromium (.ci/run does)`;
}

export async function launchBrowser(t: Cleanup): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  t.after(() => browser.close());
  return browser;
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught page errors seen so far (issue: no errors in the console). */
  consoleErrors: string[];
}

/** A fresh context (no shared storage) with a page whose console errors are collected. */
export async function openPage(browser: Browser, options: { width?: number; height?: number } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1366, height: options.height ?? 768 } });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  return { page, context, consoleErrors };
}

/** Signs in through the dashboard's form and waits for the navigation to appear. */
export async function signInThroughUi(page: Page, baseUrl: string, who: { username: string; password: string }): Promise<void> {
  await page.goto(baseUrl + '/');
  await page.getByLabel('User name').fill(who.username);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Views' }).waitFor();
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}
