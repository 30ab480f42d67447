// Pure: building, parsing and comparing .dockerconfigjson documents.

export interface AuthEntry {
  username: string;
  password: string;
  auth: string; // base64("username:password"); some clients (skopeo) ignore entries without it
  email?: string;
}

export type Auths = Record<string, AuthEntry>;

export class InvalidDockerConfigError extends Error {
  override readonly name = 'InvalidDockerConfigError';
}

/** The most data a Secret can hold (the API server's limit on the sum of its values, in bytes). */
export const MAX_SECRET_DATA_BYTES = 1024 * 1024;

/**
 * Why a username or password cannot be written into a .dockerconfigjson entry, or undefined.
 * Unicode is fine (auth is base64 of the UTF-8 bytes, as docker and the kubelet do); but basic auth
 * cannot carry a ":" in a username (the kubelet splits auth at the first ":"), and control
 * characters (typically a trailing newline from `echo` or a file) make a credential that no
 * registry accepts. The message names the field, never the value.
 */
export function credentialProblem(field: 'username' | 'password', value: string): string | undefined {
  if (value === '') return `an empty ${field}`;
  if (field === 'username' && value.includes(':'))
    return 'a username containing ":", which basic auth cannot carry (the auth field splits at the first ":")';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value))
    return `a ${field} containing a control character (a trailing newline from echo or a file?)`;
  return undefined;
}

/** Decodes base64 to UTF-8 text; undefined when the bytes are not valid UTF-8 (never replaced silently). */
export function decodeUtf8(base64: string): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.from(base64, 'base64'));
  } catch {
    return undefined;
  }
}

/** Why a rendered document cannot be stored in a Secret, or undefined. */
export function documentSizeProblem(document: string): string | undefined {
  const bytes = Buffer.byteLength(document, 'utf8');
  if (bytes <= MAX_SECRET_DATA_BYTES) return undefined;
  return (
    `the merged .dockerconfigjson would be ${bytes} bytes, more than the ${MAX_SECRET_DATA_BYTES} bytes a ` +
    `Secret can hold`
  );
}

export function authEntry(username: string, password: string): AuthEntry {
  return { username, password, auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
}

/** The canonical document: servers sorted, fields in a fixed order, so equal content is equal bytes. */
export function renderDockerConfig(auths: Auths): string {
  const sorted: Auths = Object.create(null) as Auths;
  for (const server of Object.keys(auths).sort()) {
    const entry = auths[server]!;
    sorted[server] = {
      username: entry.username,
      password: entry.password,
      auth: entry.auth,
      ...(entry.email ? { email: entry.email } : {}),
    };
  }
  return JSON.stringify({ auths: sorted });
}

interface RawEntry {
  identitytoken?: unknown;
  registrytoken?: unknown;
  username?: unknown;
  password?: unknown;
  auth?: unknown;
  email?: unknown;
}

/**
 * Reads the auths of a kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg Secret's data
 * (base64 values, as the API returns them). Entries with only `auth` get username/password from
 * it; entries with only username/password get `auth`. Error messages never quote values.
 */
export function parseDockerConfigSecret(type: string | undefined, data: Record<string, string> | undefined): Auths {
  let key: string;
  if (type === 'kubernetes.io/dockerconfigjson') key = '.dockerconfigjson';
  else if (type === 'kubernetes.io/dockercfg') key = '.dockercfg';
  else
    throw new InvalidDockerConfigError(
      `type is ${JSON.stringify(type ?? '')}, expected kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`,
    );
  const encoded = data?.[key];
  if (!encoded) throw new InvalidDockerConfigError(`key ${key} is missing or empty`);
  const text = decodeUtf8(encoded);
  if (text === undefined) throw new InvalidDockerConfigError(`key ${key} is not valid UTF-8`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InvalidDockerConfigError(`key ${key} is not valid JSON`);
  }
  const auths = key === '.dockerconfigjson' ? (doc as { auths?: unknown } | null)?.auths : doc;
  if (!auths || typeof auths !== 'object' || Array.isArray(auths)) {
    throw new InvalidDockerConfigError(
      key === '.dockerconfigjson'
        ? 'key .dockerconfigjson has no "auths" object'
        : 'key .dockercfg is not an object of registries',
    );
  }
  // No prototype: a server key such as "__proto__" or "constructor" is an ordinary key here.
  const result: Auths = Object.create(null) as Auths;
  for (const [server, raw] of Object.entries(auths as Record<string, RawEntry>)) {
    result[server] = normalizeEntry(server, raw);
  }
  if (Object.keys(result).length === 0) throw new InvalidDockerConfigError('it holds no registry entries');
  return result;
}

function normalizeEntry(server: string, raw: RawEntry): AuthEntry {
  if (!raw || typeof raw !== 'object')
    throw new InvalidDockerConfigError(`entry ${JSON.stringify(server)} is not an object`);
  const str = (value: unknown) => (typeof value === 'string' ? value : undefined);
  let username = str(raw.username);
  let password = str(raw.password);
  const auth = str(raw.auth);
  if ((username === undefined || password === undefined) && auth) {
    const decoded = /^[A-Za-z0-9+/=\s]*$/.test(auth) ? decodeUtf8(auth) : undefined;
    const colon = decoded?.indexOf(':') ?? -1;
    if (decoded === undefined || colon < 0) {
      throw new InvalidDockerConfigError(
        `entry ${JSON.stringify(server)} has an "auth" that is not base64 of username:password`,
      );
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (username === undefined || password === undefined) {
    throw new InvalidDockerConfigError(`entry ${JSON.stringify(server)} has neither username/password nor auth`);
  }
  const problem = credentialProblem('username', username) ?? credentialProblem('password', password);
  if (problem) {
    // docker stores identity tokens (OAuth refresh tokens) beside an auth without a password; the kubelet cannot use
    // them.
    const identity =
      'identitytoken' in raw || 'registrytoken' in raw
        ? ' (identity and registry tokens are not supported: the kubelet cannot use them)'
        : '';
    throw new InvalidDockerConfigError(`entry ${JSON.stringify(server)} has ${problem}${identity}`);
  }
  const entry = authEntry(username, password);
  const email = str(raw.email);
  return email ? { ...entry, email } : entry;
}

/** Servers of a rendered document, for logs and Events (never the credentials). */
export function serversOf(document: string): string[] {
  try {
    return Object.keys((JSON.parse(document) as { auths: Auths }).auths).sort();
  } catch {
    return [];
  }
}
