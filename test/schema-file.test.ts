import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { loadConfig } from '../lib/config/load.js';
import { guardianConfigSchema } from '../lib/config/schema.js';

const root = new URL('../', import.meta.url).pathname;

describe('guardian.schema.json', () => {
  it('matches the schema the code validates with (regenerate: npx guardian check-config --schema > guardian.schema.json)', () => {
    const committed = JSON.parse(readFileSync(`${root}guardian.schema.json`, 'utf8')) as unknown;
    const current = z.toJSONSchema(guardianConfigSchema, { io: 'input', unrepresentable: 'any' });
    assert.deepEqual(committed, JSON.parse(JSON.stringify(current)));
  });

  it('accepts the root guardian.yaml that guards the demo', () => {
    const config = loadConfig(`${root}guardian.yaml`);
    assert.ok(config.service && config.databases.length === 3);
  });
});
