// basicAuth: a static username and password from a Secret of the source namespace (read from the
// informer cache: no API call per reconcile), written under the entry's server.
import { authEntry, credentialProblem } from '../dockerconfig.js';
import { invalid, NOT_UTF8, notFound, type Provider, secretText } from './provider.js';

export const basicAuthProvider: Provider<'basicAuth'> = {
  kind: 'basicAuth',
  servers: 'named',
  sourceSecrets: (source) => [source.secretName],
  resolve({ server, source }, { secrets }) {
    const { secretName, usernameKey, passwordKey } = source;
    const secret = secrets.get(secretName);
    if (!secret) return notFound(secretName, secrets.namespace);
    const username = secretText(secret, usernameKey);
    const password = secretText(secret, passwordKey);
    const missing = [username === undefined ? usernameKey : '', password === undefined ? passwordKey : ''].filter(
      Boolean,
    );
    if (missing.length > 0) {
      return invalid(
        secretName,
        secrets.namespace,
        `has no ${missing.map((key) => JSON.stringify(key)).join(' or ')} key`,
      );
    }
    if (!username || !password)
      return invalid(secretName, secrets.namespace, `has an empty ${!username ? usernameKey : passwordKey}`);
    if (username === NOT_UTF8 || password === NOT_UTF8) {
      return invalid(
        secretName,
        secrets.namespace,
        `key ${JSON.stringify(username === NOT_UTF8 ? usernameKey : passwordKey)} is not valid UTF-8 text`,
      );
    }
    for (const [field, key, value] of [
      ['username', usernameKey, username],
      ['password', passwordKey, password],
    ] as const) {
      const problem = credentialProblem(field, value);
      if (problem) return invalid(secretName, secrets.namespace, `key ${JSON.stringify(key)} holds ${problem}`);
    }
    return { ok: true, auths: { [server!]: authEntry(username, password) } };
  },
};
