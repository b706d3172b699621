/**
 * Unit specs live beside the code; e2e specs in test/ boot the real apps against real Redis.
 * NestJS 12, the OpenID libraries and several of their dependencies ship as ES modules only:
 * Jest (unlike Node >= 20.19) cannot require() them, so test/jest/esm-transformer.js compiles
 * every ES-module dependency to CommonJS and passes CommonJS ones through.
 */

const shared = {
  moduleFileExtensions: ['js', 'mjs', 'json', 'ts'],
  rootDir: '.',
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': ['<rootDir>/test/jest/esm-transformer.js', { tsconfig: 'tsconfig.spec.json' }] },
  transformIgnorePatterns: [],
  moduleNameMapper: { '^@app/(config|queue|leads|wegroup|observability|sources|events)(|/.*)$': '<rootDir>/libs/$1/src$2' },
};

module.exports = {
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    { ...shared, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
  // Jest reads these only at the top level; e2e tests wait for real deliveries.
  testTimeout: 60_000,
  // A safety net, not a fix: the suite exits by itself, but a handle leaked by a future test
  // would otherwise keep CI waiting until its time limit instead of failing or finishing.
  forceExit: true,
};
