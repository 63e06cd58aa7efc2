import { Command, CommanderError, Option } from 'commander';
import { ConfigError, LockHeldError, TemporalUnreachableError, UsageError } from '../lib/errors.js';

/** One CLI command: its words, options and the module that runs it (loaded only when called). */
interface CommandSpec {
  name: string;
  args?: string;
  summary: string;
  options?: Option[];
  /** Printed after the options by `guardian <command> --help`. */
  help?: string;
  run: () => Promise<(...args: never[]) => Promise<number | void>>;
}

const config = () =>
  new Option('-c, --config <file>', 'guardian.yaml to use').env('GUARDIAN_CONFIG').default('guardian.yaml');
const json = () => new Option('--json', 'print JSON instead of a table');
const logFormat = () =>
  new Option('--log-format <format>', 'log lines: pretty (default on a terminal) or json (default when piped)')
    .choices(['pretty', 'json'])
    .env('GUARDIAN_LOG_FORMAT');

/** The command table: every `guardian` command, declared in one place. */
export const COMMANDS: CommandSpec[] = [
  {
    name: 'up',
    summary:
      'run Guardian: Temporal worker, detectors, backups and the supervised service (starts the dev server if needed)',
    options: [config(), new Option('--no-service', 'do not start the guarded service'), logFormat()],
    run: async () => (await import('./commands/up.js')).up,
  },
  {
    name: 'check-config',
    args: '[file]',
    summary: 'validate a guardian.yaml and print what it guards',
    options: [json(), new Option('--schema', 'print the JSON Schema of guardian.yaml for editors')],
    run: async () => (await import('./commands/check-config.js')).checkConfig,
  },
  {
    name: 'incidents',
    summary: 'list incidents from the ledger, newest first',
    options: [
      config(),
      json(),
      new Option('--mode <mode>', 'only this failure mode'),
      new Option('-n, --limit <n>', 'how many').default('20'),
    ],
    run: async () => (await import('./commands/incidents.js')).incidents,
  },
  {
    name: 'status',
    summary: 'show open incidents (Temporal visibility) and paused resources',
    options: [config(), json()],
    run: async () => (await import('./commands/status.js')).status,
  },
  {
    name: 'abort',
    args: '<workflow-id>',
    summary: 'stop an incident after its current step, keeping what is done',
    options: [new Option('--reason <text>', 'recorded in the incident')],
    run: async () => (await import('./commands/signal.js')).abort,
  },
  {
    name: 'rollback',
    args: '<workflow-id>',
    summary: "undo an incident's completed steps in reverse order",
    options: [
      new Option('--reason <text>', 'recorded in the incident'),
      new Option('--force', 'roll back even data written since the heal (the live files are kept aside first)'),
    ],
    run: async () => (await import('./commands/signal.js')).rollback,
  },
  {
    name: 'resume',
    args: '<mode> <resource>',
    summary: 'lift the flap-protection pause and the hold on a mode+resource',
    options: [config()],
    run: async () => (await import('./commands/resume.js')).resume,
  },
  {
    name: 'playbooks',
    summary: "list every mode's detection, steps (activities) and compensations, read from the workflow code",
    options: [json()],
    run: async () => (await import('./commands/playbooks.js')).playbooks,
  },
  {
    name: 'plan',
    args: '<workflow-id>',
    summary: 'print the plan an incident recorded in observe mode (each step and its concrete target)',
    options: [json(), new Option('--run-id <id>', 'a specific run (default: the latest)')],
    run: async () => (await import('./commands/plan.js')).plan,
  },
  {
    name: 'hold',
    args: '<mode> <resource>',
    summary: 'no automatic remediation of a mode+resource (maintenance) until `guardian resume` or the time given',
    options: [
      config(),
      new Option('--for <duration>', 'lift the hold by itself after this long (30m, 2h, 1d)'),
      new Option('--reason <text>', 'recorded with the hold and shown by status'),
    ],
    run: async () => (await import('./commands/hold.js')).hold,
  },
  {
    name: 'clear',
    args: '<mode> <resource>',
    summary:
      'end a lasting override a remediation left in force (offline mode, open circuit, disabled endpoint, boot chunk, low-memory mode, moved port)',
    options: [config()],
    run: async () => (await import('./commands/clear.js')).clear,
  },
  {
    name: 'credentials-updated',
    args: '<endpoint>',
    summary: "tell an endpoint's invalid-credentials incident that its credential was updated",
    options: [config()],
    run: async () => (await import('./commands/credentials-updated.js')).credentialsUpdated,
  },
  {
    name: 'export',
    args: '<workflow-id> <file>',
    summary: "write an incident's event history as JSON (for replay tests)",
    options: [new Option('--run-id <id>', 'a specific run (default: the latest)')],
    run: async () => (await import('./commands/history.js')).exportHistory,
  },
  {
    name: 'replay',
    args: '<file-or-workflow-id>',
    summary: 'replay a recorded history against the current workflow code and report determinism errors',
    options: [json()],
    run: async () => (await import('./commands/history.js')).replay,
  },
  {
    name: 'drill',
    args: '[modes...]',
    summary:
      "inject failure modes for real into the demo service and measure MTTR (the running Guardian's, if one is up)",
    options: [
      config(),
      json(),
      new Option('--repeat <n>', 'runs per mode').default('1'),
      new Option('--report <dir>', 'write JSON, markdown and a chart to this directory'),
      logFormat(),
      new Option('--db-size <size>', "database-corruption: grow the demo's world_model to this size first (1GB, 3GB)"),
      new Option('--isolated', 'start a Guardian of its own even when one runs on the state directory'),
    ],
    help: [
      '',
      'Which Guardian runs:',
      "  A Guardian is up on the config's stateDir (npm start / guardian up, its guardian.pid is live):",
      '    database-corruption, missing-config, service-down, model-server-down and out-of-memory are',
      '    injected into its demo, as its guardian.yaml resolves it, and its incidents open under its',
      '    host (GuardianHost="<host>"), on its task queue and in its ledger (guardian incidents); they',
      '    stay open for its rollback window. out-of-memory allocates past its memory.rss, and runs',
      '    isolated when that is more than half the free memory. The other modes change the config',
      '    Guardian starts with, so they run in an isolated one; the drill says which and why.',
      '  None is up, or --isolated: the drill starts its own Guardian, host <host>-drill, task queue',
      '    guardian@<host>-drill, state in <stateDir>/drill/, the demo on ports of its own; it stops',
      '    it at the end.',
      "Either way only paths under that Guardian's state directory are touched, and each fault is",
      'cleaned up after its run.',
    ].join('\n'),
    run: async () => (await import('./commands/drill.js')).drill,
  },
];

/** Parses argv and runs one command; exits with its status. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('guardian')
    .description('Self-healing orchestrator for local-first AI services, on Temporal')
    .showHelpAfterError()
    .exitOverride();
  for (const spec of COMMANDS) {
    const command = program.command(spec.args ? `${spec.name} ${spec.args}` : spec.name).description(spec.summary);
    for (const option of spec.options ?? []) command.addOption(option);
    if (spec.help) command.addHelpText('after', spec.help);
    command.action(async (...params: unknown[]) => {
      const run = (await spec.run()) as (...args: unknown[]) => Promise<number | void>;
      // commander passes the positional args, then the options object, then the command.
      const code = await run(...params.slice(0, -1));
      process.exitCode = typeof code === 'number' ? code : 0;
    });
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
    } else if (
      err instanceof ConfigError ||
      err instanceof UsageError ||
      err instanceof TemporalUnreachableError ||
      err instanceof LockHeldError
    ) {
      process.stderr.write(`guardian: ${err.message}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    } else {
      process.stderr.write(`guardian: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
