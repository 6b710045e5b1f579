// Structured logs for developers (pino). Secrets never reach a log: values known to be secret are redacted by
// path here, and code never passes passwords or tokens as log fields in the first place.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths pino replaces with "***" wherever they appear in a log record. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'credentials',
  '*.credentials',
  'spec.credentials',
  '*.spec.credentials',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { pid: process.pid, name: 'nines-controller' },
    redact: { paths: REDACT_PATHS, censor: '***' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
