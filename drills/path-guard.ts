import { resolve, sep } from 'node:path';
import type { GuardianConfig } from '../lib/config/load.js';
import { realPath } from '../lib/real-path.js';

/** Which Guardian a drill acts on: the one `guardian up` runs, or one the drill starts for itself. */
export type DrillTarget = 'running' | 'isolated';

/** Thrown when a drill would damage a path outside the state directory of the Guardian it acts on; nothing was injected. */
export class DrillOutsideStateError extends Error {
  constructor(
    readonly stateDir: string,
    readonly outside: readonly { key: string; path: string }[],
    readonly target: DrillTarget = 'isolated',
  ) {
    super(
      `refusing to drill: it would damage paths outside the state directory ${stateDir} of ` +
        (target === 'running' ? 'the running Guardian it acts on' : "the drill's own Guardian") +
        ':\n' +
        outside.map((o) => `  - ${o.key}: ${o.path}`).join('\n') +
        "\nDrills corrupt databases, delete configs and fill disks for real. Run them with the demo's guardian.yaml, " +
        'or one whose paths use ${GRACE_HOME} (an isolated drill points it into its state directory)' +
        (target === 'running' ? '; or run `guardian drill --isolated` to leave the running Guardian alone.' : '.'),
    );
    this.name = 'DrillOutsideStateError';
  }
}

/** Every path a drill injects faults into, or the Guardian it starts may change, by key. */
export function drillDamagePaths(config: GuardianConfig): { key: string; path: string }[] {
  const disk = config.disk;
  return [
    ...config.databases.map((d, i) => ({ key: `databases[${i}].path`, path: d.path })),
    ...config.configs.map((c, i) => ({ key: `configs[${i}].path`, path: c.path })),
    ...(config.service?.log ? [{ key: 'service.log', path: config.service.log }] : []),
    // The disk-full drill mounts a small filesystem over the demo's home.
    ...(config.service?.env.GRACE_HOME
      ? [{ key: 'service.env.GRACE_HOME', path: resolve(config.baseDir, config.service.env.GRACE_HOME) }]
      : []),
    ...(config.service?.clientConfigs ?? []).map((c, i) => ({ key: `service.clientConfigs[${i}].path`, path: c.path })),
    ...(disk
      ? (['logs', 'snapshots', 'temp', 'artifacts'] as const).flatMap((kind) =>
          disk[kind].dirs.map((path, i) => ({ key: `disk.${kind}.dirs[${i}]`, path })),
        )
      : []),
    ...(disk?.secondary ? [{ key: 'disk.secondary', path: disk.secondary }] : []),
  ];
}

/**
 * Refuses (throws {@link DrillOutsideStateError}) unless every path the drill would damage lies
 * under the state directory of the Guardian it acts on (`config.stateDir`: the drill's own, or
 * that of the running Guardian whose guardian.yaml this is), symbolic links resolved.
 */
export function assertDrillPathsInside(config: GuardianConfig, target: DrillTarget = 'isolated'): void {
  const root = realPath(config.stateDir);
  const outside = drillDamagePaths(config).filter(({ path }) => !realPath(path).startsWith(root + sep));
  if (outside.length > 0) throw new DrillOutsideStateError(config.stateDir, outside, target);
}
