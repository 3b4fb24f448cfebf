import { accessSync, constants, mkdirSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@booking/config';

/**
 * The audit trail (spec §5.3, §17): one JSON object per line, appended to a file per UTC day and
 * per process (`audit-YYYY-MM-DD.<host>-<pid>.jsonl`), so several facade processes can share a
 * directory without interleaving. A record is on disk before `write` resolves; records that arrive
 * while a flush is under way are written together with the next one (group commit), so durability
 * does not make concurrent requests queue behind one flush each.
 *
 * The file is opened with O_DSYNC, so one write(2) returns only once its data is on disk: one trip
 * to libuv's thread pool per batch instead of two (write, then fdatasync), which is what a request
 * at one connection waits for (bench/FINDINGS.md). Where O_DSYNC does not exist, fdatasync follows.
 */

/** Append, create, read (the torn-line check), and synchronous data writes where the OS has them. */
const OPEN_FLAGS = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | (constants.O_DSYNC ?? 0);
const SYNC_ON_WRITE = constants.O_DSYNC !== undefined;

/** One audited event. Identifiers only (an NHS number searched for is one): never a token, never patient demographics. */
export interface AuditRecord {
  /** When the answer was decided, ISO 8601 UTC. */
  time: string;
  /** `request`, a connection refused before HTTP (`tls-refused`, `client-error`), a failed queue dashboard login (`admin-login-failed`) or an action taken on the queue dashboard (`admin-action`, admin listener). */
  event: 'request' | 'tls-refused' | 'client-error' | 'admin-login-failed' | 'admin-action';
  /** metadata | search-slot | book | read | vread | cancel, or `unknown` (no such route). */
  interaction: string;
  method?: string;
  /** The path without the query string (GET parameters stay out of logs, spec §17). */
  path?: string;
  status: number | null;
  /** The Spine (or FHIR issue-type) code of an error; RESOURCE_CREATED / RESOURCE_UPDATED / ok on success. */
  outcome: string;
  /** A refusal's diagnostics, when they quote nothing the consumer sent (JWT, SSP headers, media type, size). */
  reason?: string;
  /** A refusal's offending elements or parameters (FHIRPath or names, never their values). */
  elements?: string[];
  durationMs?: number;
  /** Our X-Request-ID for this response. */
  requestId?: string;
  /** The consumer's X-Request-ID, and the X-Correlation-ID we answered with. */
  consumerRequestId?: string;
  correlationId?: string;
  sspTraceId?: string;
  sspFrom?: string;
  sspTo?: string;
  sspInteractionId?: string;
  /** From the JWT when it decoded; `jwtAccepted` says whether it passed every check. */
  jwtAccepted?: boolean;
  iss?: string;
  sub?: string;
  requestedScope?: string;
  organisationOds?: string;
  deviceId?: string;
  practitionerId?: string;
  practitionerSdsUserId?: string;
  practitionerSdsRoleProfileId?: string;
  /** Creates and updates only (spec §5.3): the author's and the originating organisation's names. */
  practitionerName?: string;
  organisationName?: string;
  appointmentIds?: string[];
  slotIds?: string[];
  /** An Appointment search by NHS number (spec §12): the number searched for, found or not. */
  searchedNhsNumber?: string;
  clientAddress?: string;
  /** `admin-action`: the queue dashboard user who acted. */
  adminUser?: string;
  /** The client certificate (TLS): subject CN and SHA-256 fingerprint. */
  clientCertCn?: string;
  clientCertSha256?: string;
}

export const AUDIT_FILE = /^audit-(\d{4}-\d{2}-\d{2})\.[^/]+\.jsonl$/;

interface Pending {
  line: string;
  day: string;
  done: () => void;
  failed: (error: unknown) => void;
  /** A request waits for it (write), rather than appended to go out with the next interval (append). */
  waited: boolean;
}

/** How long a record appended without waiting may stay in memory before it is written. */
export const LAZY_FLUSH_MS = 20;

export class AuditLog {
  private readonly suffix = `${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}`;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private lazyFlush: NodeJS.Timeout | undefined;
  private file: { day: string; handle: FileHandle } | undefined;

  constructor(readonly dir: string) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      accessSync(dir, constants.W_OK);
    } catch (error) {
      // A path through a file, or a directory this user may not write: AUDIT_DIR is what to fix.
      throw new ConfigError(`AUDIT_DIR: cannot create or write the directory ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }

  /** Appends one record; resolves once it is on disk. */
  write(record: AuditRecord): Promise<void> {
    return new Promise((done, failed) => {
      this.pending.push({ line: `${JSON.stringify(record)}\n`, day: record.time.slice(0, 10), done, failed, waited: true });
      this.startFlush();
    });
  }

  /**
   * Appends one record without waiting for the disk: it is written with the next flush, at the
   * latest LAZY_FLUSH_MS later (or at close), so a steady stream of such records costs one write
   * per interval instead of one each. For answers that need no durable record first (audit/middleware.ts).
   */
  append(record: AuditRecord, failed: (error: unknown) => void): void {
    this.pending.push({ line: `${JSON.stringify(record)}\n`, day: record.time.slice(0, 10), done: () => {}, failed, waited: false });
    this.armLazyFlush();
  }

  private armLazyFlush(): void {
    this.lazyFlush ??= setTimeout(() => {
      this.lazyFlush = undefined;
      this.startFlush();
    }, LAZY_FLUSH_MS);
  }

  /** Writes everything pending in one batch, unless a flush is under way (its end decides what follows). */
  private startFlush(): void {
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = this.flush(this.pending.splice(0)).finally(() => {
      this.flushing = undefined;
      // Records that arrived meanwhile: at once if a request waits for one of them; otherwise with
      // the next interval. Flushing those at once too would chain one write per request behind
      // the first lazy flush, each a trip to the thread pool (bench/FINDINGS.md).
      if (this.pending.some((p) => p.waited)) this.startFlush();
      else if (this.pending.length > 0) this.armLazyFlush();
    });
  }

  private async flush(batch: Pending[]): Promise<void> {
    // Almost always one day; around midnight a batch may straddle two files.
    for (const day of new Set(batch.map((p) => p.day))) {
      const records = batch.filter((p) => p.day === day);
      try {
        const handle = await this.handleFor(day);
        await writeAll(handle, Buffer.from(records.length === 1 ? (records[0] as Pending).line : records.map((p) => p.line).join('')));
        if (!SYNC_ON_WRITE) await handle.datasync();
        for (const p of records) p.done();
      } catch (error) {
        // Reported lost (audit/middleware.ts logs AUDIT WRITE FAILED with each request's ids), and
        // the handle is dropped: one that went bad (a stale NFS handle, a remounted volume) would
        // otherwise lose every record until the day changes. The next flush opens the file afresh.
        await this.dropHandle();
        for (const p of records) p.failed(error);
      }
    }
  }

  /** Closes the file before any other is opened, so no new file can be given the old descriptor's number first. */
  private async dropHandle(): Promise<void> {
    const handle = this.file?.handle;
    this.file = undefined;
    await handle?.close().catch(() => {}); // a bad handle may not even close
  }

  private async handleFor(day: string): Promise<FileHandle> {
    if (this.file?.day === day) return this.file.handle;
    await this.dropHandle();
    const handle = await open(join(this.dir, `audit-${day}.${this.suffix}.jsonl`), OPEN_FLAGS, 0o640);
    // A process that died mid-write (same host and pid, e.g. pid 1 in a container) may have left
    // a torn last line: start on a fresh line so the next record stays readable.
    const { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) await writeAll(handle, Buffer.from('\n'));
    }
    this.file = { day, handle };
    return handle;
  }

  /** Waits for records in flight and closes the file. */
  async close(): Promise<void> {
    while (this.flushing || this.pending.length > 0) {
      this.startFlush();
      await this.flushing;
    }
    clearTimeout(this.lazyFlush);
    this.lazyFlush = undefined;
    await this.file?.handle.close();
    this.file = undefined;
  }
}

/** write(2) may write less than asked (a full disk, a signal): go on until all of it is written. */
async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; ) {
    const { bytesWritten } = await handle.write(data, at, data.length - at);
    at += bytesWritten;
  }
}
