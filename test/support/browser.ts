import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Browser, BrowserContext, BrowserContextOptions, chromium, Locator, Page } from 'playwright-core';

/**
 * Browser tests drive the system's Chromium (Debian's `chromium` package) through
 * playwright-core, which never downloads a browser. Screenshots of every step land in
 * test-artifacts/screenshots/ (git-ignored) so a person can see what the test saw.
 */

const ROOT = path.resolve(__dirname, '../..');
export const SCREENSHOTS_DIR = path.join(ROOT, 'test-artifacts', 'screenshots');

const INSTALL_HINT = 'install it (Debian/Ubuntu: `sudo apt-get install -y chromium`) or set CHROMIUM_PATH to a Chromium binary';

/** A failure that reads as one line: the stack of a missing browser says nothing more. */
function oneLineError(message: string): Error {
  const error = new Error(message);
  error.stack = message;
  return error;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** CHROMIUM_PATH, else the first chromium on PATH; a one-line error saying how to install it otherwise. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CHROMIUM_PATH) {
    if (isExecutable(env.CHROMIUM_PATH)) return env.CHROMIUM_PATH;
    throw oneLineError(`The browser tests need Chromium, and CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable file: ${INSTALL_HINT}.`);
  }
  const names = ['chromium', 'chromium-browser'];
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of names) if (isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  throw oneLineError(`The browser tests need Chromium, which is not on PATH: ${INSTALL_HINT}.`);
}

/** One headless Chromium for a describe block; every page it opened goes with close(). */
export class BrowserSession {
  private constructor(private readonly browser: Browser) {}

  static async launch(): Promise<BrowserSession> {
    const args = [
      // Containers often give /dev/shm only 64 MB, which makes Chromium's renderers crash.
      '--disable-dev-shm-usage',
    ];
    // Chromium refuses to run as root with its sandbox on, and CI containers run as root.
    if (process.getuid?.() === 0) args.push('--no-sandbox');
    const browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args });
    return new BrowserSession(browser);
  }

  /** A page in a fresh context (own cookies and credentials), 1280×900 unless told otherwise. */
  async newPage(options: BrowserContextOptions = {}): Promise<Page> {
    const context: BrowserContext = await this.browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
    return context.newPage();
  }

  async close(): Promise<void> {
    await Promise.all(this.browser.contexts().map((context) => context.close()));
    await this.browser.close();
  }
}

/**
 * Saves test-artifacts/screenshots/<name>.png: the element when given (scrolled into view),
 * else the viewport. Returns the file's path.
 */
export async function screenshot(page: Page, name: string, element?: Locator): Promise<string> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const file = path.join(SCREENSHOTS_DIR, `${name}.png`);
  if (element) await element.screenshot({ path: file, animations: 'disabled' });
  else await page.screenshot({ path: file, animations: 'disabled' });
  return file;
}
