import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The directory holding the console's templates and files (apps/intake-api/views and
 * apps/intake-api/public): found by walking up from this module, which runs from the sources
 * in tests and from dist/apps/intake-api in a build (the image copies both directories beside
 * dist and node_modules).
 */
export function consoleRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'apps', 'intake-api', 'views', 'layout.eta'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`The ops console's templates (apps/intake-api/views) are not found above ${from}`);
  }
}

export interface ConsoleAsset {
  /** The URL, with a digest of the content in it: cached for a year, a new version gets a new URL. */
  url: string;
  type: string;
  body: Buffer;
}

/** Every file the console's pages load, all from this origin: no CDN, no web font; the page works offline. */
const FILES = {
  htmx: { file: 'node_modules/htmx.org/dist/htmx.min.js', name: 'htmx.min.js', type: 'text/javascript; charset=utf-8' },
  uplotJs: { file: 'node_modules/uplot/dist/uPlot.iife.min.js', name: 'uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  uplotCss: { file: 'node_modules/uplot/dist/uPlot.min.css', name: 'uPlot.min.css', type: 'text/css; charset=utf-8' },
  consoleJs: { file: 'apps/intake-api/public/console.js', name: 'console.js', type: 'text/javascript; charset=utf-8' },
  consoleCss: { file: 'apps/intake-api/public/console.css', name: 'console.css', type: 'text/css; charset=utf-8' },
} as const;

export type ConsoleAssetName = keyof typeof FILES;

export const CONSOLE_ASSETS_PATH = '/ops/assets';

/**
 * The console's files, read once at boot into memory (a few hundred KB): served from a fixed
 * table, so no request path ever reaches the file system.
 */
export function loadConsoleAssets(root: string): Record<ConsoleAssetName, ConsoleAsset> {
  const assets = {} as Record<ConsoleAssetName, ConsoleAsset>;
  for (const [key, { file, name, type }] of Object.entries(FILES)) {
    const body = readFileSync(path.join(root, file));
    const version = createHash('sha256').update(body).digest('hex').slice(0, 12);
    assets[key as ConsoleAssetName] = { url: `${CONSOLE_ASSETS_PATH}/${version}/${name}`, type, body };
  }
  return assets;
}
