import type { GuardianConfig } from '../lib/config/load.js';
import type { Ledger } from '../lib/ledger.js';
import type { Logger } from '../lib/logger.js';
import type { ServiceControl } from '../lib/service-control.js';

/** What activities need from the process they run in. Built once by the worker. */
export interface ActivityDeps {
  readonly config: GuardianConfig;
  readonly ledger: Ledger;
  readonly logger: Logger;
  /** Control hooks of the guarded service; undefined when guardian.yaml declares no service. */
  readonly control?: ServiceControl;
}
