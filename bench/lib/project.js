'use strict';
/**
 * The project's own names and formats (queue, key prefix, job options, sealing, body digest,
 * sample leads), from the bundle `npm run build` makes of bench/kit/project-kit.ts: the
 * benchmark uses what the apps use instead of copies that drift.
 */
const fs = require('node:fs');
const path = require('node:path');

const KIT_BUNDLE = 'dist/bench/kit/project-kit.js';
const bundle = path.resolve(__dirname, '../..', KIT_BUNDLE);

if (!fs.existsSync(bundle)) {
  process.stderr.write(`bench: ${KIT_BUNDLE} missing: run npm run build first (npm run bench does)\n`);
  process.exit(1);
}

module.exports = require(bundle);
