// ESLint 9 flat config: typescript-eslint's recommended rules, without type-aware rules
// (those need the type checker and are slow; `npm run lint` runs `tsc --noEmit` anyway).
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// The libs build on each other in one direction, so they can never import each other in a
// circle: each lib may import only the libs before it here, and never an app.
const LIB_LAYERS = ['config', 'queue', 'observability', 'wegroup', 'leads', 'sources', 'events'];

const libLayering = LIB_LAYERS.map((lib, index) => ({
  files: [`libs/${lib}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...LIB_LAYERS.slice(index + 1).map((above) => ({
            group: [`@app/${above}`, `@app/${above}/*`, `**/${above}/src`, `**/${above}/src/**`],
            message: `libs/${lib} may import ${index ? `only ${LIB_LAYERS.slice(0, index).join(', ')}` : 'no other lib'} (layers: ${LIB_LAYERS.join(' <- ')}): move what both need down a layer, or pass it in.`,
          })),
          { group: ['**/apps/**'], message: 'Libs never import apps.' },
        ],
      },
    ],
  },
}));

export default defineConfig(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.cjs'],
  },
  {
    files: ['apps/**/*.ts', 'libs/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    extends: [tseslint.configs.recommended],
    linterOptions: {
      reportUnusedDisableDirectives: 'warn',
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  ...libLayering,
  {
    // Tests poke at loosely typed HTTP bodies and mocks; `any` is fine there.
    files: ['test/**/*.ts', '**/*.spec.ts', '**/*.e2e-spec.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
