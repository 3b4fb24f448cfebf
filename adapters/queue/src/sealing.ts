import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * Patient data at rest in Redis: job payloads and replies that carry it are sealed with
 * AES-256-GCM. Several keys can be configured at once; new data is sealed with the active key
 * and anything sealed with an older key still opens, so keys rotate without losing jobs in flight.
 * What travels in clear beside the sealed data (job id, kind, deadline) is bound to it as
 * additional authenticated data (AAD): sealed data moved to another job, or a clear field
 * rewritten, no longer opens (codec.ts says what each seal binds).
 */

export interface Sealed {
  /** Key id. */
  k: string;
  /** 12-byte IV, base64. */
  iv: string;
  /** GCM tag, base64. */
  t: string;
  /** Ciphertext of the JSON value, base64. */
  d: string;
  /** Present when the JSON was deflated (raw DEFLATE) before sealing; bound into the AAD too. */
  z?: 'deflate';
}

/**
 * JSON above this many bytes is deflated before it is sealed. A 1,000-slot search answer (≈ 540 KB
 * of JSON, ≈ 720 KB once sealed as base64) travels through Redis twice (the job's return value and
 * its `completed` event) and is parsed by ioredis and BullMQ in the facade: deflated it is a
 * tenth of that, for ≈ 1 ms of zlib each way (bench/FINDINGS.md). Smaller values (bookings,
 * single appointments) are not worth the CPU.
 */
const DEFLATE_ABOVE_BYTES = 16 * 1024;
/** A sealed value never inflates beyond this (a bound for tampered or corrupt data). */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;
/** The GCM tag length sealed and required on opening. */
const TAG_BYTES = 16;
const deflatedAad = (aad: string) => `${aad}\u0000deflate`;

export class Keyring {
  private readonly keys = new Map<string, Buffer>();

  /**
   * @param spec `kid:base64key[,kid:base64key…]` — 32-byte keys.
   * @param activeKeyId the key new data is sealed with.
   */
  constructor(spec: string, readonly activeKeyId: string) {
    for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const at = entry.indexOf(':');
      const kid = entry.slice(0, at);
      const key = Buffer.from(entry.slice(at + 1), 'base64');
      if (at < 1 || !/^[A-Za-z0-9._-]{1,32}$/.test(kid)) throw new Error('each key must be written kid:base64key');
      if (key.length !== 32) throw new Error(`key "${kid}" must be 32 bytes (base64 of 32 random bytes)`);
      this.keys.set(kid, key);
    }
    if (!this.keys.has(activeKeyId)) throw new Error(`the active key id "${activeKeyId}" is not among the configured keys`);
  }

  /** A fresh random key in the `kid:base64key` form, for demos and tests. */
  static generate(kid = 'k1'): string {
    return `${kid}:${randomBytes(32).toString('base64')}`;
  }

  /**
   * @param aad what the sealed value is bound to; `open` must be given the same.
   * @param compressible false for a value that carries compressed data already (a gzipped Bundle):
   *   deflating it again costs CPU for nothing.
   */
  seal(value: unknown, aad = '', compressible = true): Sealed {
    const key = this.keys.get(this.activeKeyId) as Buffer;
    const json = Buffer.from(JSON.stringify(value), 'utf8');
    const deflate = compressible && json.byteLength > DEFLATE_ABOVE_BYTES;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(deflate ? deflatedAad(aad) : aad, 'utf8'));
    const data = Buffer.concat([cipher.update(deflate ? deflateRawSync(json, { level: 1 }) : json), cipher.final()]);
    return { k: this.activeKeyId, iv: iv.toString('base64'), t: cipher.getAuthTag().toString('base64'), d: data.toString('base64'), ...(deflate ? { z: 'deflate' as const } : {}) };
  }

  /** Opens sealed data; throws when the key is unknown, the data was tampered with or was sealed for another `aad`. */
  open<T>(sealed: Sealed, aad = ''): T {
    const key = this.keys.get(sealed?.k);
    if (!key) throw new Error(`sealed with unknown key "${String(sealed?.k)}"`);
    if (sealed.z !== undefined && sealed.z !== 'deflate') throw new Error(`unknown compression "${String(sealed.z)}"`);
    // GCM verifies a tag as short as 4 bytes when told nothing else: one forged with ~2^32 tries
    // would then open. Ours are always the full 16.
    const tag = Buffer.from(sealed.t ?? '', 'base64');
    if (tag.length !== TAG_BYTES) throw new Error(`sealed with a ${tag.length}-byte tag; only ${TAG_BYTES}-byte tags are accepted`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(sealed.z ? deflatedAad(aad) : aad, 'utf8'));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.d, 'base64')), decipher.final()]);
    const json = sealed.z ? inflateRawSync(plain, { maxOutputLength: MAX_INFLATED_BYTES }) : plain;
    return JSON.parse(json.toString('utf8')) as T;
  }
}

/** The keyring from the QUEUE_ENCRYPTION_KEYS / QUEUE_ENCRYPTION_KEY_ID settings; errors name the setting. */
export function keyringFromSettings(keys: string, activeKeyId: string): Keyring {
  try {
    return new Keyring(keys, activeKeyId);
  } catch (error) {
    throw new Error(`QUEUE_ENCRYPTION_KEYS: ${(error as Error).message}`);
  }
}
