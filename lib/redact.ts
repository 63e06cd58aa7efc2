import { basename } from 'node:path';

/** What replaces a secret in text Guardian records. */
export const REDACTED = '***';

/** Values Guardian knows are secret (credentials it read, its tokens): removed wherever they appear. */
const knownSecrets = new Set<string>();

/**
 * Registers a secret value so {@link redact} removes it from any text, whatever its shape.
 * Values shorter than 6 characters are ignored: removing them would garble ordinary words.
 */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) knownSecrets.add(value);
}

const SECRET_WORD = String.raw`(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth(?:orization)?|cookie|signature)`;

/** Rules in the order they apply; each keeps what names the secret and replaces its value. */
const RULES: readonly { pattern: RegExp; replace: string }[] = [
  // PEM blocks: everything between the markers.
  {
    pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
    replace: `-----BEGIN PRIVATE KEY-----${REDACTED}`,
  },
  // URLs with credentials: scheme://user:password@host, scheme://token@host.
  { pattern: /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+(?::[^\s/@]*)?@/gi, replace: `$1${REDACTED}@` },
  // Authorization schemes: Bearer, Basic, Token, Digest.
  { pattern: /\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]{4,}/g, replace: `$1 ${REDACTED}` },
  // key=value, key: value, "key": "value", --key value (quoted or not).
  {
    pattern: new RegExp(
      String.raw`(["']?[A-Za-z0-9_.-]*${SECRET_WORD}[A-Za-z0-9_.-]*["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&)}\]]+)`,
      'gi',
    ),
    replace: `$1${REDACTED}`,
  },
  {
    pattern: new RegExp(String.raw`(?<![\w-])(--?[A-Za-z0-9_-]*${SECRET_WORD}[A-Za-z0-9_-]*\s+)(?!-)\S+`, 'gi'),
    replace: `$1${REDACTED}`,
  },
  // Well-known token shapes: JWTs, OpenAI/Stripe-style, GitHub, Slack, AWS access keys, Google API keys.
  { pattern: /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, replace: REDACTED },
  { pattern: /\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}/g, replace: REDACTED },
  { pattern: /\b(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}/g, replace: REDACTED },
  { pattern: /\bxox[abposr]-[A-Za-z0-9-]{8,}/g, replace: REDACTED },
  { pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, replace: REDACTED },
  { pattern: /\bAIza[0-9A-Za-z_-]{30,}/g, replace: REDACTED },
  // Long opaque strings (32+ letters and digits mixed, no separators): keys, not words or paths.
  { pattern: /\b(?=[A-Za-z0-9+_]*\d)(?=[A-Za-z0-9+_]*[A-Za-z])[A-Za-z0-9+_]{32,}={0,2}/g, replace: REDACTED },
];

/**
 * Removes secrets from free text before Guardian records it anywhere (evidence, logs, alerts):
 * registered secret values, tokens, keys, bearer strings, URLs with credentials and key=value
 * secrets. The one redactor every piece of outside text goes through.
 */
export function redact(text: string): string {
  let out = text;
  for (const secret of knownSecrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  for (const { pattern, replace } of RULES) out = out.replace(pattern, replace);
  return out;
}

/**
 * A short, redacted, single-line excerpt of outside text: control characters and runs of
 * whitespace become one space, secrets are removed (before cutting, so a cut cannot expose part
 * of one), then it is cut to `max` characters.
 * @default max 80
 */
export function excerpt(text: string, max = 80): string {
  const line = redact(text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ')).trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * A command line as Guardian records it: the program's base name and its arguments, values of
 * arguments that look secret removed, through {@link redact}, cut to `max` characters. The one
 * describer of every command line in evidence, alerts, logs and activity results.
 * @default max 100
 */
export function describeCommand(argv: readonly string[], max = 100): string {
  if (argv.length === 0) return 'unknown command';
  const [program = '', ...args] = argv;
  return excerpt([basename(program), ...args].join(' '), max) || 'unknown command';
}
