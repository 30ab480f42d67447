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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { component: 'regcred-operator' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
