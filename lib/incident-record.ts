/** An incident as the ledger keeps it. */
export interface IncidentRecord {
  workflowId: string;
  runId: string;
  mode: string;
  host: string;
  resource: string;
  evidence: string;
  detectedAt: number;
  injectedAt: number | null;
  healedAt: number | null;
  mttrMs: number | null;
  outcome: string;
  decision: string;
  steps: unknown[];
  summary: string;
  alert: string | null;
  updatedAt: number;
}

/** An incidents row as the ledger returns it. */
export function toRecord(row: Record<string, unknown>): IncidentRecord {
  return {
    workflowId: row.workflow_id as string,
    runId: row.run_id as string,
    mode: row.mode as string,
    host: row.host as string,
    resource: row.resource as string,
    evidence: row.evidence as string,
    detectedAt: row.detected_at as number,
    injectedAt: (row.injected_at as number | null) ?? null,
    healedAt: (row.healed_at as number | null) ?? null,
    mttrMs: (row.mttr_ms as number | null) ?? null,
    outcome: row.outcome as string,
    decision: row.decision as string,
    steps: JSON.parse((row.steps as string) || '[]') as unknown[],
    summary: row.summary as string,
    alert: (row.alert as string | null) ?? null,
    updatedAt: row.updated_at as number,
  };
}
