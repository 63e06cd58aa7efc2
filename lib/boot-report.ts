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
