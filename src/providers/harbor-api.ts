// The Harbor API v2.0 endpoints the harbor provider uses, and nothing else:
//   POST   /api/v2.0/robots              RobotCreate  -> 201 RobotCreated {id, name, secret, creation_time, expires_at}
//   GET    /api/v2.0/robots?q=name=~...  -> 200 Robot[] (paged: page, page_size)
//   DELETE /api/v2.0/robots/{robot_id}   -> 200
// Errors arrive as {"errors":[{"code":"NOT_FOUND","message":"..."}]} and become a HarborApiError
// whose reason is what the RegistryCredential's condition says. Authenticated with basic auth of
// the admin (a Harbor user or a system robot allowed to manage robots).
import { OwnedCredentialsApiError } from './owned-credentials.js';
import { withDeadline } from './token-provider.js';

export interface HarborAdmin {
  username: string;
  /** Secret: never logged, never part of an error. */
  password: string;
}

export interface RobotCreate {
  name: string;
  description: string;
  level: 'system';
  /** Days; Harbor's unit for robot lifetimes. */
  duration: number;
  disable: false;
  permissions: Array<{ kind: 'project'; namespace: string; access: Array<{ resource: 'repository'; action: 'pull' }> }>;
}

export interface RobotCreated {
  id: number;
  /** The full name, with Harbor's prefix (robot$ by default): the registry username. */
  name: string;
  secret: string;
  creation_time?: string;
  /** Epoch seconds; -1 for never. */
  expires_at: number;
}

export interface Robot {
  id: number;
  name: string;
  description?: string;
  creation_time?: string;
  expires_at: number;
  level?: string;
  disable?: boolean;
}

export type HarborReason =
  | 'HarborProjectNotFound'
  | 'HarborForbidden'
  | 'HarborUnauthorized'
  | 'HarborBadRequest'
  | 'HarborConflict'
  | 'HarborUnavailable'
  | 'HarborError';

/** A failed Harbor request, described without any credential. */
export class HarborApiError extends OwnedCredentialsApiError {
  override name = 'HarborApiError';
  constructor(
    override readonly reason: HarborReason,
    /** Harbor's error code (NOT_FOUND, FORBIDDEN, ...) or the transport error's name. */
    code: string,
    message: string,
  ) {
    super(reason, code, message, reason === 'HarborUnavailable');
  }
}

/** The reason of an HTTP answer: Harbor's status codes and error codes as documented in its swagger. */
export function reasonOf(status: number, code: string, message: string, operation: string): HarborReason {
  if (status === 401 || code === 'UNAUTHORIZED') return 'HarborUnauthorized';
  if (status === 403 || code === 'FORBIDDEN') return 'HarborForbidden';
  if ((status === 404 || code === 'NOT_FOUND') && operation === 'create' && /project/i.test(message))
    return 'HarborProjectNotFound';
  if (status === 400 && /project/i.test(message) && /not (found|exist)/i.test(message)) return 'HarborProjectNotFound';
  if (status === 400 || code === 'BAD_REQUEST') return 'HarborBadRequest';
  if (status === 409 || code === 'CONFLICT') return 'HarborConflict';
  if (status >= 500 || status === 429) return 'HarborUnavailable';
  return 'HarborError';
}

function cut(text: string): string {
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

export class HarborClient {
  constructor(
    private readonly baseUrl: string,
    private readonly admin: HarborAdmin,
    private readonly timeoutMs: number,
  ) {}

  private async call<T>(operation: string, method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl.replace(/\/+$/, '')}/api/v2.0${path}`;
    const authorization = `Basic ${Buffer.from(`${this.admin.username}:${this.admin.password}`).toString('base64')}`;
    let response: Response;
    try {
      response = await withDeadline(this.timeoutMs, (signal) =>
        fetch(url, {
          method,
          signal,
          headers: {
            authorization,
            accept: 'application/json',
            ...(body ? { 'content-type': 'application/json' } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      );
    } catch (err) {
      const name = err instanceof Error ? (err.name === 'TokenRefreshError' ? 'TimeoutError' : err.name) : 'Error';
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new HarborApiError('HarborUnavailable', name, cut(`${method} ${path}: ${name}${cause}`));
    }
    const text = await response.text();
    if (!response.ok) {
      let code = `HTTP${response.status}`;
      let message = '';
      try {
        const first = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
        code = first?.code ?? code;
        message = first?.message ?? '';
      } catch {
        message = '';
      }
      throw new HarborApiError(
        reasonOf(response.status, code, message, operation),
        code,
        cut(`${method} ${path.split('?')[0]}: HTTP ${response.status} ${code}${message ? `: ${message}` : ''}`),
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  createRobot(robot: RobotCreate): Promise<RobotCreated> {
    return this.call('create', 'POST', '/robots', robot);
  }

  /** Every robot whose name contains `fragment` (Harbor's fuzzy match, q=name=~...), all pages. */
  async listRobots(fragment: string): Promise<Robot[]> {
    const all: Robot[] = [];
    for (let page = 1; ; page++) {
      const query = encodeURIComponent(`name=~${fragment}`);
      const robots = await this.call<Robot[]>('list', 'GET', `/robots?q=${query}&page=${page}&page_size=100`);
      all.push(...robots);
      if (robots.length < 100) return all;
    }
  }

  /** Deletes a robot; one already gone counts as deleted. */
  async deleteRobot(id: number): Promise<void> {
    try {
      await this.call('delete', 'DELETE', `/robots/${id}`);
    } catch (err) {
      if (err instanceof HarborApiError && err.code === 'NOT_FOUND') return;
      throw err;
    }
  }
}
