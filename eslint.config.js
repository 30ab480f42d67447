// typescript-eslint's recommended rules, with prettier owning the layout (eslint-config-prettier)
// and max-len holding what prettier cannot break (comments, strings) to prettier's width.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const WIDTH = 120; // .prettierrc.json printWidth
const TEST_TITLE = '^\\s*(test|it|describe)(\\.each)?\\(';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.cache/', 'bench/results/', 'deploy/', 'crds/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      // Test titles are exempt, as prettier keeps `test('title', async () => {` on one line whatever its length.
      'max-len': ['error', { code: WIDTH, ignoreUrls: true, ignoreRegExpLiterals: true, ignorePattern: TEST_TITLE }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Tests walk loosely typed YAML documents (manifests, chart output) with `any`.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Names a newcomer need not guess: no one-letter names in the operator itself (loop indices and
    // comparator pairs excepted). Tests keep their short table-row lambdas.
    files: ['src/**/*.ts'],
    rules: { 'id-length': ['error', { min: 2, exceptions: ['_', 'i', 'j', 'a', 'b'], properties: 'never' }] },
  },
);
