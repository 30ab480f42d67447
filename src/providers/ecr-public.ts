// ecrPublic: an Amazon ECR Public authorization token (public.ecr.aws) from GetAuthorizationToken of
// @aws-sdk/client-ecr-public, always in us-east-1 (the only region of that API), written under the
// entry's server with username AWS. Same identities as ecr (aws.ts): one token per (credentials, role).
import { type AwsContext, type AwsFetcherOptions, awsIdentity, awsTokenFetcher, awsTokenKey } from './aws.js';
import { STANDARD_SCHEDULE } from './renewal.js';
import type { TokenFetcher } from './token-cache.js';
import { credentialsSecret, tokenProvider, type TokenProviderDeps } from './token-provider.js';

/** The ECR Public API is served in us-east-1 only. */
export const ECR_PUBLIC_REGION = 'us-east-1';

export function ecrPublicProvider(
  deps: TokenProviderDeps & { aws: AwsFetcherOptions; fetch?: TokenFetcher<AwsContext> },
) {
  return tokenProvider<'ecrPublic', AwsContext>(
    {
      kind: 'ecrPublic',
      issuer: 'ECR Public',
      schedule: STANDARD_SCHEDULE,
      sourceSecrets: credentialsSecret,
      plan({ source }, secrets) {
        const who = awsIdentity(source, secrets);
        if ('ok' in who) return who;
        return {
          key: awsTokenKey('ecr-public', ECR_PUBLIC_REGION, who.identity, source.roleArn),
          context: { region: ECR_PUBLIC_REGION, roleArn: source.roleArn, keys: who.keys },
          operation: `ECR Public GetAuthorizationToken in ${ECR_PUBLIC_REGION}`,
        };
      },
      fetch:
        deps.fetch ??
        awsTokenFetcher(deps.aws, async () => {
          const { ECRPUBLICClient, GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr-public');
          return {
            createClient: (config) => new ECRPUBLICClient(config),
            getAuthorizationToken: async (client, abortSignal) =>
              (await client.send(new GetAuthorizationTokenCommand({}), { abortSignal })).authorizationData,
          };
        }),
    },
    deps,
  );
}
