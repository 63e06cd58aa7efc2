import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Context } from '@temporalio/activity';

/** The workflow run and activity a step belongs to, as Temporal names them. */
export interface StepIdentity {
  readonly workflowId: string;
  readonly runId: string;
  /** Kept by a retry and by a re-run after a worker crash: it names the step within its run. */
  readonly activityId: string;
}

/** The step running now, or undefined when called outside an activity (a direct call in a tool or test). */
export function currentStep(): StepIdentity | undefined {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return undefined;
  }
  const run = info.workflowExecution;
  return {
    workflowId: run?.workflowId ?? info.activityId,
    runId: run?.runId ?? info.activityId,
    activityId: info.activityId,
  };
}

/**
 * `<stateDir>/<...area>/<runId>`: where one incident run keeps what a step of `area` needs to
 * survive a crash and to be undone. Outside an activity, `direct` stands in for the run.
 */
export function runDir(stateDir: string, ...area: string[]): string {
  return join(stateDir, ...area, currentStep()?.runId ?? 'direct');
}

/** Flushes a directory, so a file created or renamed in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes JSON so that a crash leaves either the old file or the new one: temp file, fsync, rename, fsync of the directory. */
export async function writeJsonDurable(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.guardian-tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(value ?? null));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

/** A JSON file's value; undefined when there is no such file. Unparsable content is an error naming the file. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${path} is not valid JSON (${(err as Error).message}); Guardian's state there is damaged`);
  }
}

/**
 * The run-scoped state of one step: its journal (what it is about to do, written and fsynced
 * before it acts) and its first result (returned as is when the step runs again). Both live as
 * `<name>.journal.json` and `<name>.json` in `dir`.
 */
export class StepState {
  constructor(
    /** The run's directory for this kind of step. */
    readonly dir: string,
    /** The step's file name stem. */
    readonly name: string,
  ) {}

  /** Where the journal is: what a rollback reads to find everything the step may have touched. */
  get journalPath(): string {
    return join(this.dir, `${this.name}.journal.json`);
  }

  /** Where the first result is. */
  get resultPath(): string {
    return join(this.dir, `${this.name}.json`);
  }

  /** The journal, if the step wrote one. */
  readJournal<J>(): Promise<J | undefined> {
    return readJson<J>(this.journalPath);
  }

  /** Records durably what the step is about to do. Call it before the side effect. */
  journal<J>(entries: J): Promise<void> {
    return writeJsonDurable(this.journalPath, entries);
  }

  /** The result of an earlier run of the step that finished, if any. */
  readResult<R>(): Promise<R | undefined> {
    return readJson<R>(this.resultPath);
  }

  /** Records the step's result durably and returns it. */
  async finish<R>(result: R): Promise<R> {
    await writeJsonDurable(this.resultPath, result);
    return result;
  }
}

/** The state of step `name` of this run under `<stateDir>/<...area>/<runId>`. */
export function stepState(stateDir: string, area: string[], name: string): StepState {
  return new StepState(runDir(stateDir, ...area), name);
}

/** How a journaled step decides, then acts. */
export interface JournaledStep<J, R> {
  /** Decides what to do, without changing anything; its value is journaled before `act` runs. */
  plan(): Promise<J>;
  /**
   * Does what the journal says. `resumed`: an earlier run journaled the same plan and may have done
   * part of it (a crash, a retry), so each action must check whether it is already done.
   */
  act(journal: J, resumed: boolean): Promise<R>;
}

/**
 * Runs a step so that a crash before or after its side effect is safe: a finished step returns its
 * first result; otherwise the plan journaled by an earlier run is reused (or a new one journaled
 * and fsynced), and only then does the step act; its result is recorded before it is returned.
 */
export async function runJournaled<J, R>(state: StepState, step: JournaledStep<J, R>): Promise<R> {
  const done = await state.readResult<R>();
  if (done !== undefined) return done;
  let journal = await state.readJournal<J>();
  const resumed = journal !== undefined;
  if (journal === undefined) {
    journal = await step.plan();
    await state.journal(journal);
  }
  return state.finish(await step.act(journal, resumed));
}

/**
 * Runs `act` once per step of a workflow run (keyed by run ID and activity ID, which a re-run of
 * the same step keeps): a re-run returns the first result instead of acting again. `observe`, when
 * given, reads "what it was before" and is journaled before `act` runs, so a crash between the
 * side effect and the recorded result still leaves the true "before" for the rollback. `act` is
 * told when an earlier run journaled the same "before" and may have acted (`resumed`).
 */
export async function oncePerStep<T, B = undefined>(
  stateDir: string,
  act: (before: B, resumed: boolean) => Promise<T>,
  observe?: () => Promise<B>,
): Promise<T> {
  const step = currentStep();
  if (!step) return act(observe ? await observe() : (undefined as B), false); // a direct call: nothing re-runs it
  const state = new StepState(join(stateDir, 'step-results', step.runId), step.activityId.replace(/[^\w-]/g, '_'));
  return runJournaled(state, {
    plan: async () => ({ before: observe ? await observe() : null }),
    act: ({ before }, resumed) => act(before as B, resumed),
  });
}
