// `kubectl regcred status`: every RegistryCredential at a glance, as `cmctl status` shows a
// Certificate. Pure: the rows are computed from the RegistryCredentials as read and the time now;
// rendering is a table (-o wide adds columns) or the rows as JSON (-o json).
import type { CredentialFact } from './diagnosis.js';

export interface StatusRow {
  name: string;
  /** The Ready condition: True, False or Unknown (no status yet), with its reason when not True. */
  ready: string;
  reason?: string;
  suspended: boolean;
  namespaces?: { selected: number; ready: number; failed: number };
  /** Failing namespaces with their reasons (status.failures, as the operator capped them). */
  failures: Array<{ namespace: string; reason: string }>;
  /** The earliest short-lived token's expiry, and the seconds from now until then (negative: expired). */
  expiresAt?: string;
  expiresInSeconds?: number;
  lastRefreshTime?: string;
  /** Registries by verification state, and each one's state. */
  verified: { verified: number; failed: number; total: number; reason?: string };
  registries: Array<{ server: string; state: string; reason?: string }>;
  recoveredPods?: number;
  delivery: { secrets: boolean; kubelet: boolean };
  kubelet?: { served: number; refused: number; lastRefusalReason?: string };
}

export function statusRows(credentials: CredentialFact[], now: Date): StatusRow[] {
  return [...credentials]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((credential) => {
      const status = credential.status;
      const condition = (type: string) => status?.conditions?.find((candidate) => candidate.type === type);
      const ready = condition('Ready');
      const registries = (status?.registries ?? []).map(({ server, state, reason }) => ({
        server,
        state,
        ...(reason ? { reason } : {}),
      }));
      const verification = condition('CredentialsVerified');
      const expiresAt = status?.credentialsExpireAt;
      const kubelet = status?.kubelet;
      return {
        name: credential.name,
        ready: ready?.status ?? 'Unknown',
        ...(ready && ready.status !== 'True' && ready.reason ? { reason: ready.reason } : {}),
        suspended: credential.spec.suspend ?? false,
        ...(status?.namespaces ? { namespaces: status.namespaces } : {}),
        failures: (status?.failures ?? []).map(({ namespace, reason }) => ({ namespace, reason })),
        ...(expiresAt
          ? { expiresAt, expiresInSeconds: Math.round((Date.parse(expiresAt) - now.getTime()) / 1000) }
          : {}),
        ...(status?.lastRefreshTime ? { lastRefreshTime: status.lastRefreshTime } : {}),
        verified: {
          verified: registries.filter((row) => row.state === 'Verified').length,
          failed: registries.filter((row) => row.state === 'Failed').length,
          total: registries.length,
          ...(verification?.status === 'False' && verification.reason ? { reason: verification.reason } : {}),
        },
        registries,
        ...(status?.recoveredPods !== undefined ? { recoveredPods: status.recoveredPods } : {}),
        delivery: {
          secrets: credential.spec.delivery?.secrets ?? true,
          kubelet: credential.spec.delivery?.kubelet ?? false,
        },
        ...(kubelet
          ? {
              kubelet: {
                served: kubelet.served ?? 0,
                refused: kubelet.refused ?? 0,
                ...(kubelet.lastRefusal ? { lastRefusalReason: kubelet.lastRefusal.reason } : {}),
              },
            }
          : {}),
      };
    });
}

/** 5400 -> "1h30m", 90 -> "1m30s", -120 -> "expired 2m ago". */
export function humanDuration(seconds: number): string {
  const abs = Math.abs(seconds);
  const days = Math.floor(abs / 86400);
  const hours = Math.floor((abs % 86400) / 3600);
  const minutes = Math.floor((abs % 3600) / 60);
  const secs = abs % 60;
  const text =
    days > 0
      ? `${days}d${hours ? `${hours}h` : ''}`
      : hours > 0
        ? `${hours}h${minutes ? `${minutes}m` : ''}`
        : minutes > 0
          ? `${minutes}m${secs ? `${secs}s` : ''}`
          : `${secs}s`;
  return seconds < 0 ? `expired ${text} ago` : `in ${text}`;
}

function verifiedCell(row: StatusRow): string {
  const { verified, failed, total, reason } = row.verified;
  if (total === 0) return '-';
  const checked = verified + failed;
  if (checked === 0) return `-/${total}`;
  return `${verified}/${total}${failed && reason ? ` (${reason})` : ''}`;
}

export function renderStatusTable(rows: StatusRow[], options: { wide?: boolean } = {}): string {
  if (rows.length === 0) return 'No RegistryCredentials.\n';
  const header = ['NAME', 'READY', 'NAMESPACES', 'EXPIRES', 'VERIFIED', 'RECOVERED', 'REASON'];
  if (options.wide) header.push('FAILED', 'DELIVERY', 'KUBELET', 'REGISTRIES');
  const table = [header];
  for (const row of rows) {
    const cells = [
      row.name,
      row.ready,
      row.namespaces ? `${row.namespaces.ready}/${row.namespaces.selected}` : '-',
      row.expiresInSeconds !== undefined ? humanDuration(row.expiresInSeconds) : '-',
      verifiedCell(row),
      row.recoveredPods !== undefined ? String(row.recoveredPods) : '-',
      row.suspended ? 'Suspended' : (row.reason ?? ''),
    ];
    if (options.wide)
      cells.push(
        row.failures.length ? row.failures.map((failure) => `${failure.namespace}:${failure.reason}`).join(',') : '-',
        [row.delivery.secrets ? 'secrets' : '', row.delivery.kubelet ? 'kubelet' : ''].filter(Boolean).join('+'),
        row.kubelet ? `${row.kubelet.served} served, ${row.kubelet.refused} refused` : '-',
        row.registries.length
          ? row.registries
              .map((registry) => `${registry.server}=${registry.state}${registry.reason ? `(${registry.reason})` : ''}`)
              .join(',')
          : '-',
      );
    table.push(cells);
  }
  const widths = header.map((_, i) => Math.max(...table.map((cells) => cells[i]!.length)));
  return `${table
    .map((cells) =>
      cells
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
