// Pure: how long a credential key waits after namespace work before it runs again to refresh
// status. Its run is O(namespaces + ServiceAccounts) of cache reads; during a fan-out it is woken
// after nearly every namespace, so the pause grows with what its last run cost: at most about
// 1/STATUS_COST_FACTOR of the time goes to status refreshes, whatever the cluster size.

/** The shortest pause (a credential whose scan is cheap). */
export const STATUS_DELAY_BASE_MS = 500;
export const STATUS_COST_FACTOR = 20;
export const STATUS_DELAY_MAX_MS = 10_000;

export function statusDelayMs(baseMs: number, lastRunMs: number | undefined): number {
  return Math.max(baseMs, Math.min(STATUS_DELAY_MAX_MS, STATUS_COST_FACTOR * (lastRunMs ?? 0)));
}
