// `kubectl regcred doctor` as a user runs it: the real command (`node dist/cli/kubectl-regcred.js`)
// with the admin kubeconfig, once with -o json for the assertions and once for people (the log).
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, testEnv } from '../../harness/controlplane.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'kubectl-regcred.js');

export interface DoctorRun {
  code: number;
  stdout: string;
  json: {
    diagnoses: Array<{
      verdict: string;
      summary: string;
      steps: Array<{ id: string; status: string; details: string[]; fix?: string }>;
    }>;
  };
}

/** Runs doctor with `args` (and `extra` flags); the human output goes to stderr for the log. */
export async function doctor(args: string[], extra: string[] = []): Promise<DoctorRun> {
  const base = [CLI, 'doctor', ...args, '--kubeconfig', testEnv().adminKubeconfig, ...extra];
  const res = await run(process.execPath, [...base, '-o', 'json'], { timeoutMs: 120_000 });
  const human = await run(process.execPath, base, { timeoutMs: 120_000 });
  if (human.code !== res.code) throw new Error(`doctor exited ${human.code}, and ${res.code} with -o json`);
  process.stderr.write(
    `\n$ kubectl regcred doctor ${args.join(' ')} ${extra.join(' ')}\n${human.stdout}${human.stderr}`,
  );
  if (res.code === 2) throw new Error(`doctor failed: ${res.stderr}`);
  return { code: res.code, stdout: human.stdout, json: JSON.parse(res.stdout) as DoctorRun['json'] };
}

/** The first broken step's fix, and the verdict. */
export function brokenFix(result: DoctorRun): { verdict: string; step?: string; fix?: string } {
  const diagnosis = result.json.diagnoses[0];
  const broken = diagnosis.steps.find((step) => step.status === 'broken' && step.fix);
  return { verdict: diagnosis.verdict, step: broken?.id, fix: broken?.fix };
}
