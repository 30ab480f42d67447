// Polling with a deadline: the only way the harness and the tests wait for something to become
// true. There are no fixed sleeps anywhere: a condition is probed until it holds or time runs out.

export interface WaitOptions {
  /** Give up after this long. Default 60 s. */
  timeoutMs?: number;
  /** Pause between two probes. Default 100 ms. */
  intervalMs?: number;
  /** What is being waited for, used in the timeout error message. */
  what?: string;
}

/**
 * Thrown by a probe to stop waiting at once (e.g. the process being waited for has exited, so the
 * condition can never hold): waitFor rethrows it instead of polling on until the deadline.
 */
export class StopWaiting extends Error {
  override name = 'StopWaiting';
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Poll `probe` until it returns a truthy value and return that value. A probe that throws counts as
 * "not yet" (its error is remembered and reported on timeout), except for StopWaiting, which aborts.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 100;
  const what = opts.what ?? 'condition';
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError === undefined ? '' : `; last probe error: ${errorText(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
