import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

/** Where recorded incident histories live; test/replay.test.ts replays every one. */
export const HISTORIES_DIR = new URL('../histories/', import.meta.url).pathname;

/**
 * With GUARDIAN_RECORD_HISTORIES=1, writes the handle's history under test/histories/ as
 * `<name>.json`. Run a test file that way to refresh the recordings after a deliberate change.
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.GUARDIAN_RECORD_HISTORIES !== '1') return;
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToJSON(await handle.fetchHistory()));
}
