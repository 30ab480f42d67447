// ecr: an Amazon ECR authorization token per (region, credentials, role), from GetAuthorizationToken
// (@aws-sdk/client-ecr), written under the entry's server with username AWS. The region is read from
// `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]` unless ecr.region is given. The identity
// (default chain, static keys, AssumeRole) is aws.ts's, shared with ecrPublic.
import { type AwsContext, type AwsFetcherOptions, awsIdentity, awsTokenFetcher, awsTokenKey } from './aws.js';
import { STANDARD_SCHEDULE } from './renewal.js';
import type { TokenFetcher } from './token-cache.js';
import { credentialsSecret, tokenProvider, type TokenProviderDeps } from './token-provider.js';

/** `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`, optionally with a port or a path. */
const ECR_HOST = /^(\d{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?(:\d+)?(\/.*)?$/;

export function parseEcrServer(server: string): { account: string; region: string; fips: boolean } | undefined {
  const match = ECR_HOST.exec(server.replace(/^https?:\/\//, ''));
  return match ? { account: match[1]!, region: match[3]!, fips: !!match[2] } : undefined;
}

export function ecrProvider(deps: TokenProviderDeps & { aws: AwsFetcherOptions; fetch?: TokenFetcher<AwsContext> }) {
  return tokenProvider<'ecr', AwsContext>(
    {
      kind: 'ecr',
      issuer: 'ECR',
      schedule: STANDARD_SCHEDULE,
      sourceSecrets: credentialsSecret,
      plan({ server, source }, secrets) {
        const region = source.region ?? parseEcrServer(server)?.region;
        if (!region) {
          return {
            ok: false,
            reason: 'InvalidEcrEntry',
            message:
              `registry ${server}: no ecr.region given and none can be read from the server (expected ` +
              `<account>.dkr.ecr.<region>.amazonaws.com)`,
          };
        }
        const who = awsIdentity(source, secrets);
        if ('ok' in who) return who;
        return {
          key: awsTokenKey('ecr', region, who.identity, source.roleArn),
          context: { region, roleArn: source.roleArn, keys: who.keys },
          operation: `GetAuthorizationToken in ${region}`,
        };
      },
      fetch:
        deps.fetch ??
        awsTokenFetcher(deps.aws, async () => {
          const { ECRClient, GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
          return {
            createClient: (config) => new ECRClient(config),
            getAuthorizationToken: async (client, abortSignal) =>
              (await client.send(new GetAuthorizationTokenCommand({}), { abortSignal })).authorizationData?.[0],
          };
        }),
    },
    deps,
  );
}
