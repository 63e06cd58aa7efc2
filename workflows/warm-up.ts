/**
 * Runs once when Guardian starts, so the worker loads its workflow code before the first
 * incident needs it: the first real remediation then pays no start-up cost.
 */
export async function guardianWarmUp(): Promise<string> {
  return 'ready';
}
