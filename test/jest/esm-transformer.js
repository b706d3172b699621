/**
 * ts-jest, plus one rewrite for the ES-module-only packages we compile to CommonJS for Jest:
 * `import.meta.url` has no CommonJS equivalent in TypeScript's output, so it becomes the
 * file URL of the module, which is what it means in Node.
 */
const { TsJestTransformer } = require('ts-jest');

const IMPORT_META_URL = /\bimport\.meta\.url\b/g;
const FILE_URL = 'require("node:url").pathToFileURL(__filename).href';

class EsmAwareTransformer extends TsJestTransformer {
  process(source, path, options) {
    return super.process(rewrite(source, path), path, options);
  }

  async processAsync(source, path, options) {
    return super.processAsync(rewrite(source, path), path, options);
  }

  getCacheKey(source, path, options) {
    return super.getCacheKey(rewrite(source, path), path, options);
  }
}

function rewrite(source, path) {
  return path.includes('/node_modules/') ? source.replace(IMPORT_META_URL, FILE_URL) : source;
}

module.exports = {
  createTransformer: (config) => new EsmAwareTransformer(config),
};
