import type { GuardianConfig } from '../../lib/config/load.js';
import type { ServiceHealth } from '../../lib/service-control.js';
import type { Mode } from '../../workflows/definitions.js';

/** How a chaos agent starts: a fresh environment, or a recovery after the one before was killed. */
export interface AgentStart {
  readonly type: 'start';
  readonly mode: Mode;
  /** The drill config before the mode's drill configured it. */
  readonly config: GuardianConfig;
  /** A fresh start closes leftovers and runs the drill's prepare; a recovery only starts Guardian. */
  readonly fresh: boolean;
  /** The config a fresh agent of this mode ended up with (a recovery reuses it instead of configuring again). */
  readonly configured?: GuardianConfig;
}

/** Requests the runner sends an agent that is ready. */
export type AgentRequest =
  | AgentStart
  | { readonly type: 'inject'; readonly run: number }
  | { readonly type: 'cleanup' }
  | { readonly type: 'health' }
  | { readonly type: 'release'; readonly resource: string }
  | { readonly type: 'stop' };

/** What an injection left for the checks: the resource, and a fingerprint of data taken in the fault's own tick. */
export interface InjectedFault {
  readonly resource: string;
  readonly injectedAt: number;
  readonly variant: string;
  /** sha256 of each file the fault left behind, taken before Guardian could act (path → hash). */
  readonly kept: Record<string, string>;
  /** Processes the drill started that Guardian must never signal. */
  readonly foreignPids: number[];
}

/** Replies of an agent. */
export type AgentReply =
  | { readonly type: 'ready'; readonly config: GuardianConfig; readonly pid: number }
  | ({ readonly type: 'injected' } & InjectedFault)
  | { readonly type: 'cleaned' }
  | { readonly type: 'health'; readonly health?: ServiceHealth; readonly error?: string }
  | { readonly type: 'released'; readonly released: boolean }
  | { readonly type: 'stopped' }
  | { readonly type: 'error'; readonly message: string };
