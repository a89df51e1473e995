import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

/** The console's end-to-end tests' browser: Debian's Chromium, a fresh profile per page, each closed after its test. */

const CHROMIUM = '/usr/bin/chromium';
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SCREENSHOTS = fileURLToPath(new URL('../../docs/console/', import.meta.url));
/** The docs' screenshots: one laptop-sized window, whatever the test's own. */
export const DOCS_VIEWPORT = { width: 1280, height: 800 };

export interface ConsoleBrowser {
  /** A fresh browser profile on the console's sign-in page. */
  newPage(options?: BrowserContextOptions): Promise<Page>;
  /** A fresh browser profile, signed in with the token. */
  signIn(token: string, options?: BrowserContextOptions): Promise<{ page: Page; context: BrowserContext }>;
  /** Closes the profiles opened since the last call: for afterEach. */
  closePages(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the bundle as `npm run build` does, and launches Chromium; fails saying how to install it if it is missing. */
export async function launchConsoleBrowser(adminUrl: string): Promise<ConsoleBrowser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium (CI's .ci/run installs it).`);
  await promisify(execFile)('npm', ['run', 'build:console'], { cwd: REPO });
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM });
  const contexts: BrowserContext[] = [];
  const newPage = async (options: BrowserContextOptions = {}) => {
    const context = await browser.newContext(options);
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${adminUrl}/console/`);
    return page;
  };
  return {
    newPage,
    async signIn(token, options) {
      const page = await newPage(options);
      await page.getByLabel('Admin token').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      return { page, context: page.context() };
    },
    async closePages() {
      for (const context of contexts.splice(0)) await context.close();
    },
    close: () => browser.close(),
  };
}

/** A call from inside the page, as script on it (or a forger's) would make it: with the browser's cookies. */
export function fetchInPage(page: Page, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  return page.evaluate(
    async ({ method, path, headers, body }) => {
      // A body-less call sends no content type: Fastify answers an empty JSON body 400 before any permission is checked.
      const response = await fetch(path, { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, body });
      return { status: response.status, text: await response.text() };
    },
    { method, path, headers, body: body === undefined ? undefined : JSON.stringify(body) },
  );
}

/**
 * Takes the page's picture for docs/console.md, written there with UPDATE_SCREENSHOTS=1 (a run otherwise leaves the
 * tracked files as they are); nothing compares it, so it cannot fail a run that works.
 */
export async function screenshot(page: Page, name: string) {
  const picture = await page.screenshot({ animations: 'disabled', caret: 'hide' });
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  writeFileSync(`${SCREENSHOTS}${name}.png`, picture);
}

/**
 * Follows the console's navigation link to a page and waits until the link is the current page: the console renders
 * the link's state and the page in one go, so the previous page's fields are gone when this returns.
 */
export async function openPage(page: Page, title: string) {
  const link = page.getByRole('navigation').getByRole('link', { name: title });
  await link.click();
  await link.and(page.locator('[aria-current="page"]')).waitFor();
}
