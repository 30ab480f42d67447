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

export function authEntry(username: string, password: string): AuthEntry {
  return { username, password, auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
}

/** The canonical document: servers sorted, fields in a fixed order, so equal content is equal bytes. */
export function renderDockerConfig(auths: Auths): string {
  const sorted: Auths = {};
  for (const server of Object.keys(auths).sort()) {
    const e = auths[server]!;
    sorted[server] = { username: e.username, password: e.password, auth: e.auth, ...(e.email ? { email: e.email } : {}) };
  }
  return JSON.stringify({ auths: sorted });
}

interface RawEntry {
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
  else throw new InvalidDockerConfigError(`type is ${JSON.stringify(type ?? '')}, expected kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`);
  const encoded = data?.[key];
  if (!encoded) throw new InvalidDockerConfigError(`key ${key} is missing or empty`);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch {
    throw new InvalidDockerConfigError(`key ${key} is not valid JSON`);
  }
  const auths = key === '.dockerconfigjson' ? (doc as { auths?: unknown } | null)?.auths : doc;
  if (!auths || typeof auths !== 'object' || Array.isArray(auths)) {
    throw new InvalidDockerConfigError(key === '.dockerconfigjson' ? 'key .dockerconfigjson has no "auths" object' : 'key .dockercfg is not an object of registries');
  }
  const result: Auths = {};
  for (const [server, raw] of Object.entries(auths as Record<string, RawEntry>)) {
    result[server] = normalizeEntry(server, raw);
  }
  if (Object.keys(result).length === 0) throw new InvalidDockerConfigError('it holds no registry entries');
  return result;
}

function normalizeEntry(server: string, raw: RawEntry): AuthEntry {
  if (!raw || typeof raw !== 'object') throw new InvalidDockerConfigError(`entry ${JSON.stringify(server)} is not an object`);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  let username = str(raw.username);
  let password = str(raw.password);
  const auth = str(raw.auth);
  if ((username === undefined || password === undefined) && auth) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0 || !/^[A-Za-z0-9+/=\s]*$/.test(auth)) {
      throw new InvalidDockerConfigError(`entry ${JSON.stringify(server)} has an "auth" that is not base64 of username:password`);
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (username === undefined || password === undefined) {
    throw new InvalidDockerConfigError(`entry ${JSON.stringify(server)} has neither username/password nor auth`);
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
