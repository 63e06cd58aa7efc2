import { ApplicationFailure } from '@temporalio/common';

/**
 * The failure types Guardian's activities and workflows throw: the second argument of
 * `ApplicationFailure.nonRetryable`, and what tests and the history show as the failure's type.
 * Each is a fault retries cannot fix. Pure data (and the constructors below, over
 * `@temporalio/common`), so workflows may import it.
 */
export const FailureType = {
  /** guardian.yaml declares no supervised service, yet a step needs one. */
  NoService: 'NoService',
  /** guardian.yaml declares no egress endpoints, yet a step needs the proxy. */
  NoEgress: 'NoEgress',
  /** guardian.yaml declares no model server, yet a step needs one. */
  NoModelServer: 'NoModelServer',
  /** guardian.yaml declares no network probes, yet a step probes. */
  NoProbes: 'NoProbes',
  /** guardian.yaml has no `disk:` section, yet a disk step runs. */
  NoDiskSection: 'NoDiskSection',
  /** A step names a database guardian.yaml does not declare. */
  UnknownDatabase: 'UnknownDatabase',
  /** A step names a config guardian.yaml does not declare. */
  UnknownConfig: 'UnknownConfig',
  /** A step names an egress endpoint guardian.yaml does not declare. */
  UnknownEndpoint: 'UnknownEndpoint',
  /** A database file is open in another process, so it is not replaced. */
  DatabaseInUse: 'DatabaseInUse',
  /** A database stays locked by a process Guardian did not start. */
  ForeignLockHolder: 'ForeignLockHolder',
  /** No verified backup of a database exists. */
  NoBackup: 'NoBackup',
  /** A backup changed between being chosen and being restored. */
  BackupChanged: 'BackupChanged',
  /** A quarantine manifest is missing, so the originals cannot be verified. */
  ManifestMissing: 'ManifestMissing',
  /**
   * A damaged database's -wal/-shm/-journal, moved aside by a restore that did not reach its commit
   * point, stay in the quarantine: a process holds the database open, or another file stands in their place.
   */
  CompanionsDisplaced: 'CompanionsDisplaced',
  /** A database was written since the heal; a rollback would lose those writes (unless forced). */
  DatabaseChangedSinceHeal: 'DatabaseChangedSinceHeal',
  /** No valid saved version and no defaults of a config exist. */
  NoConfigBackup: 'NoConfigBackup',
  /** A config's declared defaults fail its schema. */
  InvalidDefaults: 'InvalidDefaults',
  /** A config path is a socket, FIFO or device. */
  UnsafeConfigPath: 'UnsafeConfigPath',
  /** A config became valid (someone saved it) after it was found broken; it is left as it is. */
  ConfigValidNow: 'ConfigValidNow',
  /** The service answered its reload hook with an error for the restored config. */
  ServiceRejectedConfig: 'ServiceRejectedConfig',
  /** The service refused to skip or defer a boot chunk. */
  ChunkOverrideRefused: 'ChunkOverrideRefused',
  /** A critical boot chunk is slow; Guardian never skips one. */
  CriticalChunkSlow: 'CriticalChunkSlow',
  /** A process holding a port is not a stale one Guardian started. */
  NotOwnProcess: 'NotOwnProcess',
  /** A hung process was not started by Guardian, so it is not signalled. */
  NotGuardiansProcess: 'NotGuardiansProcess',
  /** A process survived SIGKILL. */
  Unkillable: 'Unkillable',
  /** The restarted service, or the model server Guardian started, exited before it was ready. */
  ExitedWhileStarting: 'ExitedWhileStarting',
  /** The restarted service was not ready within its timeout. */
  NotReady: 'NotReady',
  /** The restart budget of the service or the model server is used up. */
  RestartBudgetExhausted: 'RestartBudgetExhausted',
  /** The service could not restart because its port is taken (port-in-use takes over). */
  PortBusy: 'PortBusy',
  /** A port is taken by another process. */
  PortTaken: 'PortTaken',
  /** Every port of the service's range is taken. */
  PortRangeExhausted: 'PortRangeExhausted',
  /** A mode leaves no lasting override to clear. */
  NothingToClear: 'NothingToClear',
  /** The service's preferred port is still taken, so its override stays. */
  PreferredPortTaken: 'PreferredPortTaken',
  /** The model server's command is not installed. */
  ModelServerMissing: 'ModelServerMissing',
  /** The model server's port is held by a process that is not the model server. */
  ModelServerPortTaken: 'ModelServerPortTaken',
  /** Memory or disk is still short after every step. */
  StillShort: 'StillShort',
  /** Files deleted without a trash copy cannot be restored by a rollback. */
  CannotUndoDeletion: 'CannotUndoDeletion',
  /** Compressed logs are missing, so a rollback cannot decompress them. */
  CannotUndoCompression: 'CannotUndoCompression',
  /** Moved artifacts are no longer on secondary storage, so a rollback cannot return them. */
  CannotReturnArtifacts: 'CannotReturnArtifacts',
  /** The network stayed unreachable for the whole watch. */
  StillOffline: 'StillOffline',
  /** An endpoint kept failing for the whole circuit watch. */
  StillFailing: 'StillFailing',
  /** An endpoint still refuses its credential after renewal. */
  StillRefused: 'StillRefused',
  /** A credential's value cannot be read. */
  CredentialUnavailable: 'CredentialUnavailable',
  /** An endpoint refuses the credential on a test call. */
  CredentialRefused: 'CredentialRefused',
  /** A remediation ended without a verify step (a bug in the workflow). */
  HarnessMisuse: 'HarnessMisuse',
  /** A fault the fault matrix injected on purpose. */
  InjectedFault: 'InjectedFault',
  /** A step the test fixtures' scripted activities fail on purpose. */
  ScriptedFailure: 'ScriptedFailure',
} as const;

/** One failure type name. */
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

// One constructor for each failure type thrown from more than one place, so each has one message.

/** `file` declares no supervised service, yet a step needs one. */
export function noService(file: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${file} declares no service for Guardian to supervise`,
    FailureType.NoService,
  );
}

/** guardian.yaml declares no egress endpoints, yet a step needs the proxy. */
export function noEgress(): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    'guardian.yaml declares no egress endpoints (egress:), so there is no proxy to use',
    FailureType.NoEgress,
  );
}

/**
 * `resource` (memory, or a filesystem) is still short after every step.
 * @example stillShort('/home', '1024 bytes free, 2048 short of the 3072 wanted', 'free space by hand')
 */
export function stillShort(resource: string, state: string, remedy: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${resource} is still short after every step: ${state}; ${remedy}`,
    FailureType.StillShort,
  );
}

/** The manifest `file` of a step is missing, so `unknown` cannot be known; nothing was put back. */
export function manifestMissing(file: string, unknown: string, remedy: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${file} is missing, so ${unknown}; nothing was put back. ${remedy}`,
    FailureType.ManifestMissing,
  );
}

/** The process `what` describes does not answer, but Guardian did not start it, so it was not signalled. */
export function notGuardiansProcess(what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${what}; Guardian did not start that process, so it was not signalled (no registry entry has its PID, start ` +
      'time and command line). Stop it yourself if it is yours to stop.',
    FailureType.NotGuardiansProcess,
  );
}
