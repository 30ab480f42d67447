// The API server's own audit log (JSON lines, level Metadata, every request): the ground truth
// for "which requests did the operator make". Writes are create/update/patch/delete.
import { readFile } from 'node:fs/promises';
import { testEnv } from '../../harness/controlplane.js';

export interface AuditEvent {
  verb: string;
  stage: string;
  requestURI: string;
  /**
   * extra: for a bound (projected) ServiceAccount token, the Pod it was issued to (authentication.kubernetes.io/pod-
   * name).
   */
  user: { username: string; extra?: Record<string, string[]> };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  stageTimestamp: string;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export async function auditEvents(): Promise<AuditEvent[]> {
  const text = await readFile(testEnv().auditLogPath, 'utf8');
  const out: AuditEvent[] = [];
  // The API server may be writing a line right now: only lines that end with a newline are complete.
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as AuditEvent;
    if (e.stage === 'ResponseComplete') out.push(e);
  }
  return out;
}

/** A mark in the audit log: requests after it can be counted. */
export async function auditMark(): Promise<number> {
  return (await auditEvents()).length;
}

/** Requests by `user` since `mark`. */
export async function requestsSince(mark: number, user: string): Promise<AuditEvent[]> {
  return (await auditEvents()).slice(mark).filter((e) => e.user.username === user);
}

export async function writesSince(mark: number, user: string): Promise<AuditEvent[]> {
  return (await requestsSince(mark, user)).filter((e) => WRITE_VERBS.has(e.verb));
}

export function describeRequests(events: AuditEvent[]): string[] {
  return events.map((e) => `${e.verb} ${e.requestURI} -> ${e.responseStatus?.code}`);
}
