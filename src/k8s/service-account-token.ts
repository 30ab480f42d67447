// The operator's own ServiceAccount tokens for an audience (Quay robot federation): who the operator
// is comes from a SelfSubjectReview (system:serviceaccount:<namespace>:<name>), the token from that
// ServiceAccount's TokenRequest. Needs create on serviceaccounts/token for the operator's own
// ServiceAccount. A client that is no ServiceAccount (a user's kubeconfig) gets a clear error.
import type { KubeApi } from './client.js';

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
/** Ten minutes: the token is used once, at once, for one exchange. */
export const EXCHANGE_TOKEN_SECONDS = 600;

/** namespace and name of a ServiceAccount username, or undefined for any other user. */
export function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_PREFIX)) return undefined;
  const [namespace, name, ...rest] = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  return namespace && name && rest.length === 0 ? { namespace, name } : undefined;
}

export function ownServiceAccountTokens(client: KubeApi): (audience: string) => Promise<string> {
  let self: Promise<{ namespace: string; name: string }> | undefined;
  const whoAmI = async () => {
    const review = await client.request<{ status?: { userInfo?: { username?: string } } }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    const username = review.status?.userInfo?.username ?? '';
    const account = serviceAccountOf(username);
    if (!account) throw new Error(`the operator runs as ${JSON.stringify(username)}, not as a ServiceAccount`);
    return account;
  };
  return async (audience) => {
    self ??= whoAmI().catch((err: unknown) => {
      self = undefined;
      throw err;
    });
    const { namespace, name } = await self;
    const answer = await client.request<{ status?: { token?: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [audience], expirationSeconds: EXCHANGE_TOKEN_SECONDS },
      },
      sensitive: true,
    });
    if (!answer.status?.token) throw new Error(`TokenRequest for ${namespace}/${name} answered no token`);
    return answer.status.token;
  };
}
