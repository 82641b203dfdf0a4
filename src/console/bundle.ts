/**
 * The console's browser code (src/console/app/), bundled by esbuild in memory when the server starts:
 * `npm install` + `npm start` serve it with no build step, and nothing is fetched from a CDN. A bundle
 * takes ≈ 100–300 ms and is immutable for the life of the process, so its files are named by content
 * hash and cached by browsers for good; the page that names them is never cached.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as esbuild from 'esbuild';

/** URL path prefix of the hashed files. */
export const ASSET_PREFIX = '/console/assets/';

export interface ConsoleAsset {
  body: Uint8Array;
  contentType: string;
}

export interface ConsoleBundle {
  /** The page at `/`: names the hashed script and stylesheet. */
  html: string;
  /** Hashed files by URL path (`/console/assets/console-<hash>.js`). */
  assets: ReadonlyMap<string, ConsoleAsset>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

/**
 * Where the app's sources are: beside this file when run from src/ (tsx), and back in src/ when run
 * from dist/ (`npm run build` compiles the server only; the browser code is bundled from source).
 */
export function findAppDirectory(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'app'), path.resolve(here, '../../src/console/app')];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'main.tsx')));
  if (!found) throw new Error(`console sources not found (looked in ${candidates.join(', ')})`);
  return found;
}

export async function bundleConsole(appDir = findAppDirectory()): Promise<ConsoleBundle> {
  const result = await esbuild.build({
    entryPoints: { console: path.join(appDir, 'main.tsx') },
    absWorkingDir: appDir,
    tsconfig: path.join(appDir, 'tsconfig.json'),
    bundle: true,
    write: false,
    minify: true,
    format: 'esm',
    // Browsers of the last few years: the console uses no syntax older browsers would need lowered.
    target: ['chrome110', 'firefox110', 'safari16'],
    outdir: ASSET_PREFIX,
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const assets = new Map<string, ConsoleAsset>();
  let script: string | undefined;
  let stylesheet: string | undefined;
  for (const file of result.outputFiles) {
    const urlPath = file.path.split(path.sep).join('/');
    const extension = path.extname(urlPath);
    assets.set(urlPath, { body: file.contents, contentType: CONTENT_TYPES[extension] ?? 'application/octet-stream' });
    if (extension === '.js' && path.basename(urlPath).startsWith('console-')) script = urlPath;
    if (extension === '.css' && path.basename(urlPath).startsWith('console-')) stylesheet = urlPath;
  }
  if (!script) throw new Error('console bundle has no entry script');
  return { html: pageHtml(script, stylesheet), assets };
}

function pageHtml(script: string, stylesheet: string | undefined): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Doppel console</title>',
    ...(stylesheet ? [`<link rel="stylesheet" href="${stylesheet}">`] : []),
    `<script type="module" src="${script}"></script>`,
    '</head>',
    '<body><div id="app"><noscript>The Doppel console needs JavaScript.</noscript></div></body>',
    '</html>',
    '',
  ].join('\n');
}
