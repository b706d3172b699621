/**
 * ts-jest for our TypeScript, and for the dependencies that ship as ES modules only
 * (NestJS 12, parts of Fastify's and bull-board's tree, the OpenID libraries): Jest, unlike
 * Node >= 20.19, cannot require() them, so they are compiled to CommonJS here. CommonJS
 * dependencies pass through untouched.
 *
 * TypeScript leaves `import.meta` as it is in CommonJS output, so each use becomes what it
 * means in Node's CommonJS; an ES module's own `const require = createRequire(import.meta.url)`
 * goes, since CommonJS already has one.
 *
 * A CommonJS dependency that loads an ES module with `import('name')` (@fastify/cookie loads
 * `cookie` so) would need Jest's experimental VM modules: the import becomes a require() of the
 * module, which this transformer compiles like any other.
 */
const fs = require('node:fs');
const nodePath = require('node:path');
const { TsJestTransformer } = require('ts-jest');

const REWRITES = [
  [/^\s*const require\s*=\s*createRequire\(import\.meta\.url\);?\s*$/m, ''],
  [/\bimport\.meta\.url\b/g, 'require("node:url").pathToFileURL(__filename).href'],
  [/\bimport\.meta\.resolve\b/g, 'require.resolve'],
  [/\bimport\.meta\.dirname\b/g, '__dirname'],
  [/\bimport\.meta\.filename\b/g, '__filename'],
];

const moduleTypeByDir = new Map();

/** Whether Node would load this dependency file as an ES module. */
function isEsModule(file) {
  if (file.endsWith('.mjs')) return true;
  if (file.endsWith('.cjs') || file.endsWith('.json')) return false;
  const seen = [];
  let dir = nodePath.dirname(file);
  let type;
  while (type === undefined) {
    if (moduleTypeByDir.has(dir)) {
      type = moduleTypeByDir.get(dir);
      break;
    }
    seen.push(dir);
    const manifest = nodePath.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      type = JSON.parse(fs.readFileSync(manifest, 'utf8')).type ?? 'commonjs';
    } else if (nodePath.dirname(dir) === dir) {
      type = 'commonjs';
    } else {
      dir = nodePath.dirname(dir);
    }
  }
  for (const d of seen) moduleTypeByDir.set(d, type);
  return type === 'module';
}

const DYNAMIC_IMPORT = /\bimport\((['"][^'"()]+['"])\)/g;

/** A CommonJS dependency as Jest can run it: its dynamic imports of a named module are require()s. */
function requireDynamicImports(source) {
  return source.includes('import(') ? source.replace(DYNAMIC_IMPORT, 'Promise.resolve(require($1))') : source;
}

const isDependency = (file) => file.includes(`${nodePath.sep}node_modules${nodePath.sep}`);

class EsmAwareTransformer extends TsJestTransformer {
  process(source, file, options) {
    if (isDependency(file) && !isEsModule(file)) return { code: requireDynamicImports(source) };
    return super.process(rewrite(source, file), file, options);
  }

  async processAsync(source, file, options) {
    if (isDependency(file) && !isEsModule(file)) return { code: requireDynamicImports(source) };
    return super.processAsync(rewrite(source, file), file, options);
  }

  getCacheKey(source, file, options) {
    if (isDependency(file) && !isEsModule(file)) return super.getCacheKey(requireDynamicImports(source), file, options);
    return super.getCacheKey(rewrite(source, file), file, options);
  }
}

function rewrite(source, file) {
  if (!isDependency(file) || !source.includes('import.meta')) return source;
  return REWRITES.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), source);
}

module.exports = {
  createTransformer: (config) => new EsmAwareTransformer(config),
};
