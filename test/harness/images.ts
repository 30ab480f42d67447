// Container images for the real node of the e2e suite, made on this machine without any image
// registry: every image is a single-layer OCI image packed from a directory (system `tar` for the
// layer, the manifest and config written here), so nothing is ever downloaded.
//
// - the Pod sandbox ("pause") image: a 15-line C program compiled static with gcc;
// - the application image the test Pods run: Debian's busybox-static with its applet links;
// - the base image the operator's unmodified Dockerfile builds on (its NODE_IMAGE build arg): this
//   machine's Node.js with the libraries it links, npm, busybox as /bin/sh, and the machine's CA
//   bundle. That CA bundle is a build-time concern of this local test image only: the machine reaches
//   the npm registry through a TLS-intercepting proxy, and the Dockerfile's `npm install` needs to
//   trust it. The shipped Dockerfile and chart never see it.
// - the operator image itself: `buildah bud` of the repository's Dockerfile on that base, exported
//   as an OCI archive for `ctr images import`.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readlink, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { findOnPath, run, runOk } from '../../harness/controlplane.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  env?: string[];
  workingDir?: string;
}

/**
 * Write an OCI image layout at `layoutDir` holding one image tagged `tag`, whose only layer is the
 * content of `rootfs`. `name` (e.g. "registry.k8s.io/pause:3.10") is recorded as the
 * io.containerd.image.name annotation, which names the image on `ctr images import`.
 */
export async function ociLayoutFromDir(
  rootfs: string,
  layoutDir: string,
  tag: string,
  config: ImageConfig,
  name?: string,
): Promise<void> {
  const blobs = path.join(layoutDir, 'blobs', 'sha256');
  await rm(layoutDir, { recursive: true, force: true });
  await mkdir(blobs, { recursive: true });
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const putBlob = async (b: Buffer): Promise<{ digest: string; size: number }> => {
    const hex = sha(b);
    await writeFile(path.join(blobs, hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  // Reproducible: sorted names, root-owned, mtime 0.
  const layerTar = await runTarToBuffer([
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-C',
    rootfs,
    '-cf',
    '-',
    '.',
  ]);
  const layer = await putBlob(gzipSync(layerTar));
  const imageConfig: Record<string, unknown> = {
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...(config.env ?? [])],
  };
  if (config.entrypoint) imageConfig.Entrypoint = config.entrypoint;
  if (config.cmd) imageConfig.Cmd = config.cmd;
  if (config.user) imageConfig.User = config.user;
  if (config.workingDir) imageConfig.WorkingDir = config.workingDir;
  const configBlob = await putBlob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: imageConfig,
        rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layerTar)}`] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'regcred-operator test harness (images.ts)' }],
      }),
    ),
  );
  const manifest = await putBlob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  const annotations: Record<string, string> = { 'org.opencontainers.image.ref.name': tag };
  if (name) annotations['io.containerd.image.name'] = name;
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(layoutDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations }],
    }),
  );
}

/** An OCI layout directory as an oci-archive tar (what `ctr images import` reads). */
export async function ociArchive(layoutDir: string, archive: string): Promise<void> {
  await runOk('tar', ['-C', layoutDir, '-cf', archive, '.']);
}

/** The pause image's rootfs: /pause, a static binary that sleeps until SIGINT/SIGTERM and reaps children. */
export async function pauseRootfs(rootfs: string, workDir: string): Promise<void> {
  const source = path.join(workDir, 'pause.c');
  await mkdir(workDir, { recursive: true });
  await mkdir(rootfs, { recursive: true });
  await writeFile(source, PAUSE_C);
  const gcc = await findOnPath('gcc');
  if (!gcc) throw new Error('the pause image is compiled with gcc (apt: gcc libc6-dev)');
  await runOk(gcc, ['-Os', '-static', '-o', path.join(rootfs, 'pause'), source]);
}

/** A rootfs with Debian's busybox-static and one link per applet (sh, sleep, cat, id, ...). */
export async function busyboxRootfs(rootfs: string): Promise<void> {
  const busybox = await staticBusybox();
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) await mkdir(path.join(rootfs, d), { recursive: true });
  await copyFile(busybox, path.join(rootfs, 'bin', 'busybox'));
  await chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  await linkApplets(busybox, rootfs, 'bin');
  await writeFile(
    path.join(rootfs, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  await writeFile(path.join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/**
 * A stand-in for node:22-bookworm-slim made from this machine's Node.js: /usr/bin/node and the
 * shared libraries it links, npm (with the machine's global npmrc and CA bundle, see the header),
 * busybox as /bin/sh and /usr/bin/env, and the users root, node (1000) and nonroot (65532).
 */
export async function nodeBaseRootfs(rootfs: string): Promise<{ nodeVersion: string }> {
  const node = await realpath(process.execPath);
  const prefix = path.dirname(path.dirname(node)); // /usr for /usr/bin/node
  for (const d of [
    'bin',
    'usr/bin',
    'usr/local/bin',
    'usr/lib',
    'etc/ssl/certs',
    'usr/etc',
    'tmp',
    'root',
    'home/node',
    'proc',
    'sys',
    'dev',
  ]) {
    await mkdir(path.join(rootfs, d), { recursive: true });
  }
  await chmod(path.join(rootfs, 'tmp'), 0o1777);
  await copyFile(node, path.join(rootfs, 'usr', 'bin', 'node'));
  await chmod(path.join(rootfs, 'usr', 'bin', 'node'), 0o755);
  for (const lib of await sharedLibraries(node)) await copyIntoRootfs(lib, rootfs);
  // npm and corepack as the Node.js package lays them out, npm on PATH.
  await runOk('cp', ['-a', path.join(prefix, 'lib', 'node_modules'), path.join(rootfs, 'usr', 'lib', 'node_modules')]);
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', path.join(rootfs, 'usr', 'bin', 'npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', path.join(rootfs, 'usr', 'bin', 'npx'));
  const busybox = await staticBusybox();
  await copyFile(busybox, path.join(rootfs, 'bin', 'busybox'));
  await chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  await linkApplets(busybox, rootfs, 'bin');
  await symlink('/bin/busybox', path.join(rootfs, 'usr', 'bin', 'env'));
  await copyFile('/etc/ssl/certs/ca-certificates.crt', path.join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
  const machineNpmrc = path.join(prefix, 'etc', 'npmrc');
  const npmrc = (await readIfExists(machineNpmrc)) ?? '';
  await writeFile(
    path.join(rootfs, 'usr', 'etc', 'npmrc'),
    `${npmrc.trimEnd()}\ncafile=/etc/ssl/certs/ca-certificates.crt\n`,
  );
  await writeFile(
    path.join(rootfs, 'etc', 'passwd'),
    [
      'root:x:0:0:root:/root:/bin/sh',
      'node:x:1000:1000::/home/node:/bin/sh',
      'nonroot:x:65532:65532::/home/nonroot:/bin/false',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(rootfs, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\nnonroot:x:65532:\n');
  return { nodeVersion: process.version };
}

export interface Buildah {
  /** `buildah --root R --runroot RR` prefix args: a storage of the run's own, removed with it. */
  args: string[];
  bin: string;
  root: string;
  runroot: string;
}

/** buildah with its image storage under `dir` (not the machine's /var/lib/containers). */
export async function buildahIn(dir: string): Promise<Buildah> {
  const bin = await findOnPath('buildah');
  if (!bin) throw new Error('building the operator image needs buildah (apt: buildah)');
  const root = path.join(dir, 'root');
  const runroot = path.join(dir, 'runroot');
  return { bin, root, runroot, args: ['--root', root, '--runroot', runroot, '--storage-driver', 'overlay'] };
}

/**
 * Build the operator image from the repository's unmodified Dockerfile on `baseLayout` (an OCI
 * layout from nodeBaseRootfs), tag it `name`, and write it as an oci-archive to `archive`.
 * Returns the build's output (for the log) and how long it took.
 */
export async function buildOperatorImage(
  buildah: Buildah,
  baseLayout: string,
  name: string,
  archive: string,
): Promise<{ seconds: number; log: string }> {
  const started = Date.now();
  const base = 'localhost/regcred-e2e-node-base:local';
  // Into buildah's storage under a name (`buildah pull oci:DIR` would name it after the path).
  const skopeo = await findOnPath('skopeo');
  if (!skopeo) throw new Error('loading the base image needs skopeo (apt: skopeo)');
  await runOk(
    skopeo,
    [
      '--insecure-policy',
      'copy',
      '-q',
      `oci:${baseLayout}:local`,
      `containers-storage:[overlay@${buildah.root}+${buildah.runroot}]${base}`,
    ],
    { timeoutMs: 300_000 },
  );
  const build = await run(
    buildah.bin,
    [
      ...buildah.args,
      'bud',
      '--isolation',
      'chroot',
      '--network',
      'host',
      '--pull-never',
      '--layers=false',
      '--build-arg',
      `NODE_IMAGE=${base}`,
      '-f',
      path.join(REPO_ROOT, 'Dockerfile'),
      '-t',
      name,
      REPO_ROOT,
    ],
    { timeoutMs: 900_000 },
  );
  const log = `${build.stdout}${build.stderr}`;
  if (build.code !== 0)
    throw new Error(
      `buildah bud of the Dockerfile failed (exit ${build.code}):\n${log.split('\n').slice(-40).join('\n')}`,
    );
  await rm(archive, { force: true });
  await runOk(buildah.bin, [...buildah.args, 'push', '--quiet', name, `oci-archive:${archive}:${name}`], {
    timeoutMs: 300_000,
  });
  return { seconds: (Date.now() - started) / 1000, log };
}

/** Remove buildah's working containers and its storage (unmounting what it mounted). */
export async function removeBuildahStorage(buildah: Buildah, dir: string): Promise<void> {
  await run(buildah.bin, [...buildah.args, 'rm', '--all']);
  await run(buildah.bin, [...buildah.args, 'rmi', '--all', '--force']);
  // overlay mounts of its storage, if a build was interrupted
  const mounts = (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) await run('umount', ['-l', m]);
  await rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

const PAUSE_C = `/* the Pod sandbox process: sleep until SIGINT/SIGTERM, reap children */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
static void die(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction a = {0}, r = {0};
  a.sa_handler = die; sigaction(SIGINT, &a, NULL); sigaction(SIGTERM, &a, NULL);
  r.sa_handler = reap; r.sa_flags = SA_NOCLDSTOP; sigaction(SIGCHLD, &r, NULL);
  for (;;) pause();
}
`;

async function staticBusybox(): Promise<string> {
  const busybox = '/bin/busybox';
  const res = await run('file', ['-L', busybox]).catch(() => undefined);
  try {
    await stat(busybox);
  } catch {
    throw new Error("the test images need Debian's busybox-static (apt: busybox-static)");
  }
  if (res && res.code === 0 && /dynamically linked/.test(res.stdout)) {
    throw new Error('/bin/busybox is dynamically linked: the test images need busybox-static (apt: busybox-static)');
  }
  return busybox;
}

/** One symlink per busybox applet under rootfs/dir (e.g. bin/sh -> busybox). */
async function linkApplets(busybox: string, rootfs: string, dir: string): Promise<void> {
  const applets = (await runOk(busybox, ['--list']))
    .split('\n')
    .map((a) => a.trim())
    .filter((a) => a && a !== 'busybox');
  for (const applet of applets) {
    const link = path.join(rootfs, dir, applet);
    try {
      await readlink(link);
    } catch {
      await symlink('busybox', link).catch(() => undefined);
    }
  }
}

/** The absolute paths of the shared libraries `binary` loads (ldd), the dynamic loader included. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await runOk('ldd', [binary]);
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.add(m[1]);
  }
  return [...libs];
}

/** Copy a file into rootfs at the same path, and its resolved target when it is a symlink. */
async function copyIntoRootfs(file: string, rootfs: string): Promise<void> {
  const target = path.join(rootfs, file);
  await mkdir(path.dirname(target), { recursive: true });
  await copyFile(await realpath(file), target);
  await chmod(target, 0o755);
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function runTarToBuffer(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(chunks))
        : reject(new Error(`tar ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}
