// `npm run bench`: every benchmark in turn; each prints its figures and the machine, and the
// output is also written to bench/results/<name>.txt (what the README quotes).
// Usage: npm run bench [-- name …]   names: drill, database-corruption, overhead, scale
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../', import.meta.url).pathname;
const tsx = ['--import', 'tsx'];
const benches: Record<string, string[]> = {
  drill: [
    join(root, 'bin/guardian.js'),
    'drill',
    'all',
    '--repeat',
    '20',
    '--report',
    join(root, 'bench/results/drill'),
  ],
  'database-corruption': [...tsx, join(root, 'bench/database-corruption.ts'), '--repeat', '10'],
  overhead: [...tsx, join(root, 'bench/overhead.ts'), '--runs', '30'],
  scale: [...tsx, join(root, 'bench/scale.ts'), '--databases', '1000', '--seconds', '60', '--corrupt', '100'],
};

const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) {
  const args = benches[name];
  if (!args) {
    console.error(`unknown benchmark "${name}"; one of: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n=== ${name} ===`);
  const result = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, GUARDIAN_LOG_LEVEL: 'error' },
  });
  process.stdout.write(result.stdout);
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results', `${name}.txt`), result.stdout);
  if (result.status !== 0) console.error(`${name} exited with ${result.status}`);
}
