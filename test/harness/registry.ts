// A real container registry on loopback (Debian's docker-registry = distribution 2.8) with htpasswd
// authentication over TLS, and a real client (skopeo) to check whether a .dockerconfigjson
// authenticates against it. Facts that shaped this file:
// - distribution only accepts bcrypt htpasswd entries (`htpasswd -B`) and reads the file once at
//   start-up, so every user is added before the registry starts;
// - skopeo (Go TLS) rejects a certificate without an IP SAN for 127.0.0.1, and takes the CA from a
//   directory of *.crt files (--cert-dir);
// - skopeo ignores an `auths` entry that has no `auth` field (base64 "user:password"), so
//   dockerConfigJson() always writes it, as kubectl create secret docker-registry does.

import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  findOnPath,
  freePorts,
  httpGet,
  keepDirs,
  run,
  runOk,
  spawnLogged,
  stopPid,
  waitForProcess,
} from '../../harness/controlplane.js';
import { selfSignedCertificate } from '../../harness/tls.js';

export interface RegistryUser {
  username: string;
  password: string;
}

export interface InspectResult {
  ok: boolean;
  /** The failure was an HTTP 401 / "unauthorized" (wrong or missing credentials). */
  unauthorized: boolean;
  /** skopeo's stdout + stderr. */
  output: string;
}

export interface Registry {
  /** "127.0.0.1:PORT": the key to use in a dockerconfigjson `auths` map. */
  host: string;
  /** Dir with ca.crt, for skopeo --cert-dir. */
  certDir: string;
  /** A pushed image reference without transport, e.g. "127.0.0.1:PORT/regcred/probe:1". */
  image: string;
  /** Work dir (config, htpasswd, storage, log). */
  dir: string;
  /** The registry's self-signed certificate (the CA a client must trust). */
  caFile: string;
  /** Its TLS key (to serve something else with the same certificate). */
  keyFile: string;
  /** Requests the registry answered (its own access log), optionally only those with this User-Agent. */
  requests(userAgent?: string): Promise<number>;
  /** `skopeo inspect` of `image` (default: the probe image) with `dockerConfigJson` as the authfile. */
  inspect(dockerConfigJson: string, image?: string): Promise<InspectResult>;
  /**
   * Push the image of an OCI layout (tag `layoutTag`) to `repository:tag` as `user` (default: the first user); returns
   * the image reference.
   */
  push(layoutDir: string, layoutTag: string, repositoryAndTag: string, user?: RegistryUser): Promise<string>;
  /**
   * Replace the users (distribution reads its htpasswd file only at start-up): stop the registry and
   * start it again on the same port, certificate and storage with the new htpasswd.
   */
  setUsers(users: RegistryUser[]): Promise<void>;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  /** Users allowed to pull and push; the first one pushes the probe image. At least one. */
  users: RegistryUser[];
  dir?: string;
  /**
   * Token authentication instead of htpasswd: called with the registry's TLS certificate and key
   * (to serve the token realm with the same trust), returns the registry's `auth.token` settings.
   * The users are then the token server's business; `users[0]` must be allowed to push.
   */
  tokenAuth?: (tls: {
    cert: string;
    key: string;
    dir: string;
  }) => Promise<{ realm: string; service: string; issuer: string; rootCertBundle: string }>;
  /**
   * The address to listen on (default 127.0.0.1). containerd talks plain HTTP to a loopback
   * registry that has no hosts.toml entry, so a registry the node must reach over TLS without
   * trusting it listens on the node's bridge address instead (the e2e suite's gateway).
   */
  address?: string;
  /** The port to listen on (default: a free one), e.g. one a kubelet's matchImages already names. */
  port?: number;
}

/** A .dockerconfigjson document with a single entry, in the shape kubectl writes (auth included). */
export function dockerConfigJson(host: string, username: string, password: string): string {
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  return JSON.stringify({ auths: { [host]: { username, password, auth } } });
}

/** Start a TLS + htpasswd registry on a free loopback port and push a one-layer probe image to it. */
export async function startRegistry(opts: StartRegistryOptions): Promise<Registry> {
  if (opts.users.length === 0) throw new Error('startRegistry needs at least one user');
  const registryBin = await findOnPath('docker-registry');
  const skopeo = await findOnPath('skopeo');
  const htpasswd = await findOnPath('htpasswd');
  if (!registryBin || !skopeo || !htpasswd) {
    throw new Error(
      'startRegistry needs docker-registry, skopeo and htpasswd (apt: docker-registry skopeo apache2-utils)',
    );
  }

  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'regcred-registry-')));
  const certs = path.join(dir, 'certs');
  const certDir = path.join(dir, 'client-certs');
  await Promise.all([certs, certDir, path.join(dir, 'data')].map((d) => mkdir(d, { recursive: true })));
  const port = opts.port ?? (await freePorts(1))[0];
  const address = opts.address ?? '127.0.0.1';
  const host = `${address}:${port}`;
  const image = `${host}/regcred/probe:1`;
  const logPath = path.join(dir, 'registry.log');
  let pid: number | undefined;

  const stop = async (): Promise<void> => {
    if (pid !== undefined) await stopPid(pid, registryBin);
    if (!keepDirs()) await rm(dir, { recursive: true, force: true });
  };

  const inspect = async (config: string, ref = image): Promise<InspectResult> => {
    const authfile = path.join(dir, `auth-${randomBytes(6).toString('hex')}.json`);
    await writeFile(authfile, config, { mode: 0o600 });
    try {
      const res = await run(
        skopeo,
        ['--command-timeout', '60s', 'inspect', '--authfile', authfile, '--cert-dir', certDir, `docker://${ref}`],
        { timeoutMs: 90_000 },
      );
      const output = `${res.stdout}${res.stderr}`;
      const ok = res.code === 0;
      return { ok, unauthorized: !ok && /unauthorized|\b401\b|authentication required/i.test(output), output };
    } finally {
      await rm(authfile, { force: true });
    }
  };

  const crt = path.join(certs, 'registry.crt');
  const key = path.join(certs, 'registry.key');
  const htpasswdFile = path.join(dir, 'htpasswd');
  let users = opts.users;
  const writeHtpasswd = async (list: RegistryUser[]): Promise<void> => {
    // bcrypt entries; -i reads the password from stdin (no quoting issues on argv).
    let entries = '';
    for (const u of list) entries += await runOk(htpasswd, ['-niB', u.username], { input: `${u.password}\n` });
    await writeFile(htpasswdFile, entries);
  };
  const config = path.join(dir, 'config.yml');
  const launch = async (): Promise<void> => {
    pid = await spawnLogged(registryBin, ['serve', config], logPath);
    const ca = await readFile(crt);
    // Up = /v2/ answers; without credentials that answer is 401.
    await waitForProcess(pid, logPath, 'registry /v2/', 30_000, async () => {
      const res = await httpGet(`https://${host}/v2/`, { ca });
      return res.status === 401 || res.status === 200;
    });
  };
  const push = async (
    layoutDir: string,
    layoutTag: string,
    repositoryAndTag: string,
    user = users[0],
  ): Promise<string> => {
    const ref = `${host}/${repositoryAndTag}`;
    const pushAuth = path.join(dir, `push-auth-${randomBytes(6).toString('hex')}.json`);
    await writeFile(pushAuth, dockerConfigJson(host, user.username, user.password), { mode: 0o600 });
    try {
      await runOk(
        skopeo,
        [
          // The pushed images are unsigned and local: skip /etc/containers/policy.json entirely.
          '--insecure-policy',
          '--command-timeout',
          '60s',
          'copy',
          '-q',
          '--dest-authfile',
          pushAuth,
          '--dest-cert-dir',
          certDir,
          `oci:${layoutDir}:${layoutTag}`,
          `docker://${ref}`,
        ],
        { timeoutMs: 90_000 },
      );
    } finally {
      await rm(pushAuth, { force: true });
    }
    return ref;
  };
  const setUsers = async (next: RegistryUser[]): Promise<void> => {
    if (next.length === 0) throw new Error('setUsers needs at least one user');
    if (pid !== undefined) await stopPid(pid, registryBin);
    users = next;
    await writeHtpasswd(users);
    await launch();
  };

  try {
    // TLS: self-signed, with the IP SAN Go clients insist on.
    await selfSignedCertificate({
      subject: `/CN=${address}`,
      days: 30,
      keyFile: key,
      certFile: crt,
      extensions: [`subjectAltName=IP:${address},DNS:localhost`],
    });
    await copyFile(crt, path.join(certDir, 'ca.crt'));

    const token = opts.tokenAuth ? await opts.tokenAuth({ cert: crt, key, dir }) : undefined;
    if (!token) await writeHtpasswd(users);

    // JSON-quoted scalars are valid YAML and safe for any path.
    const q = JSON.stringify;
    await writeFile(
      config,
      [
        'version: 0.1',
        'log: {level: info, fields: {service: registry}}',
        `storage: {filesystem: {rootdirectory: ${q(path.join(dir, 'data'))}}, delete: {enabled: true}}`,
        `http: {addr: ${q(host)}, secret: ${q(randomBytes(16).toString('hex'))}, tls: {certificate: ${q(crt)}, ` +
          `key: ${q(key)}}}`,
        token
          ? `auth: {token: {realm: ${q(token.realm)}, service: ${q(token.service)}, issuer: ${q(token.issuer)}, ` +
            `rootcertbundle: ${q(token.rootCertBundle)}}}`
          : `auth: {htpasswd: {realm: regcred-test-registry, path: ${q(htpasswdFile)}}}`,
        '',
      ].join('\n'),
    );

    await launch();

    // Push the probe image with the first user's credentials.
    const layout = await writeProbeImageLayout(path.join(dir, 'oci'));
    await push(layout, '1', 'regcred/probe:1');
  } catch (err) {
    await stop().catch(() => undefined);
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`registry failed to start: ${message}`);
  }

  const requests = async (userAgent?: string): Promise<number> => {
    // distribution writes one access-log line per request, in Apache's combined format:
    // 127.0.0.1 - - [29/Nov/2026:14:27:14 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "user agent"
    const log = await readFile(logPath, 'utf8').catch(() => '');
    const access = /^\S+ - \S+ \[[^\]]*\] "[A-Z]+ \S+ HTTP\/[\d.]+" \d+ \d+ "[^"]*" "(.*)"$/;
    return log.split('\n').filter((line) => {
      const match = access.exec(line);
      return match !== null && (userAgent === undefined || match[1] === userAgent);
    }).length;
  };
  return { host, certDir, caFile: crt, keyFile: key, image, dir, inspect, push, requests, setUsers, stop };
}

/**
 * An OCI image layout at `dir` holding one image tagged "1": a single gzipped tar layer with one
 * small file. Built by hand so no image has to be downloaded.
 */
async function writeProbeImageLayout(dir: string): Promise<string> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const putBlob = async (b: Buffer): Promise<{ digest: string; size: number }> => {
    const hex = sha(b);
    await writeFile(path.join(blobs, hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };

  const tar = tarOneFile('hello.txt', Buffer.from('hello from regcred-operator tests\n'));
  const layer = await putBlob(gzipSync(tar));
  const config = await putBlob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [`sha256:${sha(tar)}`] },
      }),
    ),
  );
  const manifest = await putBlob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': '1' },
        },
      ],
    }),
  );
  return dir;
}

/** A ustar archive with a single regular file (mode 0644, uid/gid 0, mtime 0). */
function tarOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number): void => {
    header.write(value, offset, length, 'ascii');
  };
  const octal = (n: number, length: number): string => `${n.toString(8).padStart(length - 1, '0')}\0`;
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(content.length, 12), 124, 12);
  put(octal(0, 12), 136, 12); // mtime
  put('        ', 148, 8); // checksum field counts as spaces while summing
  put('0', 156, 1); // regular file
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}
