// Verification, the decisions (pure): which registries of a RegistryCredential are checked and
// with which credential and settings, the status.registries rows from the checks' outcomes, the
// CredentialsVerified condition, and the Events for what changed. The checks themselves run in
// registry/verifier.ts, off the reconcile path; verification is advisory and never changes what
// is propagated.
import {
  DEFAULT_VERIFY_INTERVAL,
  iso,
  parseDuration,
  type RegistryCredentialSpec,
  type RegistryVerification,
} from '../api/v1alpha1.js';
import type { Auths } from '../dockerconfig.js';
import { registryEndpoint } from '../registry/v2.js';
import type { CheckOutcome, WantedCheck } from '../registry/verifier.js';

/** One row of status.registries to be: checked (with `check`), or decided without a check. */
export type VerificationPlan =
  { server: string; check: WantedCheck } | { server: string; row: Omit<RegistryVerification, 'server'> };

export interface PlanOptions {
  /** The operator's --verify-registries. */
  enabled: boolean;
  /** PEM of a CA Secret in the source namespace (its ca.crt), or why it cannot be used. */
  caOf: (secretName: string) => { pem: string } | { problem: string };
  /** Per request, for the registry client. */
  timeoutMs: number;
}

/**
 * What to verify: every key of the merged document (one per entry with a server, one per imported
 * key), with the verify settings of the entry it came from (`origins`: key -> entry index).
 */
export function verificationPlans(
  spec: RegistryCredentialSpec,
  auths: Auths,
  origins: Record<string, number>,
  options: PlanOptions,
): VerificationPlan[] {
  return Object.keys(auths)
    .sort()
    .map((server): VerificationPlan => {
      const settings = spec.registries[origins[server] ?? -1]?.verify;
      const skipped = (reason: string, message: string): VerificationPlan => ({
        server,
        row: { state: 'Skipped', reason, message },
      });
      if (!options.enabled)
        return skipped('Disabled', 'verification is off for this operator (--verify-registries=false)');
      if (settings && !settings.enabled)
        return skipped('Disabled', 'verify.enabled is false: the registry is not contacted');
      if (!registryEndpoint(server)) {
        return skipped('NotCheckable', `"${server}" names no single registry host (a glob): nothing to contact`);
      }
      let ca: string | undefined;
      if (settings?.caSecretName) {
        const found = options.caOf(settings.caSecretName);
        if ('problem' in found)
          return { server, row: { state: 'Failed', reason: 'InvalidCASecret', message: found.problem } };
        ca = found.pem;
      }
      const { username, password } = auths[server]!;
      return {
        server,
        check: {
          server,
          username,
          password,
          ...(settings?.repository ? { repository: settings.repository } : {}),
          ...(ca ? { ca } : {}),
          timeoutMs: options.timeoutMs,
          intervalMs: parseDuration(settings?.interval ?? DEFAULT_VERIFY_INTERVAL),
        },
      };
    });
}

/**
 * status.registries from the plans and the checks' latest outcomes (in the plans' order).
 * lastCheckTime moves only when the result changes, so a check that confirms it writes nothing.
 * While the check of a changed credential runs, the row keeps its last result (one status write
 * per change, and a recovery is seen as Failed -> Verified).
 */
export function registryRows(
  plans: VerificationPlan[],
  outcomes: Map<string, CheckOutcome | undefined>,
  previous: RegistryVerification[] | undefined,
): RegistryVerification[] {
  return plans.map((plan): RegistryVerification => {
    if ('row' in plan) return { server: plan.server, ...plan.row };
    const outcome = outcomes.get(plan.server);
    const before = previous?.find((candidate) => candidate.server === plan.server);
    if (!outcome) {
      // keep the last result while the check of a changed credential runs
      if (before && before.state !== 'Skipped') return before;
      return { server: plan.server, state: 'Unknown', reason: 'Checking', message: 'the first check is running' };
    }
    const row: RegistryVerification = {
      server: plan.server,
      state: outcome.state,
      reason: outcome.reason,
      message: outcome.message.slice(0, 1024),
      lastCheckTime: iso(outcome.checkedAt),
    };
    const same = before && before.state === row.state && before.reason === row.reason && before.message === row.message;
    return same && before.lastCheckTime ? { ...row, lastCheckTime: before.lastCheckTime } : row;
  });
}

/** CredentialsVerified: False with the first failure; True when every checked one is Verified; else Unknown. */
export function credentialsVerifiedCondition(
  rows: RegistryVerification[],
  resolved: boolean,
): {
  type: 'CredentialsVerified';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
} {
  const type = 'CredentialsVerified' as const;
  if (!resolved)
    return { type, status: 'Unknown', reason: 'NotResolved', message: 'the credentials have not resolved yet' };
  const failed = rows.filter((row) => row.state === 'Failed');
  if (failed.length) {
    const first = failed[0];
    const more = failed.length > 1 ? ` (${failed.length - 1} more failing)` : '';
    return {
      type,
      status: 'False',
      reason: first.reason ?? 'Failed',
      message: `${first.server}: ${first.message ?? ''}${more}`,
    };
  }
  const checked = rows.filter((row) => row.state !== 'Skipped');
  if (!checked.length) {
    const reason = rows[0]?.reason ?? 'NothingToCheck';
    return {
      type,
      status: 'Unknown',
      reason,
      message: rows.length ? `every registry is skipped: ${rows[0].message}` : 'no registry to check',
    };
  }
  const unknown = checked.filter((row) => row.state === 'Unknown');
  if (unknown.length) {
    return {
      type,
      status: 'Unknown',
      reason: unknown[0].reason ?? 'Checking',
      message: `${unknown[0].server}: ${unknown[0].message ?? ''}`,
    };
  }
  const skipped = rows.length - checked.length;
  return {
    type,
    status: 'True',
    reason: 'Verified',
    message: `${checked.length} of ${rows.length} registries verified${skipped ? ` (${skipped} skipped)` : ''}`,
  };
}

/** A Warning Event for each registry that turned to a (new) failure, a Normal one for each that recovered. */
export function verificationEvents(
  previous: RegistryVerification[] | undefined,
  rows: RegistryVerification[],
): Array<{ type: 'Normal' | 'Warning'; reason: string; message: string }> {
  const events: Array<{ type: 'Normal' | 'Warning'; reason: string; message: string }> = [];
  for (const row of rows) {
    const before = previous?.find((candidate) => candidate.server === row.server);
    if (row.state === 'Failed' && (before?.state !== 'Failed' || before.reason !== row.reason)) {
      events.push({
        type: 'Warning',
        reason: 'CredentialCheckFailed',
        message: `${row.server}: ${row.reason}: ${row.message ?? ''}`,
      });
    } else if (row.state === 'Verified' && before?.state === 'Failed') {
      events.push({
        type: 'Normal',
        reason: 'CredentialVerified',
        message: `${row.server}: the registry accepts the credential again`,
      });
    }
  }
  return events;
}
