// Installs what a fresh clone lacks (npm packages, the Temporal CLI) before `npm start` / `npm test`.
// Plain Node with no dependencies, so it runs before `npm install` has.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`bootstrap: \`${command} ${args.join(' ')}\` failed (exit ${result.status}).\n`);
    process.exit(result.status ?? 1);
  }
}

/** npm packages, the Temporal CLI, and (when asked) a running dev server. */
export function bootstrap({ devServer = false } = {}) {
  if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
    process.stderr.write('bootstrap: installing npm packages (npm ci)…\n');
    run('npm', ['ci', '--no-audit', '--no-fund']);
  }
  run('bash', [join(root, 'temporal-dev.sh'), devServer ? 'start' : 'install']);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) bootstrap({ devServer: process.argv.includes('--dev-server') });
