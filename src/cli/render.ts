// `kubectl regcred doctor` output for people: the verdict first, then the chain with ✔/✘, the fix under
// the broken link. (-o json prints the Diagnosis objects themselves.)
import type { Diagnosis, StepStatus } from './diagnosis.js';

const MARK: Record<StepStatus, string> = { ok: '✔', broken: '✘', warning: '!', info: '·', skipped: '-' };

export function renderDiagnoses(subject: string, diagnoses: Diagnosis[]): string {
  const lines: string[] = [];
  const broken = diagnoses.filter((diagnosis) => diagnosis.verdict === 'broken').length;
  lines.push(
    broken
      ? `✘ ${subject}: ${broken} of ${diagnoses.length} image${diagnoses.length === 1 ? '' : 's'} would not pull`
      : `✔ ${subject}: no broken link` +
          (diagnoses.some((diagnosis) => diagnosis.verdict === 'unknown') ? ' (not checked against the registry)' : ''),
  );
  for (const diagnosis of diagnoses) {
    lines.push('');
    const verdict = diagnosis.verdict === 'ok' ? '✔' : diagnosis.verdict === 'broken' ? '✘' : '?';
    lines.push(`${verdict} ${diagnosis.container ? `container ${diagnosis.container}: ` : ''}${diagnosis.image}`);
    lines.push(`  ${diagnosis.summary}`);
    for (const step of diagnosis.steps) {
      lines.push(`  ${MARK[step.status]} ${step.title}`);
      for (const detail of step.details) lines.push(`      ${detail}`);
      if (step.fix) lines.push(`      fix: ${step.fix}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
