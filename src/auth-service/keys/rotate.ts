import type { SigningAlgorithm } from '../config-schema.js';
import type { KeyRepository } from './repository.js';
import { activeKey, generateSigningKey, loadOrCreateKeys, type KeyFile, type SigningKeyRecord } from './store.js';

export interface RotationOptions {
  readonly alg: SigningAlgorithm;
  /** The new key is published now and signs only after this many seconds. */
  readonly rotationDelaySeconds: number;
  /** The old key stays published this long after the new one takes over: the longest access-token lifetime. */
  readonly retireAfterSeconds: number;
  /** Epoch seconds. */
  readonly now: number;
}

export interface RotationResult {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  /** Epoch seconds at which the new key starts signing. */
  readonly activateAt: number;
  /** Keys now scheduled to leave the JWKS, with the time they leave. */
  readonly retiring: readonly { kid: string; retireAt: number }[];
}

/**
 * Computes the key set after one rotation, without I/O. Every key that was
 * still unretired gets a retirement time: the new key's activation plus the
 * longest token lifetime, so every token the old key signed expires before the
 * verifiers lose its public half. Keys already past retirement are dropped.
 */
export function planRotation(file: KeyFile, opts: RotationOptions): { file: KeyFile; result: RotationResult } {
  const activateAt = opts.now + opts.rotationDelaySeconds;
  const fresh = generateSigningKey(opts.alg, opts.now, activateAt);
  const retireAt = activateAt + opts.retireAfterSeconds;
  const retiring: { kid: string; retireAt: number }[] = [];
  const kept: SigningKeyRecord[] = [];
  for (const key of file.keys) {
    if (key.retireAt !== undefined && key.retireAt <= opts.now) continue;
    const when = Math.min(key.retireAt ?? Infinity, retireAt);
    retiring.push({ kid: key.kid, retireAt: when });
    kept.push({ ...key, retireAt: when });
  }
  return {
    file: { version: 1, keys: [...kept, fresh] },
    result: { kid: fresh.kid, alg: fresh.alg, activateAt, retiring },
  };
}

/** Rotates the stored keys (creating the first key if needed) and writes them back. */
export async function rotateStoredKeys(repo: KeyRepository, opts: RotationOptions): Promise<RotationResult> {
  const current = await loadOrCreateKeys(repo, opts.alg, opts.now);
  const { file, result } = planRotation(current, opts);
  await repo.write(file);
  return result;
}

/** A summary of the key file for `gatehouse keys list`. */
export function describeKeys(file: KeyFile, now: number): { kid: string; alg: string; state: 'active' | 'next' | 'retiring' | 'retired'; activateAt: number; retireAt?: number }[] {
  const active = file.keys.some((k) => k.retireAt === undefined || k.retireAt > now) ? activeKey(file, now).kid : undefined;
  return file.keys.map((k) => ({
    kid: k.kid,
    alg: k.alg,
    state:
      k.retireAt !== undefined && k.retireAt <= now
        ? 'retired'
        : k.kid === active
          ? 'active'
          : k.activateAt > now
            ? 'next'
            : 'retiring',
    activateAt: k.activateAt,
    ...(k.retireAt !== undefined ? { retireAt: k.retireAt } : {}),
  }));
}
