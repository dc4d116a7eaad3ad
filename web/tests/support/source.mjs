// Loads a TypeScript module of the UI for unit tests: bundled from web/src with esbuild on the
// fly and imported from a data: URL. No browser needed.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** Bundles `web/src/<file>` (ESM, platform neutral) and imports it. */
export async function loadSource(file) {
  const out = await esbuild.build({
    entryPoints: [join(src, file)],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    logLevel: 'silent',
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}
