// What the kubelet endpoint of this process served and refused, per RegistryCredential: counts,
// times and reasons, never a value. The credential controller reads a snapshot into the status
// (status.kubelet); the endpoint is its only writer.
import { iso, type KubeletDeliveryStatus } from '../api/v1alpha1.js';

const MAX_REGISTRIES = 64;
const MAX_MESSAGE = 1024;

interface Entry {
  served: number;
  refused: number;
  lastServedAt?: number;
  lastRefusal?: { reason: string; message: string; at: number };
  registries: Map<string, { served: number; lastServedAt: number }>;
}

export class DeliveryLedger {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly onChange: (credential: string) => void = () => {}) {}

  served(credential: string, keys: string[], at: number): void {
    const entry = this.entryOf(credential);
    entry.served++;
    entry.lastServedAt = at;
    for (const key of keys) {
      const row = entry.registries.get(key);
      if (row) {
        row.served++;
        row.lastServedAt = at;
      } else if (entry.registries.size < MAX_REGISTRIES) entry.registries.set(key, { served: 1, lastServedAt: at });
    }
    this.onChange(credential);
  }

  refused(credential: string, reason: string, message: string, at: number): void {
    const entry = this.entryOf(credential);
    entry.refused++;
    entry.lastRefusal = { reason, message: message.slice(0, MAX_MESSAGE), at };
    this.onChange(credential);
  }

  /** The status block of a credential, or undefined when this process never answered for it. */
  snapshot(credential: string): KubeletDeliveryStatus | undefined {
    const entry = this.entries.get(credential);
    if (!entry) return undefined;
    return {
      served: entry.served,
      refused: entry.refused,
      ...(entry.lastServedAt !== undefined ? { lastServedTime: iso(entry.lastServedAt) } : {}),
      ...(entry.lastRefusal
        ? {
            lastRefusal: {
              reason: entry.lastRefusal.reason,
              message: entry.lastRefusal.message,
              time: iso(entry.lastRefusal.at),
            },
          }
        : {}),
      registries: [...entry.registries.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([server, row]) => ({ server, served: row.served, lastServedTime: iso(row.lastServedAt) })),
    };
  }

  forget(credential: string): void {
    this.entries.delete(credential);
  }

  private entryOf(credential: string): Entry {
    let entry = this.entries.get(credential);
    if (!entry) {
      entry = { served: 0, refused: 0, registries: new Map() };
      this.entries.set(credential, entry);
    }
    return entry;
  }
}
