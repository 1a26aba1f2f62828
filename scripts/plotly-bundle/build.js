// esbuild with the plugins and aliases of plotly.js's own esbuild-config.js (its npm package
// ships the sources but not the build tasks), minified, as an IIFE defining window.Plotly.
const esbuild = require('esbuild');
const path = require('path');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const version = require('plotly.js/package.json').version;
const traces = ['scatter', 'bar', 'contour', 'parcoords'];
const out = path.resolve(__dirname, '../../service/dashboard/static/vendor/plotly.min.js');

esbuild.build({
  entryPoints: [path.join(__dirname, 'entry.js')],
  outfile: out,
  format: 'iife',
  globalName: 'Plotly',
  bundle: true,
  minify: true,
  legalComments: 'none',
  banner: {
    js: `/**\n* plotly.js v${version} (partial bundle: ${traces.join(', ')})\n` +
        '* Copyright 2012-2026, Plotly, Inc. All rights reserved. Licensed under the MIT license\n' +
        '* Built by scripts/plotly-bundle/build for optrack\n*/',
  },
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' },
  target: 'es2016',
  logLevel: 'info',
}).catch(() => process.exit(1));
