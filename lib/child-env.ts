/** What a supervised process inherits from Guardian's own environment: nothing else. */
export const BASE_ENV_NAMES = ['PATH', 'HOME', 'LANG', 'TZ'] as const;

/**
 * The whole environment of a supervised process (the service, the model server), allow-listed:
 * the minimal base from Guardian's environment ({@link BASE_ENV_NAMES}), the process's configured
 * `env`, and the contract variables Guardian sets (PORT, GUARDIAN_CONTROL_TOKEN,
 * GUARDIAN_EGRESS_URL …). Guardian's secrets — credentials read from its environment,
 * TEMPORAL_API_KEY and every other TEMPORAL_* setting — never reach it.
 */
export function childEnvironment(
  configured: Readonly<Record<string, string>>,
  contract: Readonly<Record<string, string>> = {},
  parent: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const base: Record<string, string> = {};
  for (const name of BASE_ENV_NAMES) {
    const value = parent[name];
    if (value !== undefined) base[name] = value;
  }
  return { ...base, ...configured, ...contract };
}
