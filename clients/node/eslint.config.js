'use strict';
// ESLint (flat config): the recommended rules for the package, its tests and
// its examples (CommonJS on Node.js). Run by run-tests.sh: npx eslint .
const js = require('@eslint/js');

const node = Object.fromEntries([
  'require', 'module', 'exports', 'process', 'console', '__dirname', 'Buffer',
  'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate',
  'AbortController', 'AbortSignal', 'performance', 'URLSearchParams',
].map((g) => [g, 'readonly']));

module.exports = [
  { ignores: ['node_modules/'] },
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'commonjs', globals: node },
    rules: { 'no-unused-vars': ['error', { caughtErrors: 'none' }] },
  },
];
