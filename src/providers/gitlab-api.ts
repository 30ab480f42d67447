// The GitLab REST API (v4) endpoints the gitlab provider uses, and nothing else:
//   POST   /api/v4/projects/:id/deploy_tokens  {name, username, expires_at, scopes} -> 201 DeployToken with token
//   GET    /api/v4/projects/:id/deploy_tokens?page=&per_page=   -> 200 DeployToken[] (without token)
//   DELETE /api/v4/projects/:id/deploy_tokens/:token_id  -> 204
// and the same three under /api/v4/groups/:id/deploy_tokens. `:id` is a numeric id or the
// URL-encoded full path (group%2Fapp). Authenticated with the PRIVATE-TOKEN header (a personal,
// project or group access token with the api scope and at least the Maintainer role).
// Errors arrive as {"message": "404 Project Not Found"} (or {"error": "..."}, or a message object of
// field errors) and become a GitLabApiError whose reason is what the RegistryCredential's condition says.
import { OwnedCredentialsApiError } from './owned-credentials.js';
import { withDeadline } from './token-provider.js';

export type DeployTokenScope = 'read_registry';

/** Where deploy tokens live: a project or a group, by numeric id or full path. */
export interface GitLabTarget {
  kind: 'project' | 'group';
  id: string;
}

export interface DeployTokenCreate {
  name: string;
  username: string;
  /** ISO 8601 date-time. */
  expires_at: string;
  scopes: DeployTokenScope[];
}

export interface DeployToken {
  id: number;
  name: string;
  username: string;
  /** ISO 8601, or null for a token that never expires. */
  expires_at: string | null;
  revoked?: boolean;
  expired?: boolean;
  scopes?: string[];
}

export interface CreatedDeployToken extends DeployToken {
  /** The secret: returned once, at creation. Never logged, never part of an error. */
  token: string;
}

export type GitLabReason =
  | 'GitLabUnauthorized'
  | 'GitLabForbidden'
  | 'GitLabProjectNotFound'
  | 'GitLabGroupNotFound'
  | 'GitLabBadRequest'
  | 'GitLabUnavailable'
  | 'GitLabError';

/** A failed GitLab request, described without any credential. */
export class GitLabApiError extends OwnedCredentialsApiError {
  override name = 'GitLabApiError';
  constructor(
    override readonly reason: GitLabReason,
    /** The HTTP status, or 0 when no answer arrived. */
    readonly status: number,
    message: string,
    /** GitLab's own error text, e.g. "404 Project Not Found". */
    readonly detail = '',
  ) {
    super(reason, status === 0 ? 'NoAnswer' : `HTTP${status}`, message, reason === 'GitLabUnavailable');
  }
}

/** The reason of an HTTP answer, from GitLab's documented status codes. */
export function reasonOf(status: number, target: GitLabTarget): GitLabReason {
  if (status === 401) return 'GitLabUnauthorized';
  if (status === 403) return 'GitLabForbidden';
  if (status === 404) return target.kind === 'project' ? 'GitLabProjectNotFound' : 'GitLabGroupNotFound';
  if (status === 400 || status === 422) return 'GitLabBadRequest';
  if (status >= 500 || status === 429) return 'GitLabUnavailable';
  return 'GitLabError';
}

/** GitLab's error text: {"message": "..."}, {"message": {"field": ["..."]}} or {"error": "..."}. */
export function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: unknown };
    const value = parsed.message ?? parsed.error;
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object')
      return Object.entries(value as Record<string, unknown>)
        .map(([field, problems]) => `${field} ${Array.isArray(problems) ? problems.join(', ') : String(problems)}`)
        .join('; ');
  } catch {
    // not JSON (a proxy's error page): the status says enough
  }
  return '';
}

function cut(text: string): string {
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

export const PAGE_SIZE = 100;

export class GitLabClient {
  constructor(
    /** The GitLab instance, e.g. https://gitlab.example.com (the API is under /api/v4). */
    private readonly baseUrl: string,
    /** Secret: never logged, never part of an error. */
    private readonly privateToken: string,
    private readonly timeoutMs: number,
    private readonly http: typeof fetch = fetch,
  ) {}

  private path(target: GitLabTarget): string {
    return `/${target.kind === 'project' ? 'projects' : 'groups'}/${encodeURIComponent(target.id)}/deploy_tokens`;
  }

  private async call<T>(target: GitLabTarget, method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl.replace(/\/+$/, '')}/api/v4${path}`;
    const where = `${method} ${path.split('?')[0]}`;
    let response: Response;
    let text: string;
    try {
      [response, text] = await withDeadline(this.timeoutMs, async (signal) => {
        const answer = await this.http(url, {
          method,
          signal,
          redirect: 'error',
          headers: {
            'private-token': this.privateToken,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return [answer, await answer.text()] as const;
      });
    } catch (err) {
      const name = err instanceof Error ? (err.name === 'TokenRefreshError' ? 'TimeoutError' : err.name) : 'Error';
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new GitLabApiError('GitLabUnavailable', 0, cut(`${where}: ${name}${cause}`));
    }
    if (!response.ok) {
      const detail = errorText(text);
      throw new GitLabApiError(
        reasonOf(response.status, target),
        response.status,
        cut(`${where}: HTTP ${response.status}${detail ? `: ${detail}` : ''}`),
        detail,
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  createDeployToken(target: GitLabTarget, token: DeployTokenCreate): Promise<CreatedDeployToken> {
    return this.call(target, 'POST', this.path(target), token);
  }

  /** Every deploy token of the project or group, all pages (revoked and expired ones included). */
  async listDeployTokens(target: GitLabTarget): Promise<DeployToken[]> {
    const all: DeployToken[] = [];
    for (let page = 1; ; page++) {
      const tokens = await this.call<DeployToken[]>(
        target,
        'GET',
        `${this.path(target)}?page=${page}&per_page=${PAGE_SIZE}`,
      );
      all.push(...tokens);
      if (tokens.length < PAGE_SIZE) return all;
    }
  }

  /**
   * Deletes (revokes) a deploy token; one already gone counts as deleted. A 404 that names the
   * project or group (it is gone, or no longer visible to the token) is an error.
   */
  async deleteDeployToken(target: GitLabTarget, tokenId: number): Promise<void> {
    try {
      await this.call(target, 'DELETE', `${this.path(target)}/${tokenId}`);
    } catch (err) {
      if (err instanceof GitLabApiError && err.status === 404 && !/project|group/i.test(err.detail)) return;
      throw err;
    }
  }
}
