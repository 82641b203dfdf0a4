// @ts-check
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * ESLint for Doppel: eslint's and typescript-eslint's recommended rules with type information (the
 * project service reads tsconfig.json), so promises that nobody awaits, `any` leaking out of JSON and
 * misused async callbacks are findings, not review comments. Formatting is Prettier's job, not ESLint's.
 */
export default defineConfig(
  { ignores: ['src/generated/**', 'test/generated/**', 'src/console/app/gql/**', 'dist/**', 'node_modules/**', 'coverage/**', 'data/**'] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { args: 'after-used', argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      // Passing on a rejection reason we caught (typed unknown) unchanged is not inventing a non-Error reason.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // The code writes `xs[i]!` as if noUncheckedIndexedAccess were on (15 sites short of turning it on); this rule would strip every one.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // `async` on a function implementing a Promise-returning contract (fakes, interface members) is deliberate, awaited or not.
      '@typescript-eslint/require-await': 'off',
      // Matching control characters (NUL in twin keys and topics, control characters in names) is what those regexes are for.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // vitest's asymmetric matchers (expect.any, expect.stringMatching, ...) are typed any by design.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    // Config files outside tsconfig.json (this one, .dependency-cruiser.cjs): plain JavaScript, no types to check.
    files: ['**/*.{js,cjs,mjs}'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
);
