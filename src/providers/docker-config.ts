// dockerConfig: imports every `auths` entry of an existing pull Secret (kubernetes.io/dockerconfigjson
// or kubernetes.io/dockercfg) of the source namespace, with the servers it names.
import { InvalidDockerConfigError, parseDockerConfigSecret } from '../dockerconfig.js';
import { invalid, notFound, type Provider } from './provider.js';

export const dockerConfigProvider: Provider<'dockerConfig'> = {
  kind: 'dockerConfig',
  servers: 'imported',
  sourceSecrets: (source) => [source.secretName],
  resolve({ source }, { secrets }) {
    const { secretName } = source;
    const secret = secrets.get(secretName);
    if (!secret) return notFound(secretName, secrets.namespace);
    try {
      return { ok: true, auths: parseDockerConfigSecret(secret.type, secret.data) };
    } catch (err) {
      if (err instanceof InvalidDockerConfigError) return invalid(secretName, secrets.namespace, err.message);
      throw err;
    }
  },
};
