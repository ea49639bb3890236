import { Redis } from 'ioredis';
import type { AuthServiceConfig } from '../config-schema.js';
import { readKeyFile, writeKeyFile, type KeyFile } from './store.js';

/**
 * Where the signing keys are kept: a file for the embedded store, Redis when
 * several instances share state (each must sign with, and publish, the same keys).
 */
export interface KeyRepository {
  /** A label for messages (`file /path` or `redis key`). */
  readonly where: string;
  read(): Promise<KeyFile | undefined>;
  write(file: KeyFile): Promise<void>;
  /** Stores `file` only if nothing is stored yet; resolves to what is stored afterwards (ours or a racing instance's). */
  create(file: KeyFile): Promise<KeyFile>;
}

export function fileKeyRepository(path: string): KeyRepository {
  return {
    where: `file ${path}`,
    read: () => readKeyFile(path),
    write: (file) => writeKeyFile(path, file),
    async create(file) {
      const existing = await readKeyFile(path);
      if (existing && existing.keys.length > 0) return existing;
      await writeKeyFile(path, file);
      return file;
    },
  };
}

export function redisKeyRepository(redis: Redis, key: string): KeyRepository {
  const parse = (text: string | null): KeyFile | undefined => {
    if (text === null) return undefined;
    const parsed = JSON.parse(text) as KeyFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.keys)) throw new Error(`unsupported key format in redis key ${key}`);
    return parsed;
  };
  return {
    where: `redis key ${key}`,
    read: async () => parse(await redis.get(key)),
    write: async (file) => {
      await redis.set(key, JSON.stringify(file));
    },
    async create(file) {
      // NX: two instances starting at once agree on the first key.
      await redis.set(key, JSON.stringify(file), 'NX');
      return parse(await redis.get(key)) as KeyFile;
    },
  };
}

/** The Redis key holding the signing keys in redis mode. */
export function signingKeysRedisKey(keyPrefix: string): string {
  return `${keyPrefix}signing-keys`;
}

/**
 * Opens the repository the config names (for the CLI): the keys file with the
 * sqlite store, Redis with the redis store. `close()` releases the connection.
 */
export async function openKeyRepository(cfg: AuthServiceConfig): Promise<KeyRepository & { close(): Promise<void> }> {
  if (cfg.store.kind === 'sqlite') {
    return { ...fileKeyRepository(cfg.signing.keysPath as string), close: async () => {} };
  }
  const redis = new Redis(cfg.store.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot connect to Redis at ${URL.parse(cfg.store.url)?.host ?? 'the configured URL'}`, { cause: err });
  }
  return {
    ...redisKeyRepository(redis, signingKeysRedisKey(cfg.store.keyPrefix)),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
