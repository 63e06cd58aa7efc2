import { workflowInfo } from '@temporalio/workflow';

/** How a poll ended: the watched thing is back, the deadline came, or this run used its rounds. */
export type PollEnd = 'succeeded' | 'expired' | 'continue';

/** One watch's polling: what to wait for between rounds, what a round is, when to give up. */
export interface Poll {
  /** Rounds this run may make before the watch continues as new. */
  readonly rounds: number;
  /** Checked before each wait: true when waiting for one more round would pass the deadline. */
  expired(): boolean;
  /** The wait before a round: a durable timer, or a condition with a timeout. */
  wait(): Promise<unknown>;
  /** One round (an activity); true when the watched thing is back. */
  attempt(): Promise<boolean>;
}

/**
 * The durable polling loop of the watch workflows: wait, try, repeat until a round succeeds, the
 * deadline would pass, or the run has made its rounds (or the server suggests continue-as-new),
 * in which case the caller continues as new with its counts.
 */
export async function pollUntil(poll: Poll): Promise<PollEnd> {
  for (let i = 0; i < poll.rounds && !workflowInfo().continueAsNewSuggested; i++) {
    if (poll.expired()) return 'expired';
    await poll.wait();
    if (await poll.attempt()) return 'succeeded';
  }
  return 'continue';
}
