// Builds the widget's browser assets from their readable sources with terser:
//
//   static/src/widget.js   -> static/widget.js          (classic script, the first view)
//                          -> static/widget-sites.js    (the same for a server with sites: SITES)
//                          -> static/embed.js           (the same for the /embed page: EMBED)
//   static/src/actions.js  -> static/widget-actions.js  (ES module, imported on the first press)
//   static/src/reasons.js  -> static/widget-reasons.js  (ES module, imported after a "No")
//
// Mangling rule: besides local variables, every property whose name starts with "_" and a
// lowercase letter is renamed. The three files share one name cache, so a property such as
// `binding._article` gets the same short name in all of them. Names without the prefix (DOM,
// JSON from the server, configuration literals, event details) are left alone.
//
// Usage: npm ci && npm run build          (writes into static/)
//        node build.mjs --out DIR         (writes into DIR: the test that checks the
//                                          committed files are not stale uses this)
import {readFileSync, writeFileSync, mkdirSync} from 'node:fs';
import {gzipSync} from 'node:zlib';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {minify} from 'terser';

export const INTERNAL = /^_[a-z]/;
const STATIC = join(dirname(fileURLToPath(import.meta.url)), '..');
// [source, output, ES module?, build-time constants]
const FILES = [
  ['widget.js', 'widget.js', false, {EMBED: false, SITES: false}],
  ['widget.js', 'widget-sites.js', false, {EMBED: false, SITES: true}],
  ['widget.js', 'embed.js', false, {EMBED: true, SITES: true}],
  ['actions.js', 'widget-actions.js', true, {}],
  ['reasons.js', 'widget-reasons.js', true, {}],
];

const at = process.argv.indexOf('--out');
const out = at > 0 ? process.argv[at + 1] : STATIC;
mkdirSync(out, {recursive: true});
const cache = {};
for (const [source, built, module, constants] of FILES) {
  const nameCache = {props: cache.props};
  const result = await minify(readFileSync(join(STATIC, 'src', source), 'utf8'), {
    ecma: 2020,
    module,
    compress: {passes: 2, global_defs: constants},
    mangle: {properties: {regex: INTERNAL}},
    format: {comments: false},
    nameCache,
  });
  cache.props = nameCache.props;
  writeFileSync(join(out, built), result.code);
  console.log(`${built}: ${result.code.length} bytes, ${gzipSync(result.code, {level: 9}).length} gzipped (before the server fills its placeholder)`);
}
