import { X509Certificate } from 'node:crypto';
import { readFileSync, type StatWatcher, unwatchFile, watchFile } from 'node:fs';
import type { ServerOptions } from 'node:https';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { type Connections, connectionsOf } from '../connections.js';
import type { AllowList } from './tls.js';

/**
 * Certificates rotate yearly or sooner: the server certificate, its key, the CA bundle and the
 * client allow-list are reloaded without a restart, on SIGHUP and when their files change. A new
 * set is loaded and checked whole (settings valid, key matches certificate) before it replaces
 * the old one: a bad or half-written file keeps the old set in use and logs an error. A connection
 * keeps the context it was made with, and keep-alive could hold it open for ever: so after a reload
 * every connection opened before it is ended (an idle one at once, a busy one once its answers are
 * written, the last with `Connection: close`), and its client reconnects under the new CA, CRLs and
 * allow-list. A certificate just revoked or taken off the list keeps no access.
 */

export interface TlsMaterial {
  serverOptions: ServerOptions;
  allowList: AllowList;
}

export interface ReloadLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export class ReloadableTls {
  private server: TlsServer | undefined;
  private readonly watched: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The server's open connections (TLS sockets past the handshake) and the requests under way on each. */
  private connections: Connections | undefined;
  /** Successful reloads so far; a TCP connection takes its TLS context when it is accepted. */
  private generation = 0;
  /** The reload generation each TCP connection was accepted under. */
  private readonly acceptedUnder = new WeakMap<object, number>();

  constructor(
    private current: TlsMaterial,
    /** Reads the settings and files again (throws when they are wrong). */
    private readonly load: () => TlsMaterial,
    private readonly logger: ReloadLogger,
  ) {}

  /** The certificates, key, CA and CRLs in force now. */
  get serverOptions(): ServerOptions {
    return this.current.serverOptions;
  }

  /** The allow-list in force now (read by the listener at each handshake). */
  get allowList(): AllowList {
    return this.current.allowList;
  }

  /**
   * `maxConnectionAgeMs`: a connection older than this is ended as after a reload, so its client
   * re-handshakes: a certificate that has expired, or a CRL past its next update, since the
   * connection was made takes effect within that time (keep-alive would hold it open for ever).
   */
  attach(server: TlsServer, options: { maxConnectionAgeMs?: number } = {}): this {
    this.server = server;
    const connections = connectionsOf(server);
    this.connections = connections;
    server.on('connection', (raw: object) => this.acceptedUnder.set(raw, this.generation));
    // Prepended, as the allow-list check is: the HTTP parser, fitted to each connection by the https
    // server's own earlier listener, must never read a request from a connection ended here.
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      if (socket.destroyed) return; // refused already
      // Accepted before the latest reload, its handshake ran under the old CA and CRLs (a client can
      // hold back its hello across a reload): ended before any request, so it reconnects under the new set.
      // (Node keeps the accepted TCP socket as `_parent`; the straddle test fails should that change.)
      const raw = (socket as unknown as { _parent?: object })._parent;
      const accepted = raw === undefined ? undefined : this.acceptedUnder.get(raw);
      if (accepted !== undefined && accepted < this.generation) {
        this.logger.info({}, 'TLS connection accepted before the reload and verified under the old certificates ended: its client reconnects');
        socket.destroy();
        return;
      }
      // Past the age limit, a connection is ended after its next answer (`Connection: close`), or by
      // the keep-alive timeout the facade announces: never closed idle unannounced, where a proxy
      // reusing it at that moment would lose a request already sent.
      if (options.maxConnectionAgeMs) {
        const aged = setTimeout(() => {
          const connection = connections.http.get(socket);
          if (connection) connections.endAfterAnswers(connection);
        }, options.maxConnectionAgeMs).unref();
        socket.once('close', () => clearTimeout(aged));
      }
    });
    return this;
  }

  /**
   * Ends every connection open now: each after the answers to the requests read on it (the
   * Connections rule), and an idle one at once, as access must end now. The idle ones are picked
   * after the poll phase (setImmediate), so a request already in a socket's buffer is read and
   * counted as under way rather than cut off.
   */
  private retireOpenConnections(): void {
    const connections = this.connections;
    if (!connections) return;
    const retiring = [...connections.http.values()];
    for (const connection of retiring) connections.endAfterAnswers(connection);
    setImmediate(() => {
      const idle = retiring.filter(({ active }) => active === 0);
      for (const { socket } of idle) socket.destroySoon(); // close_notify, then closed
      if (retiring.length > 0) {
        this.logger.info({ closedIdle: idle.length, closingAfterAnswer: retiring.length - idle.length }, 'TLS connections opened before the reload are ended: their clients reconnect under the new certificates, CRLs and allow-list');
      }
    });
  }

  /** Loads the material again; true when the new set is in use, false when the old one stays. */
  reload(trigger: string): boolean {
    let next: TlsMaterial;
    try {
      // tlsServerOptions builds the context once: a key that does not match its certificate, a
      // passphrase that does not open it, a cipher list matching nothing throws here and nothing is replaced.
      next = this.load();
      this.server?.setSecureContext(next.serverOptions);
    } catch (error) {
      this.logger.error({ trigger, err: (error as Error).message.split('\n')[0] }, 'TLS reload FAILED: the previous certificates, key, CA and allow-list stay in use');
      return false;
    }
    this.current = next;
    this.generation++;
    this.retireOpenConnections();
    const cert = new X509Certificate(next.serverOptions.cert as string);
    this.logger.info(
      { trigger, serverCertSha256: cert.fingerprint256.replace(/:/g, ''), serverCertValidTo: cert.validTo, allowListNames: next.allowList.names.size, allowListFingerprints: next.allowList.fingerprints.size },
      'TLS certificates, key, CA and client allow-list reloaded',
    );
    return true;
  }

  /**
   * Polls the files (stat, so a Kubernetes secret's symlink swap or an editor's rename is seen)
   * and reloads once they have been quiet for `debounceMs`: a certificate and its key replaced
   * one after the other are loaded together.
   */
  watch(files: string[], pollMs: number, debounceMs = Math.min(500, pollMs)): this {
    for (const file of new Set(files)) {
      watchFile(file, { interval: pollMs, persistent: false }, (now, before) => {
        if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.reload(`file changed: ${file}`), debounceMs);
        this.timer.unref();
      }) as StatWatcher;
      this.watched.push(file);
    }
    return this;
  }

  close(): void {
    clearTimeout(this.timer);
    for (const file of this.watched) unwatchFile(file);
  }
}

/** The files the TLS material comes from: every FACADE_TLS_*_FILE (from the environment or CONFIG_FILE) and CONFIG_FILE itself. */
export function tlsSourceFiles(env: Record<string, string | undefined>): string[] {
  let fromConfigFile: Record<string, unknown> = {};
  try {
    if (env.CONFIG_FILE) fromConfigFile = JSON.parse(readFileSync(env.CONFIG_FILE, 'utf8')) as Record<string, unknown>;
  } catch {
    // Unreadable now: startup read it, and a reload reports what is wrong with it.
  }
  const merged: Record<string, unknown> = { ...fromConfigFile, ...env };
  return Object.entries(merged)
    .filter(([name, value]) => typeof value === 'string' && value && (name === 'CONFIG_FILE' || /^FACADE_TLS_[A-Z_]+_FILE$/.test(name)))
    .map(([, value]) => value as string);
}
