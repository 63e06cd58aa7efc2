import type { Override } from './overrides.js';

/** "3 min", "2 h 5 min": how long an override has been in force. */
export function describeAge(since: number | null, now = Date.now()): string {
  if (since === null) return 'unknown';
  const s = Math.max(0, Math.round((now - since) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** The overrides as `guardian status` prints them: one line each with its age and the command that ends it. */
export function renderOverrides(overrides: readonly Override[], now = Date.now()): string {
  if (overrides.length === 0) return 'No lasting overrides in force.\n';
  return overrides
    .map(
      (o) =>
        `${o.kind}: ${o.mode} ${o.resource}, ${o.detail}, for ${describeAge(o.since, now)}; end it with: ${o.command}\n`,
    )
    .join('');
}
