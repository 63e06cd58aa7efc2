// ESLint flat config: type-aware rules for the TypeScript sources. Workflows import no Node built-in and
// no host-side package, and only types from Guardian's other folders (lib/modes.js and lib/failures.js,
// pure data, excepted).
import { builtinModules } from 'node:module';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Every Node built-in, as `fs` and as `node:fs`. */
const nodeBuiltins = [...new Set(builtinModules.flatMap((m) => (m.startsWith('node:') ? [m] : [m, `node:${m}`])))];
/** Modules that exist only with the prefix (node:test, node:sqlite …), which builtinModules leaves out. */
const nodePrefixOnly = `^node:(?!(${builtinModules.join('|')})$)`;

const deterministic = 'Workflow code must be deterministic: do this in an activity.';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      '.guardian/',
      '.temporal/',
      'examples/',
      'bin/',
      'scripts/',
      'eslint.config.js',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.object.name='ApplicationFailure'][callee.property.name=/^(nonRetryable|retryable)$/] > Literal:nth-child(2)",
          message: 'Name the failure type from FailureType (lib/failures.ts), the one list of failure types.',
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts', 'test/fixtures/*workflows.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins,
            'better-sqlite3',
            'execa',
            'systeminformation',
            '@temporalio/activity',
            '@temporalio/client',
            '@temporalio/worker',
          ].map((name) => ({ name, message: deterministic })),
          patterns: [
            { regex: nodePrefixOnly, message: deterministic },
            {
              regex: '^\\.\\.?/(.*/)?(activities|detectors|workers|cli|drills|bench)/',
              allowTypeImports: true,
              message: `${deterministic} Workflows import only types from here (import type …).`,
            },
            {
              regex: '^\\.\\.?/(.*/)?lib/(?!(modes|failures)\\.js$)',
              allowTypeImports: true,
              message: `${deterministic} Workflows import only types from lib/ (import type …); lib/modes.js and lib/failures.js are pure data and the exceptions.`,
            },
          ],
        },
      ],
    },
  },
);
