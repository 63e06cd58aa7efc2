// `npm test`: installs what is missing, starts the dev server unless TEMPORAL_ADDRESS is set,
// then runs every test file under test/ with Node's test runner (TypeScript through tsx).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
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
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, GUARDIAN_LOG_LEVEL: process.env.GUARDIAN_LOG_LEVEL ?? 'error' },
  },
);
process.exit(result.status ?? 1);
