// Bundles the kiln web UI: src/main.ts -> app.js, src/styles/app.css (with xterm's CSS) -> app.css,
// and copies index.html and favicon.svg. Except with --dev, the assets are also precompressed
// (app.js.gz, app.js.br, …: gzip level 9 and brotli quality 11, by Node's zlib) for kiln to serve
// to browsers that accept them. Used by crates/kiln/build.rs (which embeds the result)
// and by hand while developing:
//
//   node build.mjs [--outdir DIR] [--dev] [--watch]
//
// DIR defaults to web/dist; serve it with `KILN_UI_DIR=web/dist kiln serve`.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};

const outdir = resolve(value('--outdir', join(here, 'dist')));
const dev = flag('--dev') || flag('--watch');
const STATIC_FILES = ['index.html', 'favicon.svg'];
/** The assets served compressed (index.html is filled per response, so it is not). */
const COMPRESSED = ['app.js', 'app.css', 'favicon.svg'];

/** Writes NAME.gz and NAME.br beside each compressed asset. */
async function precompress() {
  for (const name of COMPRESSED) {
    const raw = await readFile(join(outdir, name));
    await writeFile(join(outdir, `${name}.gz`), gzipSync(raw, { level: 9 }));
    const br = brotliCompressSync(raw, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
    });
    await writeFile(join(outdir, `${name}.br`), br);
  }
}

/** @type {import('esbuild').BuildOptions} */
const options = {
  absWorkingDir: here,
  entryPoints: { app: 'src/main.ts' },
  outdir,
  entryNames: '[name]',
  bundle: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: !dev,
  sourcemap: dev ? 'linked' : false,
  legalComments: 'none',
  logLevel: 'warning',
  charset: 'utf8',
};
// The stylesheet is its own entry (app.css), so the page can link it without inline styles.
// The shipped fonts are copied (below), not bundled: their url()s stay as written.
const cssOptions = { ...options, entryPoints: { app: 'src/styles/app.css' }, external: ['fonts/*'] };

/** The fonts kiln ships (src/styles/fonts.css): package, Latin files, and their licence. */
const FONTS = ['jetbrains-mono', 'fira-code'];
const FONT_WEIGHTS = [400, 700];

/** Copies the fonts' Latin files and licences from the pinned @fontsource packages to fonts/. */
async function copyFonts() {
  await mkdir(join(outdir, 'fonts'), { recursive: true });
  for (const font of FONTS) {
    const pkg = join(here, 'node_modules', '@fontsource', font);
    for (const w of FONT_WEIGHTS) {
      const file = `${font}-latin-${w}-normal.woff2`;
      await copyFile(join(pkg, 'files', file), join(outdir, 'fonts', file));
    }
    await copyFile(join(pkg, 'LICENSE'), join(outdir, 'fonts', `${font}-LICENSE.txt`));
  }
}

async function copyStatic() {
  await mkdir(outdir, { recursive: true });
  for (const f of STATIC_FILES) await copyFile(join(here, f), join(outdir, f));
  await copyFonts();
}

if (flag('--watch')) {
  const js = await esbuild.context(options);
  const css = await esbuild.context(cssOptions);
  await copyStatic();
  await Promise.all([js.watch(), css.watch()]);
  console.log(`watching; writing to ${outdir} (index.html and favicon.svg are copied once)`);
} else {
  await copyStatic();
  await Promise.all([esbuild.build(options), esbuild.build(cssOptions)]);
  if (!dev) await precompress();
}
