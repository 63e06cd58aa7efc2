import { pino, type Logger } from 'pino';

/** Guardian's structured logger (JSON lines on stderr; level from GUARDIAN_LOG_LEVEL, default info). */
export function createLogger(name = 'guardian'): Logger {
  return pino({ name, level: process.env.GUARDIAN_LOG_LEVEL ?? 'info' }, pino.destination(2));
}

export type { Logger };
