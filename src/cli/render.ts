// `kubectl regcred` output for people: the verdict first, then the chain with ✔/✘, the fix under
// the broken link. (-o json prints the Diagnosis objects themselves.)
import type { CredentialFact, Diagnosis, StepStatus } from './diagnosis.js';

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

export function renderStatus(credentials: CredentialFact[]): string {
  const rows = [['NAME', 'READY', 'NAMESPACES', 'EXPIRES', 'VERIFIED', 'RECOVERED', 'REASON']];
  for (const credential of credentials) {
    const status = credential.status as
      | (CredentialFact['status'] & {
          namespaces?: { selected: number; ready: number };
          credentialsExpireAt?: string;
          recoveredPods?: number;
        })
      | undefined;
    const condition = (type: string): { status: string; reason?: string } | undefined =>
      status?.conditions?.find((candidate) => candidate.type === type);
    const ready = condition('Ready');
    const verified = condition('CredentialsVerified');
    rows.push([
      credential.name,
      ready?.status ?? 'Unknown',
      status?.namespaces ? `${status.namespaces.ready}/${status.namespaces.selected}` : '-',
      status?.credentialsExpireAt ?? '-',
      verified
        ? `${verified.status}${verified.status === 'False' && verified.reason ? ` (${verified.reason})` : ''}`
        : '-',
      status?.recoveredPods !== undefined ? String(status.recoveredPods) : '-',
      ready?.status === 'True' ? '' : (ready?.reason ?? ''),
    ]);
  }
  if (rows.length === 1) return 'No RegistryCredentials.\n';
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return `${rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
