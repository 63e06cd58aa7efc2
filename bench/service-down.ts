// Total MTTR of service-down on the demo service: a crash (SIGKILL) and a hang (SIGSTOP), with
// the service's own start time (restart step begun → health answering) beside it.
// Usage: node --import tsx bench/service-down.ts [--repeat 10] [--variants SIGKILL,hang] [--keep]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { drillConfig } from '../drills/config.js';
import { runDrills } from '../drills/runner.js';
import { injectServiceDown, serviceDownDrill, type ServiceDownVariant } from '../drills/service-down.js';
import { Ledger } from '../lib/ledger.js';
import { machineLine } from '../lib/machine.js';
import { median, percentile } from '../lib/stats.js';
import type { StepStatus } from '../workflows/definitions.js';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '10' },
    variants: { type: 'string', default: 'SIGKILL,hang' },
    keep: { type: 'boolean', default: false },
  },
});
const repeat = Number(values.repeat);

/** The service's own start in one incident: from the restart step's start until it was ready. */
function startMs(steps: readonly StepStatus[]): number | undefined {
  const restart = steps.find((s) => s.name === 'restart');
  const ready = steps.find((s) => s.name === 'wait-ready');
  return restart && ready?.endedAt !== undefined ? ready.endedAt - restart.startedAt : undefined;
}

const fmt = (v: number | undefined) => (v === undefined ? '—' : `${Math.round(v)} ms`);

console.log(machineLine());
for (const variant of values.variants.split(',') as ServiceDownVariant[]) {
  const stateDir = mkdtempSync(join(tmpdir(), 'guardian-bench-'));
  try {
    const config = await drillConfig('guardian.yaml', { stateDir, hostSuffix: 'bench' });
    const liveness = config.service?.liveness;
    const report = await runDrills(
      config,
      [{ ...serviceDownDrill, inject: (env) => injectServiceDown(env, variant) }],
      {
        repeat,
        onProgress: (line) => process.stderr.write(`${line}\n`),
      },
    );
    const ledger = new Ledger(join(stateDir, 'ledger.db'));
    const incidents = ledger
      .incidents({ mode: 'service-down', limit: repeat * 4 })
      .filter((r) => r.outcome === 'healed');
    ledger.close();
    const starts = incidents.map((r) => startMs(r.steps as StepStatus[])).filter((v): v is number => v !== undefined);
    const totals = report.runs.filter((r) => r.totalMs !== undefined).map((r) => r.totalMs ?? 0);
    const detects = report.runs.filter((r) => r.detectMs !== undefined).map((r) => r.detectMs ?? 0);
    const startP95 = percentile(starts, 95) ?? 0;
    // Liveness detection counted as Kubernetes' "~31 s to notice" is (period 10 s × threshold 3 +
    // timeout 1 s): a probe sent just before the hang began is still answered, so the first failure
    // can end up to a period later. The stricter period × threshold is printed beside it.
    const strict = variant === 'hang' && liveness ? liveness.period * liveness.threshold : 0;
    const detection = variant === 'hang' && liveness ? strict + liveness.timeout : 0;
    const target = detection + 1000 + startP95;
    const p95 = percentile(totals, 95);
    console.log(
      `service-down ${variant}: runs ${report.runs.length} healed ${totals.length}; ` +
        `total MTTR median ${fmt(median(totals))} p95 ${fmt(p95)}; detect median ${fmt(median(detects))}; ` +
        `service start median ${fmt(median(starts))} p95 ${fmt(startP95)}; ` +
        `target p95 ≤ ${detection ? `${detection} ms detection + ` : ''}1000 ms + start = ${fmt(target)}: ` +
        (p95 !== undefined && p95 <= target && totals.length === report.runs.length ? 'MET' : 'MISSED') +
        (strict
          ? `; against period × threshold alone (${fmt(strict + 1000 + startP95)}): ${p95 !== undefined && p95 <= strict + 1000 + startP95 ? 'met' : 'missed'}`
          : ''),
    );
  } finally {
    if (values.keep) console.log(`state kept in ${stateDir}`);
    else rmSync(stateDir, { recursive: true, force: true });
  }
}
