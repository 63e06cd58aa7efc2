import { z } from 'zod';
import { defaultConfigPath, loadConfig } from '../../lib/config/load.js';
import { guardianConfigSchema } from '../../lib/config/schema.js';

/** `guardian check-config [file]`: validates guardian.yaml; `--schema` prints its JSON Schema. */
export async function checkConfig(
  file: string | undefined,
  options: { json?: boolean; schema?: boolean },
): Promise<number> {
  if (options.schema) {
    process.stdout.write(
      `${JSON.stringify(z.toJSONSchema(guardianConfigSchema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`,
    );
    return 0;
  }
  const config = loadConfig(file ?? defaultConfigPath());
  const summary = {
    file: config.file,
    host: config.host,
    taskQueue: config.taskQueue,
    service: config.service
      ? `${config.service.name}: ${config.service.command} ${config.service.args.join(' ')}`
      : null,
    databases: config.databases.map((d) => d.name),
  };
  if (options.json) process.stdout.write(`${JSON.stringify({ ok: true, ...summary }, null, 2)}\n`);
  else {
    process.stdout.write(`${config.file} is valid.\n`);
    for (const [key, value] of Object.entries(summary)) {
      if (key !== 'file')
        process.stdout.write(
          `  ${key}: ${Array.isArray(value) ? value.join(', ') || '(none)' : (value ?? '(none)')}\n`,
        );
    }
  }
  return 0;
}
