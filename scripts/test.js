// `npm test`: installs what is missing, starts the dev server unless TEMPORAL_ADDRESS is set,
// then runs every test file under test/ with Node's test runner (TypeScript through tsx).
// Arguments, when given, are the test files to run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { bootstrap, root } from './bootstrap.js';

bootstrap({ devServer: !process.env.TEMPORAL_ADDRESS });

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const only = process.argv.slice(2);
const files = (only.length > 0 ? only : find(join(root, 'test'))).map((f) => relative(root, f)).sort();
const tap = join(mkdtempSync(join(tmpdir(), 'guardian-test-')), 'results.tap');
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, GUARDIAN_LOG_LEVEL: process.env.GUARDIAN_LOG_LEVEL ?? 'error' },
  },
);
// One plain closing line with the counts, whatever the reporter printed above.
const summary = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(summary)?.[1] ?? 0);
console.log(`\n${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped`);
process.exit(result.status ?? 1);
