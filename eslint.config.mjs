import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'dist/', 'coverage/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: {
      globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The boundary from docs/architecture.md: runtime code never pulls in the CDK.
    files: ['src/**/*.ts', 'lambda/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs', '../lib/*', '../../lib/*'], message: 'src/ and lambda/ must not import the CDK or lib/ (docs/architecture.md).' }] }],
    },
  },
  {
    // The CLI sits on top: errors, logging and formatting live in src/core, below every command, so nothing but the
    // CLI itself (and its tests) may import src/cli (docs/architecture.md, "What may import what").
    files: ['src/**/*.ts', 'lambda/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs', '../lib/*', '../../lib/*'], message: 'src/ and lambda/ must not import the CDK or lib/ (docs/architecture.md).' },
        { regex: '(^|/)cli(/|$)', message: 'only src/cli may import src/cli: shared code lives in src/core (docs/architecture.md).' },
      ] }],
    },
  },
  {
    // ...and infrastructure only shares src/contract.ts with the runtime.
    files: ['lib/**/*.ts', 'bin/app.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+src/(?!contract$)', message: 'lib/ may import only src/contract.ts from the runtime (docs/architecture.md).' }] }],
    },
  },
);
