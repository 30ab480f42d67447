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
  user: { username: string; groups?: string[]; extra?: Record<string, string[]> };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  stageTimestamp: string;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Every event of the log, of every stage (RequestReceived, ResponseStarted, ...). */
export async function auditEventsOfEveryStage(): Promise<AuditEvent[]> {
  return parseAuditLog(await readFile(testEnv().auditLogPath, 'utf8'));
}

/** The events of completed requests: one per request. */
export async function auditEvents(): Promise<AuditEvent[]> {
  return (await auditEventsOfEveryStage()).filter((e) => e.stage === 'ResponseComplete');
}

const EVENT_START = '{"kind":"Event",';

/**
 * The events of an audit log's text, in order. Only lines that end with a newline are complete: the
 * API server may be writing the last one right now. A line may also start with a torn event: when
 * kube-apiserver exits (a restart), a write in flight is cut at a page boundary and never finished,
 * and the next process appends after it. That fragment is not an event and is dropped; the event
 * after it on the same line is kept. Anything else that does not parse is an error.
 */
export function parseAuditLog(text: string): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    if (!line.trim()) continue;
    // The API server's JSON escapes every quote inside a string, so EVENT_START only ever opens an event.
    try {
      out.push(JSON.parse(line.slice(Math.max(line.lastIndexOf(EVENT_START), 0))) as AuditEvent);
    } catch (err) {
      throw new Error(`audit log line ${JSON.stringify(line.slice(0, 200))}...: ${(err as Error).message}`);
    }
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
