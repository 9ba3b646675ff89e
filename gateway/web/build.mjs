// Bundles the dashboard into the directory given as the first argument (gateway/build.sh passes a
// temporary dir that becomes internal/gen/web/dist). Layout of the output:
//   index.html, job.html, docs.html   pages served at /, /jobs/{id}/ and /docs
//   compare.html                       /compare/
//   sweep_form.html, sweep.html        /sweeps/ (the sweep form) and /sweeps/{id}/
//   static/                            bundled scripts and styles, swagger-ui's files under static/swagger/
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs OUT_DIR');
  process.exit(2);
}
mkdirSync(join(out, 'static', 'swagger'), { recursive: true });

await esbuild.build({
  entryPoints: {
    form: join(here, 'src', 'form.js'),
    job: join(here, 'src', 'job.js'),
    docs: join(here, 'src', 'docs.js'),
    compare: join(here, 'src', 'compare.js'),
    sweep_form: join(here, 'src', 'sweep_form.js'),
    sweep: join(here, 'src', 'sweep.js'),
    style: join(here, 'src', 'style.css'),
  },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['es2020'],
  outdir: join(out, 'static'),
  logLevel: 'warning',
  legalComments: 'linked',
});

for (const page of ['index.html', 'job.html', 'docs.html', 'compare.html', 'sweep_form.html', 'sweep.html']) {
  writeFileSync(join(out, page), readFileSync(join(here, 'src', page)));
}

// swagger-ui ships prebuilt browser files; copy the few the docs page loads.
const require = createRequire(import.meta.url);
const swaggerDir = dirname(require.resolve('swagger-ui-dist/package.json'));
for (const f of ['swagger-ui-bundle.js', 'swagger-ui-bundle.js.LICENSE.txt', 'swagger-ui.css', 'LICENSE']) {
  cpSync(join(swaggerDir, f), join(out, 'static', 'swagger', f));
}
