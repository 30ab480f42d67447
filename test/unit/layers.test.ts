// Folders depend on each other in one direction only. Every import in src/ goes to its own area or
// to an area of a lower layer; an import the other way (runtime/ importing k8s/, providers/
// importing controller/, ...) fails here, naming the file and the import.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * Lowest first. An area is a folder of src/ or a file at its top. Areas of one layer do not import
 * each other.
 *   api, dockerconfig   the API's names and schema; the pull-secret format (pure)
 *   runtime             the generic controller runtime: clock, backoff, rate limit, work queue,
 *                       worker pool, informer, leader election (knows no HTTP and no domain)
 *   k8s                 the API server: REST client, typed errors, resources, list+watch, leases
 *   providers, registry where credentials come from; talking to registries (image references, the
 *                       kubelet's key matching, the v2 check, the verification scheduler)
 *   config ... events   the process's services
 *   controller          the RegistryCredential controller
 *   kubelet             the kubelet credential provider's endpoint (reads the caches, decides with the
 *                       controller's selection rules; writes nothing but TokenReviews)
 *   webhook             the Pod injection admission webhook (reads the caches, decides with the
 *                       controller's selection rules and the kubelet's key matching; writes nothing)
 *   operator            wiring: caches, controller, workers, probes
 *   main, cli           the processes: the operator, and the kubectl plugin (kubectl-regcred)
 */
const LAYERS: string[][] = [
  ['api', 'dockerconfig.ts'],
  ['runtime'],
  ['k8s'],
  ['providers', 'registry'],
  ['config.ts', 'logger.ts', 'metrics.ts', 'health.ts', 'events.ts'],
  ['controller'],
  ['kubelet', 'webhook'],
  ['operator.ts'],
  ['main.ts', 'cli'],
];

function areaOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0]!;
}

function layerOf(area: string): number {
  const layer = LAYERS.findIndex((areas) => areas.includes(area));
  if (layer < 0) throw new Error(`src/${area} is in no layer of test/unit/layers.test.ts: add it where it belongs`);
  return layer;
}

/** Why `from` may not import `to` (both paths under src/), or undefined when it may. */
export function violation(from: string, to: string): string | undefined {
  const fromArea = areaOf(from);
  const toArea = areaOf(to);
  if (fromArea === toArea) return undefined;
  const fromLayer = layerOf(fromArea);
  const toLayer = layerOf(toArea);
  if (toLayer < fromLayer) return undefined;
  const why = toLayer === fromLayer ? 'in the same layer as' : 'in a higher layer than';
  return `${path.relative(SRC, from)} imports ${path.relative(SRC, to)}: ${toArea} is ${why} ${fromArea}`;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative module specifiers of `import ... from`, `export ... from`, `import '...'` and `import('...')`. */
export function importsOf(text: string): string[] {
  const specifiers: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const match of text.matchAll(pattern)) specifiers.push(match[1]!);
  return specifiers;
}

function resolve(from: string, specifier: string): string {
  return path.resolve(path.dirname(from), specifier.replace(/\.js$/, '.ts'));
}

describe('import directions in src/', () => {
  const files = sourceFiles(SRC);

  test('every file of src/ belongs to a layer', () => {
    for (const file of files) expect(() => layerOf(areaOf(file))).not.toThrow();
  });

  test('no import goes against the layers', () => {
    const problems = files.flatMap((file) =>
      importsOf(readFileSync(file, 'utf8')).flatMap((specifier) => violation(file, resolve(file, specifier)) ?? []),
    );
    expect(problems).toEqual([]);
  });

  test('nothing under src/providers/ imports from src/controller/ (providers are plug-ins of the controller, not parts of it)', () => {
    const providerFiles = files.filter((file) => areaOf(file) === 'providers');
    expect(providerFiles.length).toBeGreaterThan(5);
    const intoController = providerFiles.flatMap((file) =>
      importsOf(readFileSync(file, 'utf8'))
        .filter((specifier) => areaOf(resolve(file, specifier)) === 'controller')
        .map((specifier) => `${path.relative(SRC, file)} imports ${specifier}`),
    );
    expect(intoController).toEqual([]);
  });

  test('src/controller/ knows no source kind: it uses providers/ only through index.ts and provider.ts', () => {
    const kinds =
      /\.(basicAuth|dockerConfig|ecr|ecrPublic|gcp|acr)\b|['"](basicAuth|dockerConfig|ecr|ecrPublic|gcp|acr)['"]/;
    const problems = files
      .filter((file) => areaOf(file) === 'controller')
      .flatMap((file) => {
        const text = readFileSync(file, 'utf8');
        const found: string[] = [];
        const code = text.replace(/\/\/.*$/gm, ''); // comments may name kinds
        const kind = kinds.exec(code);
        if (kind) found.push(`${path.relative(SRC, file)} names the source kind ${kind[0]}`);
        for (const specifier of importsOf(text)) {
          const target = path.relative(SRC, resolve(file, specifier));
          if (target.startsWith('providers/') && !['providers/index.ts', 'providers/provider.ts'].includes(target))
            found.push(`${path.relative(SRC, file)} imports ${target}`);
        }
        return found;
      });
    expect(problems).toEqual([]);
  });

  // ---- the controllers of src/controller/ (reconciler.ts lists them) ----
  const controllerDir = path.join(SRC, 'controller');
  const controllerFiles = files.filter((file) => path.dirname(file) === controllerDir);
  const name = (file: string) => path.basename(file);
  const isController = (file: string) => name(file).endsWith('controller.ts');
  /** The controller-area modules `file` imports, by file name, with whether each import is type-only. */
  const localImports = (file: string) => {
    const text = readFileSync(file, 'utf8');
    return [...text.matchAll(/import\s+(type\s+)?[^;]*?from\s*['"](\.\/[^'"]+)['"]/g)].map((match) => ({
      module: path.basename(match[2]!).replace(/\.js$/, '.ts'),
      typeOnly: match[1] !== undefined,
    }));
  };
  const code = (file: string) => readFileSync(file, 'utf8').replace(/\/\/.*$/gm, '');

  test('one controller per concern: credential, namespace, pod recovery, readiness', () => {
    expect(controllerFiles.filter(isController).map(name).sort()).toEqual([
      'credentialcontroller.ts',
      'namespacecontroller.ts',
      'podrecoverycontroller.ts',
      'readinesscontroller.ts',
    ]);
  });

  test('controllers do not import each other; only the router (reconciler.ts) imports them', () => {
    const problems = controllerFiles.flatMap((file) =>
      localImports(file)
        .filter(({ module }) => module.endsWith('controller.ts') && name(file) !== 'reconciler.ts')
        .map(({ module }) => `controller/${name(file)} imports ${module}`),
    );
    expect(problems).toEqual([]);
  });

  test('the mappers and the reporting layer import no controller, and read decisions as types only', () => {
    const problems = ['mappers.ts', 'reporting.ts'].flatMap((file) =>
      localImports(path.join(controllerDir, file))
        .filter(
          ({ module, typeOnly }) =>
            module.endsWith('controller.ts') ||
            module === 'reconciler.ts' ||
            (module === 'credentialstate.ts' && !typeOnly),
        )
        .map(({ module }) => `controller/${file} imports ${module}`),
    );
    expect(problems).toEqual([]);
  });

  test.each<[string, string, RegExp]>([
    ['the status subresource', 'readinesscontroller.ts', /\.updateStatus\(/],
    ['evictions', 'podrecoverycontroller.ts', /\.evictPod\(/],
    ['the finalizer', 'credentialcontroller.ts', /\.setFinalizers\(/],
    ['the namespace writes (apply.ts)', 'namespacecontroller.ts', /new NamespaceWriter\(/],
  ])('one writer: %s only from controller/%s', (_what, owner, call) => {
    const callers = controllerFiles.filter((file) => call.test(code(file))).map(name);
    expect(callers).toEqual([owner]);
  });

  test.each([
    'changes.ts',
    'desired.ts',
    'keys.ts',
    'namepatterns.ts',
    'podrecovery.ts',
    'secrettemplate.ts',
    'serviceaccounts.ts',
    'status.ts',
    'timing.ts',
    'verification.ts',
  ])('controller/%s decides only: it imports nothing that talks to the API, the queue or the metrics', (file) => {
    const text = readFileSync(path.join(controllerDir, file), 'utf8');
    const talking = importsOf(text).filter((specifier) =>
      /\/k8s\/|\/runtime\/(workqueue|workerpool|informer)\.js$|\/(metrics|events)\.js$|\.\/(apply|reporting|reconciler|mappers)\.js$|controller\.js$/.test(
        specifier,
      ),
    );
    expect(talking).toEqual([]);
  });

  test.each<[string, string, string, boolean]>([
    ['the REST client uses the runtime clock', 'k8s/client.ts', 'runtime/clock.ts', true],
    ['the informer may not use the REST client', 'runtime/informer.ts', 'k8s/client.ts', false],
    ['the runtime may not use the metrics', 'runtime/workqueue.ts', 'metrics.ts', false],
    ['a provider may not use the controller', 'providers/ecr.ts', 'controller/status.ts', false],
    ['the controller uses providers', 'controller/reconciler.ts', 'providers/index.ts', true],
    ['files of one area import each other', 'controller/mappers.ts', 'controller/keys.ts', true],
    ['two areas of one layer do not', 'api/v1alpha1.ts', 'dockerconfig.ts', false],
    ['wiring uses everything', 'operator.ts', 'controller/reconciler.ts', true],
  ])('the checker itself: %s', (_name, from, to, allowed) => {
    expect(violation(path.join(SRC, from), path.join(SRC, to)) === undefined).toBe(allowed);
  });

  test.each<[string, string[]]>([
    ["import { a } from './a.js';", ['./a.js']],
    ["import type { B } from '../b/b.js';", ['../b/b.js']],
    ["export { c } from './c.js';", ['./c.js']],
    ["import './side-effect.js';", ['./side-effect.js']],
    ["const m = await import('../dynamic.js');", ['../dynamic.js']],
    ["import { pino } from 'pino';", []],
    ['import {\n  a,\n  b,\n} from "./multi.js";', ['./multi.js']],
  ])('the import scanner reads %j', (text, expected) => {
    expect(importsOf(text)).toEqual(expected);
  });
});

describe('the benchmark and the harness library', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const filesUnder = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'results' ? [] : filesUnder(relative);
      return /\.(ts|mjs)$/.test(entry.name) ? [relative] : [];
    });

  test.each(['bench', 'harness'])('nothing under %s/ imports from test/', (dir) => {
    const files = filesUnder(dir);
    expect(files.length).toBeGreaterThan(2);
    const intoTests = files.flatMap((file) =>
      importsOf(readFileSync(path.join(ROOT, file), 'utf8'))
        .filter((specifier) =>
          path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), specifier)).startsWith('test'),
        )
        .map((specifier) => `${file} imports ${specifier}`),
    );
    expect(intoTests).toEqual([]);
  });

  test('the benchmark has one module per phase under bench/phases/', () => {
    const phases = filesUnder('bench/phases').map((file) => path.basename(file, '.ts'));
    expect(phases).toEqual(
      expect.arrayContaining(['fan-out', 'new-namespaces', 'rotation', 'trickle', 'idle', 'restart']),
    );
  });
});
