/** The guarded service's `/guardian/boot` reply (docs/contract.md, section 4). */
export interface BootReport {
  status: 'booting' | 'done';
  startedAt: number;
  durationMs: number | null;
  skipList: string[];
  deferList: string[];
  chunks: {
    name: string;
    critical: boolean;
    deferrable: boolean;
    budgetMs: number;
    state: 'pending' | 'running' | 'done' | 'skipped' | 'deferred' | 'failed';
    background: boolean;
    startedAt?: number;
    durationMs?: number;
  }[];
}

/** GET /guardian/boot of the service `name` on `port`: its boot chunks and their states. */
export async function fetchBootReport(name: string, port: number | undefined, timeoutMs: number): Promise<BootReport> {
  if (port === undefined) throw new Error(`${name} has no known port (is it running?)`);
  const res = await fetch(`http://127.0.0.1:${port}/guardian/boot`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${name} answered ${res.status} on /guardian/boot`);
  return (await res.json()) as BootReport;
}
