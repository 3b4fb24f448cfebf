import type { Server as NetServer, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * Bounds on the consumer listener's connections, so that nobody able to reach the port can
 * exhaust file handles: at most `maxConnections` in all (Node refuses the rest as they arrive),
 * at most `maxPerAddress` open from one remote address, and at most `maxHandshakesPerAddress`
 * from one address that have not finished the TLS handshake (a connection that never speaks
 * costs nothing to open). Refused connections are destroyed before a byte is read or written.
 *
 * The SSP reaches the facade from a few proxy addresses carrying all the national traffic, so the
 * per-address caps are generous; they stop one host, not the SSP.
 */
export interface ConnectionLimits {
  maxConnections: number;
  maxPerAddress: number;
  maxHandshakesPerAddress: number;
}

export type ConnectionRefusal = 'total' | 'per-address' | 'handshakes-per-address';

/** The TCP socket under a TLS socket (Node keeps it as `_parent`), where the remote address outlives a destroyed TLS socket. */
export function rawSocketOf(socket: object): Socket {
  return ((socket as { _parent?: Socket })._parent ?? socket) as Socket;
}

export function limitConnections(server: NetServer, limits: ConnectionLimits, tls: boolean, onRefused: (address: string | undefined, reason: ConnectionRefusal) => void): void {
  server.maxConnections = limits.maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) => onRefused(data?.remoteAddress, 'total'));

  const open = new Map<string, number>();
  const handshaking = new Map<string, number>();
  const pending = new WeakSet<Socket>();
  const bump = (map: Map<string, number>, key: string, by: number) => {
    const n = (map.get(key) ?? 0) + by;
    if (n > 0) map.set(key, n);
    else map.delete(key);
    return n;
  };
  const handshakeOver = (raw: Socket) => {
    if (!pending.delete(raw)) return;
    bump(handshaking, raw.remoteAddress ?? '', -1);
  };

  // Prepended: runs before the TLS (or HTTP) layer takes the socket over.
  server.prependListener('connection', (raw: Socket) => {
    const address = raw.remoteAddress ?? '';
    if ((open.get(address) ?? 0) >= limits.maxPerAddress) return refuse(raw, 'per-address');
    if (tls && (handshaking.get(address) ?? 0) >= limits.maxHandshakesPerAddress) return refuse(raw, 'handshakes-per-address');
    bump(open, address, 1);
    if (tls) {
      pending.add(raw);
      bump(handshaking, address, 1);
    }
    raw.once('close', () => {
      handshakeOver(raw);
      bump(open, address, -1);
    });
  });
  if (tls) {
    server.prependListener('secureConnection', (socket: TLSSocket) => handshakeOver(rawSocketOf(socket)));
    // A failed or timed-out handshake is over when it is refused, before its socket closes: the
    // client sees the close at once, while the socket's 'close' event comes a loop turn later, and
    // a prompt reconnection from the same address must not be counted against the old one.
    server.prependListener('tlsClientError', (_error: Error, socket: TLSSocket) => handshakeOver(rawSocketOf(socket)));
  }

  function refuse(raw: Socket, reason: ConnectionRefusal) {
    onRefused(raw.remoteAddress, reason);
    raw.destroy();
  }
}

/** Logs at most one line per address and reason per interval, however many connections are refused. */
export function throttledLog(intervalMs: number, log: (address: string | undefined, reason: string, refusedSinceLast: number) => void) {
  const last = new Map<string, { at: number; count: number }>();
  return (address: string | undefined, reason: string) => {
    const key = `${address}|${reason}`;
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < intervalMs) {
      seen.count++;
      return;
    }
    if (last.size > 10000) last.clear(); // bounded, whatever the number of addresses
    last.set(key, { at: now, count: 0 });
    log(address, reason, (seen?.count ?? 0) + 1);
  };
}
