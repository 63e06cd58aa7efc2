import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const root = new URL('../', import.meta.url).pathname;

/** Guardian's workflows entry point. */
export const WORKFLOWS_PATH = join(root, 'workflows/index.ts');

const quiet = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
};

/** Hash of every workflow source the bundle can contain (workflows/ and the given entry's folder). */
function sourceHash(workflowsPath: string): string {
  const hash = createHash('sha256').update(workflowsPath);
  for (const dir of new Set([join(root, 'workflows'), dirname(workflowsPath)])) {
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.ts')) hash.update(name).update(readFileSync(join(dir, name)));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * The workflow bundle for `workflowsPath`, built with the SDK's bundler once per source content
 * and cached under node_modules/.cache/guardian: starting a worker then skips seconds of webpack.
 */
export async function workflowBundle(workflowsPath = WORKFLOWS_PATH): Promise<{ code: string }> {
  const cacheDir = join(root, 'node_modules/.cache/guardian');
  const file = join(cacheDir, `workflows-${sourceHash(workflowsPath)}.js`);
  try {
    return { code: readFileSync(file, 'utf8') };
  } catch {
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: quiet });
    mkdirSync(cacheDir, { recursive: true });
    // Write then rename, so a concurrent reader never sees half a bundle.
    writeFileSync(`${file}.${process.pid}`, bundle.code);
    renameSync(`${file}.${process.pid}`, file);
    return { code: bundle.code };
  }
}
