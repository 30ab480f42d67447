// A stand-in for Harbor's robot API (Harbor's services cannot be built on this machine), on plain
// HTTP on loopback. It implements exactly the Harbor API v2.0 endpoints the harbor provider uses,
// with Harbor's request and response shapes (swagger: RobotCreate, RobotCreated, Robot) and error
// bodies ({"errors":[{"code":"NOT_FOUND","message":...}]}):
//   POST /api/v2.0/robots, GET /api/v2.0/robots?q=name=~...&page=&page_size=, DELETE /api/v2.0/robots/{id}
// Callers authenticate with HTTP basic auth: the admin may manage robots; any other known user gets
// 403 FORBIDDEN; unknown credentials 401 UNAUTHORIZED. Each robot it creates becomes a real user of
// a REAL registry: it is added to the users of its token server (token-server.ts) with pull access
// to its projects' repositories ("project/*"), and removed from it when the robot is deleted.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TokenServer } from './token-server.js';

export interface StandInRobot {
  id: number;
  name: string;
  description: string;
  secret: string;
  level: string;
  duration: number;
  creation_time: string;
  expires_at: number;
  projects: string[];
}

export interface HarborStandIn {
  url: string;
  robots: Map<number, StandInRobot>;
  /** Robot API requests answered, by method (refusals included: 401, 403, 404, 503). */
  requests: Record<string, number>;
  /** The same, per identity name prefix (regcred-<8 hex>-) a request is about. */
  requestsByIdentity: Record<string, Record<string, number>>;
  /** Robots created through the API so far. */
  created: number;
  /** The secret of every robot it ever created, deleted ones included (none may be reported). */
  issued: string[];
  /** While true every request is answered 503 (Harbor down). */
  down: boolean;
  /**
   * Seconds a robot's day lasts (default 86400): a test-only compression of Harbor's lifetimes so
   * that a rotation of a 1d robot happens within a test. Applies to robots created from then on.
   */
  secondsPerDay: number;
  /** Awaited before a DELETE of a robot is answered (the robot still exists meanwhile). */
  onDelete?: (robot: StandInRobot) => Promise<void>;
  /** Adds a robot nobody but the test owns (never to be touched), or with `description` one its author names. */
  addForeignRobot(name: string, projects: string[], description?: string): StandInRobot;
  /** Deletes a robot behind the operator's back. */
  deleteByHand(id: number): void;
  stop(): Promise<void>;
}

export interface HarborStandInOptions {
  admin: { username: string; password: string };
  /** Known users without the right to manage robots (answered 403). */
  others?: Array<{ username: string; password: string }>;
  projects: string[];
  /** The registry's token server: robots are its users until deleted. */
  tokenServer: Pick<TokenServer, 'addUser' | 'removeUser'>;
}

const error = (status: number, code: string, message: string) => ({ status, json: { errors: [{ code, message }] } });

export async function startHarborStandIn(opts: HarborStandInOptions): Promise<HarborStandIn> {
  const robots = new Map<number, StandInRobot>();
  const requests: Record<string, number> = {};
  let nextId = 1;
  const grant = (robot: StandInRobot) =>
    opts.tokenServer.addUser({
      username: robot.name,
      password: robot.secret,
      pull: robot.projects.map((p) => `${p}/*`),
    });
  const revoke = (robot: StandInRobot) => opts.tokenServer.removeUser(robot.name, robot.secret);
  const state: HarborStandIn = {
    url: '',
    robots,
    requests,
    down: false,
    created: 0,
    issued: [],
    requestsByIdentity: {},
    secondsPerDay: 86_400,
    addForeignRobot(name, projects, description = 'made by hand') {
      const robot: StandInRobot = {
        id: nextId++,
        name: `robot$${name}`,
        description,
        secret: `foreign-${nextId}-Secret1`,
        level: 'system',
        duration: 30,
        creation_time: new Date().toISOString(),
        expires_at: Math.floor(Date.now() / 1000) + 30 * 86_400,
        projects,
      };
      robots.set(robot.id, robot);
      state.created++;
      grant(robot);
      return robot;
    },
    deleteByHand(id) {
      const robot = robots.get(id);
      if (robot) revoke(robot);
      robots.delete(id);
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const answer = async (req: http.IncomingMessage, body: string): Promise<{ status: number; json?: unknown }> => {
    const url = new URL(req.url ?? '/', 'http://harbor');
    const method = req.method ?? 'GET';
    if (!url.pathname.startsWith('/api/v2.0/robots')) return error(404, 'NOT_FOUND', 'not found');
    requests[method] = (requests[method] ?? 0) + 1;
    const robotId = /^\/api\/v2\.0\/robots\/(\d+)$/.exec(url.pathname)?.[1];
    const about =
      method === 'GET'
        ? (url.searchParams.get('q') ?? '')
        : method === 'POST'
          ? body
          : (robots.get(Number(robotId))?.name ?? '');
    const prefix = /regcred-[0-9a-f]{8}-/.exec(about)?.[0];
    if (prefix) {
      const counts = (state.requestsByIdentity[prefix] ??= {});
      counts[method] = (counts[method] ?? 0) + 1;
    }
    if (state.down) return error(503, 'SERVICE_UNAVAILABLE', 'service unavailable');
    const [scheme, encoded] = String(req.headers.authorization ?? '').split(' ');
    const [username, password] = Buffer.from(encoded ?? '', 'base64')
      .toString()
      .split(/:(.*)/s);
    const known = [opts.admin, ...(opts.others ?? [])].find((u) => u.username === username && u.password === password);
    if (scheme !== 'Basic' || !known) return error(401, 'UNAUTHORIZED', 'unauthorized');
    if (known !== opts.admin) return error(403, 'FORBIDDEN', `${username} has no permission to manage robots`);
    if (method === 'POST' && url.pathname === '/api/v2.0/robots') {
      const create = JSON.parse(body) as {
        name: string;
        description?: string;
        level: string;
        duration: number;
        permissions: Array<{ kind: string; namespace: string; access: Array<{ resource: string; action: string }> }>;
      };
      const projects = create.permissions.map((p) => p.namespace);
      const unknown = projects.find((p) => !opts.projects.includes(p));
      if (unknown !== undefined) return error(404, 'NOT_FOUND', `project ${unknown} not found`);
      if ([...robots.values()].some((r) => r.name === `robot$${create.name}`))
        return error(409, 'CONFLICT', `robot account robot$${create.name} already exists`);
      const now = Date.now();
      const robot: StandInRobot = {
        id: nextId++,
        name: `robot$${create.name}`,
        description: create.description ?? '',
        secret: `Robot${Math.random().toString(36).slice(2)}Secret9`,
        level: create.level,
        duration: create.duration,
        creation_time: new Date(now).toISOString(),
        expires_at: create.duration < 0 ? -1 : Math.floor(now / 1000) + create.duration * state.secondsPerDay,
        projects,
      };
      robots.set(robot.id, robot);
      state.created++;
      state.issued.push(robot.secret);
      grant(robot);
      const { id, name, secret, creation_time, expires_at } = robot;
      return { status: 201, json: { id, name, secret, creation_time, expires_at } };
    }
    if (method === 'GET' && url.pathname === '/api/v2.0/robots') {
      const fragment = /^name=~(.*)$/.exec(url.searchParams.get('q') ?? '')?.[1] ?? '';
      const page = Number(url.searchParams.get('page') ?? 1);
      const size = Number(url.searchParams.get('page_size') ?? 10);
      const matching = [...robots.values()].filter((r) => r.name.includes(fragment));
      return {
        status: 200,
        json: matching
          .slice((page - 1) * size, page * size)
          .map(({ secret: _secret, projects: _projects, ...robot }) => robot),
      };
    }
    const id = /^\/api\/v2\.0\/robots\/(\d+)$/.exec(url.pathname)?.[1];
    if (method === 'DELETE' && id !== undefined) {
      const robot = robots.get(Number(id));
      if (!robot) return error(404, 'NOT_FOUND', `robot ${id} not found`);
      await state.onDelete?.(robot);
      state.deleteByHand(robot.id);
      return { status: 200 };
    }
    return error(405, 'METHOD_NOT_ALLOWED', 'method not allowed');
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void answer(req, Buffer.concat(chunks).toString('utf8')).then(({ status, json }) => {
        res.writeHead(status, json === undefined ? {} : { 'content-type': 'application/json' });
        res.end(json === undefined ? '' : JSON.stringify(json));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
