import bytes from 'bytes';
import ms from 'ms';
import { z } from 'zod';

function durationSchema(allowZero: boolean) {
  const number = allowZero
    ? z.number().int().nonnegative()
    : z.number().int().positive({ error: 'must be longer than 0; write it like 250ms, 10s, 15m or 1h' });
  return z
    .union([number, z.string()])
    .transform((value, ctx) => {
      const parsed = typeof value === 'number' ? value : parseMs(value);
      if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
        ctx.addIssue({
          code: 'custom',
          message: `"${String(value)}" is not a duration; write it like 250ms, 10s, 15m or 1h`,
        });
        return z.NEVER;
      }
      if (parsed === 0 && !allowZero) {
        // 0 turns a poll into a hot loop, a window into none, a timeout into instant failure.
        ctx.addIssue({ code: 'custom', message: 'must be longer than 0; write it like 250ms, 10s, 15m or 1h' });
        return z.NEVER;
      }
      return parsed;
    })
    .meta({
      description: `A duration: 250ms, 10s, 15m, 1h, or milliseconds${allowZero ? ' (0 allowed)' : ' (more than 0)'}`,
      examples: ['10s', '15m'],
    });
}

/**
 * A duration written as `250ms`, `10s`, `15m`, `1h` or a number of milliseconds; parsed to
 * milliseconds. Must be more than 0: a zero interval is a hot loop, a zero window disables what it bounds.
 * @example rollbackWindow: 15m
 */
export const duration = durationSchema(false);

/**
 * Like {@link duration}, where 0 means "none" on purpose (no rollback window, no expiry skew).
 * @example expirySkew: 0
 */
export const durationOrZero = durationSchema(true);

/**
 * A size written as `100MB`, `4GB`, `512kB` or a number of bytes; parsed to bytes.
 * @example minFree: 100MB
 */
export const size = z
  .union([z.number().int().nonnegative(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const parsed = parseBytes(value);
    if (parsed === null || !Number.isFinite(parsed) || parsed < 0) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a size; write it like 512kB, 100MB or 4GB` });
      return z.NEVER;
    }
    return parsed;
  })
  .meta({ description: 'A size: 512kB, 100MB, 4GB, or bytes', examples: ['100MB', '4GB'] });

/** A TCP port number. */
export const port = z
  .number()
  .int()
  .min(1)
  .max(65535)
  .meta({ examples: [8000] });

/**
 * A name Guardian uses in file paths, workflow IDs and CLI arguments (databases, configs, the
 * service …): 1 to 64 letters, digits, ".", "_" or "-", not starting with "." — so never "..",
 * a hidden file or a path.
 */
export const safeName = z
  .string()
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/,
    'use 1 to 64 letters, digits, ".", "_" or "-", not starting with "." (it names files and directories)',
  );

/** ms() throws on some text (an empty string); here every text either parses or is undefined. */
function parseMs(text: string): number | undefined {
  try {
    return ms(text as ms.StringValue);
  } catch {
    return undefined;
  }
}

function parseBytes(text: string): number | null {
  try {
    return bytes.parse(text);
  } catch {
    return null;
  }
}
