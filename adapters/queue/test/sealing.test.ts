import { describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { bundleReply, decodeJob, decodeReply, encodeJob, encodeReply, Keyring } from '../src/index.js';

describe('Keyring', () => {
  const k1 = Keyring.generate('k1');
  const k2 = Keyring.generate('k2');

  it('seals with the active key and opens what any configured key sealed', () => {
    const old = new Keyring(k1, 'k1');
    const rotated = new Keyring(`${k1},${k2}`, 'k2');
    const sealedOld = old.seal({ nhs: '9658218873' });
    expect(JSON.stringify(sealedOld)).not.toContain('9658218873');
    expect(rotated.open(sealedOld)).toEqual({ nhs: '9658218873' });
    expect(rotated.seal(1).k).toBe('k2');
  });

  it('refuses tampered data and unknown keys', () => {
    const ring = new Keyring(k1, 'k1');
    const sealed = ring.seal({ a: 1 });
    const tampered = { ...sealed, d: Buffer.from('x'.repeat(8)).toString('base64') };
    expect(() => ring.open(tampered)).toThrow();
    expect(() => new Keyring(k2, 'k2').open(sealed)).toThrow(/unknown key/);
  });

  it('refuses a truncated GCM tag: only the full 16 bytes open (a 4-byte tag would be forged in ~2^32 tries)', () => {
    const ring = new Keyring(k1, 'k1');
    const sealed = ring.seal({ a: 1 }, 'reply');
    const tag = Buffer.from(sealed.t, 'base64');
    for (const length of [4, 8, 12, 15]) {
      expect(() => ring.open({ ...sealed, t: tag.subarray(0, length).toString('base64') }, 'reply'), `${length}-byte tag`).toThrow(/tag/);
    }
    expect(() => ring.open({ ...sealed, t: Buffer.concat([tag, Buffer.from([0])]).toString('base64') }, 'reply')).toThrow();
    expect(ring.open(sealed, 'reply')).toEqual({ a: 1 });
    // The same through the reply codec: a reply with a short tag is refused.
    const reply = encodeReply({ type: 'empty' }, 'job-1', ring);
    const short = { ...reply, sealed: { ...reply.sealed, t: Buffer.from(reply.sealed.t, 'base64').subarray(0, 4).toString('base64') } };
    expect(() => decodeReply(short, 'job-1', ring)).toThrow();
  });

  it('deflates large values before sealing (a 1,000-slot search answer), not small ones, and binds the choice', () => {
    const ring = new Keyring(k1, 'k1');
    const bundle = { resourceType: 'Bundle', entry: Array.from({ length: 1000 }, (_, i) => ({ fullUrl: `https://x/Slot/${i}`, resource: { resourceType: 'Slot', id: String(i), status: 'free' } })) };
    const big = ring.seal(bundle, 'reply');
    expect(big.z).toBe('deflate');
    expect(Buffer.from(big.d, 'base64').byteLength).toBeLessThan(JSON.stringify(bundle).length / 5);
    expect(ring.open(big, 'reply')).toEqual(bundle);
    expect(ring.seal({ a: 1 }).z).toBeUndefined();
    // Dropping or changing the marker does not open (it is part of the sealed data's AAD).
    const { z: _dropped, ...unmarked } = big;
    expect(() => ring.open(unmarked, 'reply')).toThrow();
    expect(() => ring.open({ ...big, z: 'brotli' as never }, 'reply')).toThrow(/unknown compression/);
    // Nor does marking a plain seal as deflated.
    expect(() => ring.open({ ...ring.seal({ a: 1 }, 'reply'), z: 'deflate' }, 'reply')).toThrow();
  });

  it('a search Bundle travels gzipped once: its reply is not deflated again, and opens to the same gzip bytes', () => {
    const ring = new Keyring(k1, 'k1');
    const bundle = { resourceType: 'Bundle', entry: Array.from({ length: 1000 }, (_, i) => ({ fullUrl: `https://x/Slot/${i}`, resource: { resourceType: 'Slot', id: String(i), status: 'free' } })) };
    const reply = bundleReply(bundle);
    expect(gunzipSync(Buffer.from(reply.gzip, 'base64')).toString()).toBe(JSON.stringify(bundle));
    const stored = encodeReply(reply, 'job-1', ring);
    expect(stored.sealed.z).toBeUndefined();
    expect(decodeReply(stored, 'job-1', ring)).toEqual(reply);
    expect(() => decodeReply(stored, 'job-2', ring)).toThrow(); // still bound to its job
  });

  it('rejects malformed key settings with a clear message', () => {
    expect(() => new Keyring('k1:c2hvcnQ=', 'k1')).toThrow(/32 bytes/);
    expect(() => new Keyring(k1, 'k9')).toThrow(/active key id "k9"/);
    expect(() => new Keyring('nocolon', 'k1')).toThrow(/kid:base64key/);
  });

  it('decodes only jobs whose sealed kind matches the clear kind', () => {
    const ring = new Keyring(k1, 'k1');
    const stored = encodeJob({ kind: 'read', appointmentId: 'a', traceRequestId: 't' }, 'job-1', Date.now() + 1000, ring);
    expect(decodeJob(stored, 'job-1', ring)).toMatchObject({ kind: 'read', appointmentId: 'a' });
    expect(() => decodeJob({ ...stored, kind: 'book' }, 'job-1', ring)).toThrow();
  });

  it('binds a job seal to its job id, kind, correlation id and deadline, and a reply seal to its job id', () => {
    const ring = new Keyring(k1, 'k1');
    const deadline = Date.now() + 1000;
    const stored = encodeJob({ kind: 'read', appointmentId: 'a', traceRequestId: 't' }, 'job-1', deadline, ring);
    expect(() => decodeJob(stored, 'job-2', ring)).toThrow();
    expect(() => decodeJob({ ...stored, deadline: deadline + 3600_000 }, 'job-1', ring)).toThrow();
    expect(() => decodeJob({ ...stored, traceRequestId: 'other' }, 'job-1', ring)).toThrow();
    const reply = encodeReply({ type: 'empty' }, 'job-1', ring);
    expect(decodeReply(reply, 'job-1', ring)).toEqual({ type: 'empty' });
    expect(() => decodeReply(reply, 'job-2', ring)).toThrow();
  });
});
