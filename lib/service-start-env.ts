import type { BootOverride } from './process-registry.js';
import type { ServiceSettings } from './service-adoption.js';

/** What one start of the guarded service is told through its environment. */
export interface StartEnvInput {
  readonly settings: ServiceSettings;
  /** The boot chunks the registry says to skip or defer. */
  readonly bootOverrides: readonly BootOverride[];
  /** guardian.yaml's `modelServer.url`, passed on as `OLLAMA_HOST` unless the service sets its own. */
  readonly modelUrl: string | undefined;
  /** Extra variables Guardian set for the next starts (e.g. OFFLINE_MODE). */
  readonly extra: Readonly<Record<string, string>>;
  readonly port: number;
  readonly token: string;
}

/** The environment of one start: the port, the control token and the boot chunks to skip or defer. */
export function serviceStartEnv({
  settings,
  bootOverrides,
  modelUrl,
  extra,
  port,
  token,
}: StartEnvInput): Record<string, string> {
  const list = (kind: 'skip' | 'defer', variable: string) => {
    const names = new Set((settings.env[variable] ?? '').split(',').filter(Boolean));
    for (const o of bootOverrides) if (o.kind === kind) names.add(o.chunk);
    return [...names].join(',');
  };
  return {
    ...(modelUrl && settings.env.OLLAMA_HOST === undefined ? { OLLAMA_HOST: modelUrl.replace(/\/+$/, '') } : {}),
    ...extra,
    PORT: String(port),
    GUARDIAN_CONTROL_TOKEN: token,
    GUARDIAN_SKIP_CHUNKS: list('skip', 'GUARDIAN_SKIP_CHUNKS'),
    GUARDIAN_DEFER_CHUNKS: list('defer', 'GUARDIAN_DEFER_CHUNKS'),
  };
}
