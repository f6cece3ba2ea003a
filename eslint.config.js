import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.askq/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      'no-console': 'off',
    },
  },
  // The layers: shared ← producer, worker ← cli. Policies wrap ports from outside, so the
  // pipeline and the providers never see them; a producer never loads worker code.
  ...restrictImports(
    ['src/shared/**'],
    [
      {
        group: ['**/producer/**', '**/worker/**', '**/cli/**'],
        message: 'shared/ is the bottom layer.',
      },
    ],
  ),
  ...restrictImports(
    ['src/producer/**', 'src/index.ts'],
    [{ group: ['**/worker/**', '**/cli/**'], message: 'Producers never load worker or CLI code.' }],
  ),
  ...restrictImports(
    ['src/worker/**'],
    [
      {
        group: ['**/producer/**', '**/cli/**'],
        message: 'Workers never load producer or CLI code.',
      },
    ],
  ),
  ...restrictImports(
    ['src/worker/pipeline/**', 'src/worker/providers/**'],
    [
      {
        group: ['**/resilience/**', '**/attempt/**'],
        message:
          'The pipeline and providers are plain functions of their ports; policies wrap them.',
      },
    ],
  ),
  ...restrictImports(
    ['src/cli/**'],
    [
      {
        group: ['**/producer/eval/*', '!**/producer/eval/index.ts'],
        message: 'Use the evaluation through src/producer/eval/index.ts.',
      },
    ],
  ),
  prettier,
);

/** A `no-restricted-imports` rule for `files`. */
function restrictImports(files, patterns) {
  return [{ files, rules: { 'no-restricted-imports': ['error', { patterns }] } }];
}
