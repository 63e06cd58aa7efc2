import bytes from 'bytes';
import ms from 'ms';
import { z } from 'zod';

/**
 * A duration written as `250ms`, `10s`, `15m`, `1h` or a number of milliseconds; parsed to milliseconds.
 * @example rollbackWindow: 15m
 */
export const duration = z
  .union([z.number().int().nonnegative(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const parsed = ms(value as ms.StringValue);
    if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration; write it like 250ms, 10s, 15m or 1h` });
      return z.NEVER;
    }
    return parsed;
  })
  .meta({ description: 'A duration: 250ms, 10s, 15m, 1h, or milliseconds', examples: ['10s', '15m'] });

/**
 * A size written as `100MB`, `4GB`, `512kB` or a number of bytes; parsed to bytes.
 * @example minFree: 100MB
 */
export const size = z
  .union([z.number().int().nonnegative(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const parsed = bytes.parse(value);
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
