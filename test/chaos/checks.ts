import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Client, WorkflowExecutionDescription, WorkflowExecutionInfo } from '@temporalio/client';
import type { GuardianConfig } from '../../lib/config/load.js';
import type { ServiceHealth } from '../../lib/service-control.js';
import type { IncidentResult } from '../../workflows/definitions.js';

/** An alert as the alert log records it. */
export interface LoggedAlert {
  readonly at: number;
  readonly workflowId?: string;
  readonly severity: string;
  readonly message: string;
}

/** The alerts Guardian logged for one workflow since `since`. */
export function alertsFor(config: GuardianConfig, workflowId: string, since: number): LoggedAlert[] {
  const file = config.alerts.file;
  if (!file) return [];
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LoggedAlert];
      } catch {
        return [];
      }
    })
    .filter((a) => a.workflowId === workflowId && a.at >= since);
}

/** One workflow run started during a case, as the checks see it. */
export interface CaseRun {
  readonly info: WorkflowExecutionDescription;
  readonly closed: boolean;
  readonly workflowTaskFailures: number;
  readonly result?: IncidentResult;
}

/** Workflow runs on the chaos task queue that started at or after `since` (warm-ups excepted). */
export async function runsSince(client: Client, taskQueue: string, since: number): Promise<WorkflowExecutionInfo[]> {
  const query = `TaskQueue = "${taskQueue}" AND StartTime >= "${new Date(since).toISOString()}"`;
  const found: WorkflowExecutionInfo[] = [];
  for await (const wf of client.workflow.list({ query })) if (wf.type !== 'guardianWarmUp') found.push(wf);
  return found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
}

/**
 * WorkflowTaskFailedCause UNHANDLED_COMMAND: the server refused a completion because an event (a
 * signal, a finding joining) arrived while the task ran, and the worker runs the task again with
 * it. That is Temporal's normal handling of a race, not a failure of the workflow's code.
 */
const UNHANDLED_COMMAND = 1;

/** A run's closing state, its workflow-task failures and (when it completed) its result. */
export async function inspectRun(client: Client, info: WorkflowExecutionInfo): Promise<CaseRun> {
  const handle = client.workflow.getHandle(info.workflowId, info.runId);
  const described = await handle.describe();
  const closed = described.status.name !== 'RUNNING';
  const history = await handle.fetchHistory();
  const workflowTaskFailures = (history.events ?? []).filter(
    (e) => e.workflowTaskFailedEventAttributes && e.workflowTaskFailedEventAttributes.cause !== UNHANDLED_COMMAND,
  ).length;
  let result: IncidentResult | undefined;
  if (described.status.name === 'COMPLETED')
    result = (await handle.result().catch(() => undefined)) as IncidentResult | undefined;
  return { info: described, closed, workflowTaskFailures, ...(result ? { result } : {}) };
}

/** Health counts as up when ok, or degraded with an alert that names a `guardian` command to leave that state. */
export function serviceUp(health: ServiceHealth | undefined, alerts: readonly LoggedAlert[]): boolean {
  if (health?.status === 'ok') return true;
  if (health?.status === 'degraded') return alerts.some((a) => /\bguardian [a-z]+/.test(a.message));
  return false;
}

/** Whether each pid still runs. */
export function alive(pids: readonly number[]): boolean {
  return pids.every((pid) => {
    try {
      process.kill(pid, 0);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    } catch {
      return false;
    }
  });
}

/** Regular files under `dir` (no symlinks followed). */
function walk(dir: string, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Which of the fingerprinted files are nowhere to be found: not at their path with the same bytes,
 * not as a byte-identical copy under `roots` (quarantine, trash, secondary storage), not as a gzip
 * of it, and (when `manifestsCount`) not named in a manifest under `roots`.
 */
export function missingFiles(
  kept: Record<string, string>,
  roots: readonly string[],
  options: { manifestsCount: boolean },
): string[] {
  const wanted = new Set(Object.values(kept));
  const found = new Set<string>();
  const manifests: string[] = [];
  for (const path of new Set(roots.flatMap((r) => walk(r)).concat(Object.keys(kept)))) {
    let data: Buffer;
    try {
      if (statSync(path).size > 256 * 1048576) continue;
      data = readFileSync(path);
    } catch {
      continue;
    }
    const hash = sha256(data);
    if (wanted.has(hash)) found.add(hash);
    if (path.endsWith('.gz')) {
      try {
        const plain = sha256(gunzipSync(data));
        if (wanted.has(plain)) found.add(plain);
      } catch {
        // Not a whole gzip (a compression cut short): it holds nothing.
      }
    }
    if (options.manifestsCount && /\.(json|jsonl)$/.test(path) && data.length < 64 * 1048576)
      manifests.push(data.toString('utf8'));
  }
  const text = manifests.join('\n');
  return Object.entries(kept)
    .filter(([path, hash]) => !found.has(hash) && !(options.manifestsCount && text.includes(JSON.stringify(path))))
    .map(([path]) => path);
}
