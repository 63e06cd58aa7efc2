import { createTable } from '../../lib/table.js';
import { playbooks as readPlaybooks } from '../../lib/playbooks.js';

/** `guardian playbooks [--json]`: every mode's detection, steps (activities) and compensations, read from the code. */
export async function playbooks(options: { json?: boolean }): Promise<number> {
  const all = readPlaybooks();
  if (options.json) {
    process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
    return 0;
  }
  for (const p of all) {
    const table = createTable(['step', 'activities', 'undone by']);
    for (const s of p.steps) {
      table.push([
        `${s.name}${s.inspects ? ' (inspects)' : ''}`,
        s.activities.join(', ') || '—',
        s.compensation.join(', ') || '—',
      ]);
    }
    process.stdout.write(
      [
        `${p.mode}  (${p.workflowFile}, ${p.detectorFile})`,
        `  detection:   ${p.detection}`,
        `  remediation: ${p.remediation}`,
        table.toString(),
        '',
      ].join('\n'),
    );
  }
  return 0;
}
