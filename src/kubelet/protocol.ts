// The kubelet's image credential provider protocol (credentialprovider.kubelet.k8s.io/v1), as the
// regcred node plugin forwards it: the kubelet's CredentialProviderRequest goes to the operator's
// endpoint unchanged, and the endpoint's CredentialProviderResponse goes back to the kubelet
// unchanged. Pure: parsing and building, no I/O.
import { z } from 'zod';

export const PROVIDER_API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';

/** A request larger than this is refused unread: a real one holds an image name and a token. */
export const MAX_REQUEST_BYTES = 64 * 1024;

const requestSchema = z.object({
  apiVersion: z.literal(PROVIDER_API_VERSION),
  kind: z.literal('CredentialProviderRequest'),
  image: z.string().min(1).max(4096),
  serviceAccountToken: z
    .string()
    .max(16 * 1024)
    .optional(),
  serviceAccountAnnotations: z.record(z.string(), z.string()).optional(),
});

export type CredentialProviderRequest = z.infer<typeof requestSchema>;

export interface CredentialProviderResponse {
  apiVersion: typeof PROVIDER_API_VERSION;
  kind: 'CredentialProviderResponse';
  /** Registry: the answer holds for every image of the registry host (the kubelet caches it per host). */
  cacheKeyType: 'Image' | 'Registry' | 'Global';
  /** Go duration; "0s" means: do not cache. */
  cacheDuration: string;
  auth: Record<string, { username: string; password: string }>;
}

/** A request body, or why it is not one (names the field, never echoes the body). */
export function parseRequest(
  body: string,
): { ok: true; request: CredentialProviderRequest } | { ok: false; message: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, message: 'the body is not JSON' };
  }
  const result = requestSchema.safeParse(json);
  if (result.success) return { ok: true, request: result.data };
  const issue = result.error.issues[0]!;
  return { ok: false, message: `${issue.path.join('.') || 'body'}: ${issue.message}` };
}

/** A Go duration of whole seconds, as the kubelet's metav1.Duration reads it. */
export function goDuration(ms: number): string {
  return `${Math.max(0, Math.floor(ms / 1000))}s`;
}

export function providerResponse(
  auth: CredentialProviderResponse['auth'],
  cacheDurationMs: number,
): CredentialProviderResponse {
  return {
    apiVersion: PROVIDER_API_VERSION,
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Registry',
    cacheDuration: goDuration(cacheDurationMs),
    auth,
  };
}
