// esbuild with the plugins and aliases of plotly.js's own esbuild-config.js (its npm package
// ships the sources but not the build tasks), minified, as an IIFE defining window.Plotly.
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const version = require('plotly.js/package.json').version;

// The dashboard works offline and loads nothing from elsewhere: plotly's defaults that name
// remote services (the topojson CDN of geo charts, which this bundle lacks; Chart Studio's
// upload URL) become empty, and the no-WebGL notice opens no remote page. The edits match what
// plotly writes, never a host name, so any remote default is emptied whatever its address.
// Each edit must match as often as it says, so a new plotly version that moved one fails the
// build instead of slipping through.
const OFFLINE = {
  'plot_api/plot_config.js': [
    [/dflt: 'https?:\/\/[^']*'/g, "dflt: ''", 2],
    [/'By default, the topojson files are fetched from [^']*'/g,
     "'optrack\\'s bundle has no geo charts and no default topojson URL.'", 1],
  ],
  'lib/show_no_webgl_msg.js': [
    [/'WebGL is not supported by your browser - visit \S* for more info'/g,
     "'WebGL is not supported by this browser'", 1],
    [/window\.open\([^)]*\);/g, '', 1],
  ],
};

const offline = {
  name: 'offline',
  setup(build) {
    build.onLoad({ filter: /plotly\.js[\\/]src[\\/](plot_api[\\/]plot_config|lib[\\/]show_no_webgl_msg)\.js$/ },
      (args) => {
        const key = Object.keys(OFFLINE).find((k) => args.path.split(path.sep).join('/').endsWith(k));
        let text = fs.readFileSync(args.path, 'utf8');
        for (const [pattern, to, times] of OFFLINE[key]) {
          const found = (text.match(pattern) || []).length;
          if (found !== times) throw new Error(`${key}: ${pattern} found ${found} times, not ${times}`);
          text = text.replace(pattern, to);
        }
        return { contents: text, loader: 'js' };
      });
  },
};
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
  plugins: [offline, InlineCSSPlugin(), glsl({ minify: true }),
            environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' },
  target: 'es2016',
  logLevel: 'info',
}).catch(() => process.exit(1));
