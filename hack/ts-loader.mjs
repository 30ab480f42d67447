// Registers hack/ts-hooks.mjs (run TypeScript sources with plain node: `./x.js` -> `./x.ts`, types
// stripped with typescript's transpileModule). Importing this module is all it takes:
//
//   node --import ./hack/ts-loader.mjs hack/demo.ts
//   await import('../../hack/ts-loader.mjs')      (test/harness/global-setup.ts)
//
// Node evaluates a module once per process, so importing it again (jest --watch reruns globalSetup)
// does not stack a second copy of the hooks.
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const typescriptUrl = pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href;
register('./ts-hooks.mjs', import.meta.url, { data: { typescriptUrl } });
