/** One problem found in a configuration file. */
export interface ConfigProblem {
  /** Dotted key path, e.g. `databases[0].path`. */
  readonly key: string;
  readonly message: string;
  /** What a right value looks like, when known. */
  readonly example?: string;
}

/** Thrown when guardian.yaml cannot be read, parsed or validated; nothing is started. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(
      `${file} is not valid:\n` +
        problems
          .map((p) => `  - ${p.key || '(top level)'}: ${p.message}${p.example ? ` (for example: ${p.example})` : ''}`)
          .join('\n') +
        `\nFix the file and run \`guardian check-config ${file}\` again.`,
    );
    this.name = 'ConfigError';
  }
}

/** Thrown when a CLI argument is malformed or names something that does not exist. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Thrown when a path would leave the directory Guardian is allowed to change. */
export class UnsafePathError extends Error {
  constructor(
    readonly path: string,
    readonly root: string,
  ) {
    super(`refusing to touch ${path}: it is outside the configured directory ${root}`);
    this.name = 'UnsafePathError';
  }
}

/** Thrown when the Temporal server cannot be reached. */
export class TemporalUnreachableError extends Error {
  constructor(
    readonly address: string,
    cause: unknown,
  ) {
    super(
      `cannot reach Temporal at ${address}: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        'Start the dev server with `./temporal-dev.sh start`, or set TEMPORAL_ADDRESS.',
    );
    this.name = 'TemporalUnreachableError';
  }
}

/** Thrown when another live process holds a lock file (for instance a drill already running). */
export class LockHeldError extends Error {
  constructor(
    readonly path: string,
    readonly pid: number,
  ) {
    super(
      `another process (pid ${pid}) holds ${path}; wait for it to finish, or remove the file if that process is gone`,
    );
    this.name = 'LockHeldError';
  }
}

/** Thrown when the port a start needs is taken; nothing was started. */
export class PortBusyError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} is already in use`);
    this.name = 'PortBusyError';
  }
}
