// pino JSON logs. Secret material is redacted here, at the logger, not at each call site.
import { pino, type Logger } from 'pino';

/**
 * Fields whose values are never logged, at the top of a log line's object or one level down
 * (`{ password }`, `{ secret: { data } }`, `{ headers: { authorization } }`). Names compare
 * without case. A child logger's bindings are not redacted: the operator binds only a reconcile's
 * id and the names of its credential and namespace.
 */
export const REDACTED_FIELDS = [
  'password',
  'token',
  'auth',
  'authorization',
  'data',
  'stringData',
  'authorizationToken',
  'secretAccessKey',
  'sessionToken',
];
export const CENSOR = '[REDACTED]';

const redacted = new Set(REDACTED_FIELDS.map((field) => field.toLowerCase()));
const isRedacted = (key: string) => redacted.has(key.toLowerCase());

/**
 * The object of a log line with every REDACTED_FIELDS value, at the top or one level down,
 * replaced by CENSOR. A line with none (nearly all of them) is returned as it is, without a copy:
 * this runs for every line, so it allocates nothing for the lines that need nothing (pino's own
 * `redact` option parses its paths and clones the object on every line and every child logger).
 */
export function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    const value = obj[key];
    let replacement: unknown = value;
    if (isRedacted(key)) replacement = CENSOR;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const inner = redactOneLevel(value as Record<string, unknown>);
      if (inner !== value) replacement = inner;
    }
    if (replacement !== value) (out ??= { ...obj })[key] = replacement;
  }
  return out ?? obj;
}

/** `value` with its REDACTED_FIELDS censored (a plain copy; an Error keeps its type, message and stack), or itself. */
function redactOneLevel(value: Record<string, unknown>): Record<string, unknown> {
  let found = false;
  for (const key in value) if (Object.prototype.hasOwnProperty.call(value, key) && isRedacted(key)) found = true;
  if (!found) return value;
  const copy: Record<string, unknown> =
    value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : {};
  for (const key in value)
    if (Object.prototype.hasOwnProperty.call(value, key)) copy[key] = isRedacted(key) ? CENSOR : value[key];
  return copy;
}

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
      formatters: { level: (label) => ({ level: label }), log: redactSecrets },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
