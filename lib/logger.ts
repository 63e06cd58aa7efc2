import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

/** How log lines look: `pretty` (one readable line each) or `json` (one JSON object per line). */
export type LogFormat = 'pretty' | 'json';

/**
 * The format to use: the one asked for (`--log-format`, else GUARDIAN_LOG_FORMAT), otherwise
 * readable lines on a terminal and JSON lines when stderr is piped or redirected.
 */
export function logFormat(asked?: string, stream: { isTTY?: boolean } = process.stderr): LogFormat {
  const wanted = asked ?? process.env.GUARDIAN_LOG_FORMAT;
  if (wanted === 'pretty' || wanted === 'json') return wanted;
  return stream.isTTY === true ? 'pretty' : 'json';
}

/**
 * Guardian's structured logger on stderr; level from GUARDIAN_LOG_LEVEL (default info), format
 * from {@link logFormat}.
 */
export function createLogger(name = 'guardian', format: LogFormat = logFormat()): Logger {
  return pino({ name, level: process.env.GUARDIAN_LOG_LEVEL ?? 'info' }, destination(format));
}

function destination(format: LogFormat): DestinationStream {
  if (format === 'json') return pino.destination(2);
  // Synchronous, in this thread: a line is on the terminal before the next statement runs.
  return PinoPretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
}

export type { Logger };
