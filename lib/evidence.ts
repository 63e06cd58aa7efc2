import { basename } from 'node:path';
import type { Evidence, Finding } from './modes.js';
import { excerpt, redact } from './redact.js';

export type { Evidence };

/** Longest excerpt of outside text kept in evidence. */
export const EXCERPT_CHARS = 80;

/**
 * Evidence from a line of the guarded service's log: the code and resource the detector read from
 * it, where it was (file, line number), and a short redacted excerpt — never the raw line.
 */
export function logEvidence(
  line: { text: string; json?: Record<string, unknown>; file?: string; lineNumber?: number },
  fields: { code?: string; database?: string } = {},
): Evidence {
  // A JSON line's message says it; its other fields are structure, read by the detector.
  const said = typeof line.json?.msg === 'string' ? line.json.msg : line.text;
  return {
    source: 'service log',
    ...(fields.code ? { code: safeToken(fields.code) } : {}),
    ...(fields.database ? { database: fields.database } : {}),
    ...(line.file ? { file: line.file } : {}),
    ...(line.lineNumber === undefined ? {} : { line: line.lineNumber }),
    excerpt: excerpt(said, EXCERPT_CHARS),
  };
}

/** One line for people: `service log: SQLITE_CORRUPT (world_model) "…" at grace.log:42`. */
export function describeEvidence(evidence: Evidence): string {
  const where = evidence.file
    ? ` at ${basename(evidence.file)}${evidence.line === undefined ? '' : `:${evidence.line}`}`
    : '';
  const what = [evidence.code, evidence.database && `(${evidence.database})`].filter(Boolean).join(' ');
  const quote = evidence.excerpt ? ` "${evidence.excerpt}"` : '';
  return `${evidence.source}: ${what || 'reported'}${quote}${where}`;
}

/**
 * A finding as it may be recorded: its evidence text redacted and cut, its structured evidence
 * (if any) with a redacted excerpt. Every finding passes through this before it starts a workflow,
 * is logged or is written to the ledger.
 */
export function sanitizeFinding<F extends Finding>(finding: F): F {
  const details = finding.details && {
    ...finding.details,
    ...(finding.details.excerpt === undefined ? {} : { excerpt: excerpt(finding.details.excerpt, EXCERPT_CHARS) }),
    ...(finding.details.code === undefined ? {} : { code: safeToken(finding.details.code) }),
  };
  return {
    ...finding,
    evidence: excerpt(redact(finding.evidence), 300),
    ...(details ? { details } : {}),
  };
}

/** An error code as read from outside text: letters, digits and `_` only, at most 40. */
function safeToken(code: string): string {
  return code.replace(/[^A-Za-z0-9_]/g, '').slice(0, 40) || 'UNKNOWN';
}
