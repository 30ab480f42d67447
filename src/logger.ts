// pino JSON logs. Secret material is redacted here, at the logger, not at each call site.
import { pino, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'password',
  'token',
  'auth',
  'data',
  'stringData',
  'secret.data',
  '*.password',
  '*.token',
  '*.auth',
  '*.data',
  '*.stringData',
  '*.authorizationToken',
  '*.secretAccessKey',
  '*.sessionToken',
  'headers.authorization',
  'headers.Authorization',
];

/**
 * Logs go to stdout asynchronously: lines written while a write is in flight are sent together
 * with the next one (sonic-boom), so a fan-out over thousands of namespaces costs a few large
 * writes instead of a write system call per line. pino flushes what is left synchronously when the
 * process exits (also on process.exit after a fatal error).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { component: 'regcred-operator' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
