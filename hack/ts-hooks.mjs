// Node module customization hooks that let plain `node` run this repo's TypeScript sources (the demo,
// the jest globalSetup's harness imports) without a build step. Registered by hack/ts-loader.mjs.
//
// - resolve: a relative `./x.js` imported from a .ts file that does not exist resolves to `./x.ts`
//   (the sources follow NodeNext rules and import `.js` names);
// - load: .ts files are stripped of their types with typescript's transpileModule (no type checking:
//   that is `npm run typecheck`'s job), with an inline source map.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

let ts;

/** `data.typescriptUrl` picks the typescript package; by default the one this file resolves. */
export async function initialize(data) {
  const typescriptUrl = data?.typescriptUrl ?? pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href;
  ts = (await import(typescriptUrl)).default;
}

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (
      err?.code === 'ERR_MODULE_NOT_FOUND' &&
      /^\.\.?\//.test(specifier) &&
      specifier.endsWith('.js') &&
      context.parentURL?.endsWith('.ts')
    ) {
      return next(specifier.slice(0, -3) + '.ts', context);
    }
    throw err;
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const out = ts.transpileModule(await readFile(new URL(url), 'utf8'), {
    fileName: url,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, inlineSourceMap: true },
  });
  return { format: 'module', source: out.outputText, shortCircuit: true };
}
