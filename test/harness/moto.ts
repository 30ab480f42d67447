// moto (PyPI `moto[server]`) as a local ECR + STS emulator for the integration tests. It is
// installed into a virtualenv in the ignored .cache/ folder of the clone (hack/setup.sh does the
// same on a fresh machine), then `python -m moto.server` runs on a free loopback port.
// Facts: GetAuthorizationToken returns base64 "AWS:<account>-auth-token" (the account of the
// calling principal: 123456789012 by default, the role's account after AssumeRole) and an expiresAt
// in 2015, always in the past. moto does not check signatures: any access key works.
import { access, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePorts,
  httpGet,
  run,
  runOk,
  spawnLogged,
  stopPid,
  testEnv,
  waitForProcess,
} from '../../harness/controlplane.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Keep in step with hack/setup.sh. */
export const MOTO_REQUIREMENT = 'moto[server]>=5.1,<6';
const VENV = path.join(REPO_ROOT, '.cache', 'moto-venv');
const PYTHON = path.join(VENV, 'bin', 'python');

export interface Moto {
  /** http://127.0.0.1:PORT: the endpoint for every AWS service. */
  url: string;
  logPath: string;
  stop(): Promise<void>;
}

/** Installs moto into .cache/moto-venv unless it is already importable there. Returns the venv's python. */
export async function ensureMoto(): Promise<string> {
  const installed = await access(PYTHON).then(
    async () => (await run(PYTHON, ['-c', 'import moto.server, flask'])).code === 0,
    () => false,
  );
  if (installed) return PYTHON;
  await mkdir(path.dirname(VENV), { recursive: true });
  await runOk('python3', ['-m', 'venv', VENV], { timeoutMs: 120_000 });
  await runOk(path.join(VENV, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', MOTO_REQUIREMENT], {
    timeoutMs: 600_000,
  });
  return PYTHON;
}

export async function startMoto(): Promise<Moto> {
  const python = await ensureMoto();
  const [port] = await freePorts(1);
  const url = `http://127.0.0.1:${port}`;
  const logPath = path.join(testEnv().dir, `moto-${port}.log`);
  const pid = await spawnLogged(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], logPath);
  await waitForProcess(pid, logPath, 'moto server', 60_000, async () => {
    try {
      return (await httpGet(`${url}/moto-api/`)).status < 500;
    } catch {
      return false;
    }
  });
  return { url, logPath, stop: () => stopPid(pid, python, 10_000) };
}
