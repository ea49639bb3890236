/**
 * Test helpers for anything that verifies JWTs: key generation, token minting
 * (valid and deliberately broken) and a real JWKS HTTP server on loopback whose
 * keys and behaviour a test changes while it runs.
 *
 * @example
 * ```ts
 * const key = generateTestKey('RS256');
 * const jwks = await startJwksServer([key]);
 * const token = mintToken(key, { iss: 'https://issuer.test', aud: 'api' });
 * // … configure the gateway with jwks.uri …
 * jwks.setBehaviour('down');   // endpoint breaks
 * await jwks.close();
 * ```
 */
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Algorithms the helpers can mint. */
export type TestAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA' | 'HS256';

/** A signing key for tests, with its public half as JWK and PEM. */
export interface TestKey {
  readonly alg: TestAlgorithm;
  readonly kid: string;
  /** Private key (asymmetric algorithms only). */
  readonly privateKey: KeyObject | undefined;
  readonly publicKey: KeyObject | undefined;
  /** HMAC secret (HS256 only): 43 random base64url characters, usable as an issuer's `secret` as is. */
  readonly secret: string | undefined;
  /** Public JWK with kid, alg and use: what a JWKS publishes. */
  readonly publicJwk: Record<string, unknown>;
  /** SPKI PEM of the public key (asymmetric only). */
  readonly publicPem: string;
}

/**
 * Generates a fresh key. RSA keys are 2048-bit; ES256 uses P-256, ES384 P-384;
 * EdDSA uses Ed25519; HS256 a random secret of 43 characters (256 bits of entropy).
 */
export function generateTestKey(alg: TestAlgorithm, kid = `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`): TestKey {
  if (alg === 'HS256') {
    const secret = randomBytes(32).toString('base64url');
    return { alg, kid, privateKey: undefined, publicKey: undefined, secret, publicJwk: {}, publicPem: '' };
  }
  const { privateKey } =
    alg.startsWith('RS') || alg.startsWith('PS')
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : alg === 'ES384'
          ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
          : generateKeyPairSync('ed25519');
  return testKeyFromPrivate(alg, privateKey, kid);
}

/** Wraps an existing private key (a KeyObject or PKCS#8 / SEC1 / PKCS#1 PEM) as a TestKey, e.g. for a certificate fixture. */
export function testKeyFromPrivate(alg: Exclude<TestAlgorithm, 'HS256'>, key: KeyObject | string, kid = `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`): TestKey {
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  const publicKey = createPublicKey(privateKey);
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  return { alg, kid, privateKey, publicKey, secret: undefined, publicJwk, publicPem };
}

/** Options for {@link mintToken}. Times are epoch seconds. */
export interface MintOptions {
  /** "Now" for default iat/exp (default: the real clock). */
  readonly nowSeconds?: number;
  /** Lifetime for the default `exp` (default 300 s); `null` omits `exp`. */
  readonly expiresInSeconds?: number | null;
  /** `kid` header: default the key's kid; `null` omits it; a string overrides it. */
  readonly kid?: string | null;
  /** Extra or overriding header members (e.g. `{ typ: 'at+jwt' }`, `{ jku: '…' }`). */
  readonly header?: Record<string, unknown>;
}

/**
 * Mints a signed JWT with `key`. Defaults: `iat` now, `exp` now + 300, `jti`
 * random, header `{ alg, typ: 'JWT', kid }`. `claims` overrides any of these.
 *
 * @example
 * ```ts
 * mintToken(key, { iss, aud: 'api', sub: 'alice', scope: 'orders:read' });
 * mintToken(key, { iss, aud: 'api', exp: 1 });                 // expired
 * mintToken(key, { iss, aud: 'api' }, { expiresInSeconds: null }); // no exp
 * ```
 */
export function mintToken(key: TestKey, claims: Record<string, unknown> = {}, opts: MintOptions = {}): string {
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iat: now, jti: randomBytes(8).toString('hex') };
  if (opts.expiresInSeconds !== null) payload.exp = now + (opts.expiresInSeconds ?? 300);
  Object.assign(payload, claims);
  const header: Record<string, unknown> = { alg: key.alg, typ: 'JWT' };
  if (opts.kid !== null) header.kid = opts.kid ?? key.kid;
  Object.assign(header, opts.header);
  return signCompact(header, payload, key);
}

/** Signs an arbitrary header and payload with `key` using `key.alg` (whatever `header.alg` says). */
export function signCompact(header: Record<string, unknown>, payload: Record<string, unknown>, key: TestKey): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  return `${input}.${signBytes(key, Buffer.from(input)).toString('base64url')}`;
}

/** Signs a payload segment given as raw text (not necessarily JSON): for claims that are malformed but genuinely signed. */
export function signRawPayload(header: Record<string, unknown>, payloadText: string, key: TestKey): string {
  const input = `${b64(JSON.stringify(header))}.${b64(payloadText)}`;
  return `${input}.${signBytes(key, Buffer.from(input)).toString('base64url')}`;
}

/** Builds a token from raw parts, with any signature bytes: for forgeries (alg none, zero signatures, …). */
export function forgeToken(header: Record<string, unknown>, payload: Record<string, unknown>, signature: Buffer | string = ''): string {
  const sig = typeof signature === 'string' ? signature : signature.toString('base64url');
  return `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}.${sig}`;
}

/**
 * The classic key-confusion forgery: HS256 with the RSA public key's PEM text
 * as the HMAC secret. A verifier that lets the token pick the algorithm accepts it.
 */
export function forgeHs256WithPublicKey(rsaKey: TestKey, payload: Record<string, unknown>): string {
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: rsaKey.kid }))}.${b64(JSON.stringify(payload))}`;
  const mac = createHmac('sha256', rsaKey.publicPem).update(input).digest();
  return `${input}.${mac.toString('base64url')}`;
}

/** base64url of a UTF-8 string. */
export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function signBytes(key: TestKey, data: Buffer): Buffer {
  switch (key.alg) {
    case 'HS256':
      return createHmac('sha256', key.secret!).update(data).digest();
    case 'RS256':
      return cryptoSign('sha256', data, key.privateKey!);
    case 'RS384':
      return cryptoSign('sha384', data, key.privateKey!);
    case 'RS512':
      return cryptoSign('sha512', data, key.privateKey!);
    case 'PS256':
      return cryptoSign('sha256', data, {
        key: key.privateKey!,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      });
    case 'ES256':
      return cryptoSign('sha256', data, { key: key.privateKey!, dsaEncoding: 'ieee-p1363' });
    case 'ES384':
      return cryptoSign('sha384', data, { key: key.privateKey!, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
      return cryptoSign(null, data, key.privateKey!);
  }
}

/** How the JWKS server answers. */
export type JwksBehaviour =
  /** 200 with the current key set. */
  | 'ok'
  /** Connection dropped without a response (what a crashed endpoint looks like). */
  | 'down'
  /** 500 Internal Server Error. */
  | 'error'
  /** 200 with a body that is not JSON. */
  | 'garbage'
  /** 200 with a valid JWK Set padded beyond any sane size limit (about 2 MiB, no Content-Length). */
  | 'oversized'
  /** Accepts the request and never answers (until the server closes). */
  | 'slow';

/** A real JWKS endpoint on 127.0.0.1. */
export interface JwksServer {
  /** The JWKS URL, e.g. `http://127.0.0.1:41234/jwks`. */
  readonly uri: string;
  /** Requests received at the JWKS path, whatever the behaviour. */
  readonly fetchCount: number;
  /** Replaces the published keys (TestKeys or raw JWK objects). */
  setKeys(keys: readonly (TestKey | Record<string, unknown>)[]): void;
  setBehaviour(behaviour: JwksBehaviour): void;
  /** Resolves once `fetchCount` reaches `n` (event-driven, no polling). */
  waitForFetches(n: number): Promise<void>;
  /** Requests held open by `slow` right now. */
  readonly heldCount: number;
  /** Resolves once exactly `n` requests are held open (e.g. 0: the client gave up). */
  waitForHeld(n: number): Promise<void>;
  /** Answers every request `slow` holds open with the current key set (200): a late answer. */
  answerHeld(): void;
  close(): Promise<void>;
}

/**
 * Starts a JWKS server on an ephemeral loopback port publishing `keys`.
 * Always `close()` it: it also ends requests held open by `slow`.
 */
export async function startJwksServer(keys: readonly (TestKey | Record<string, unknown>)[] = []): Promise<JwksServer> {
  let published = toJwks(keys);
  let behaviour: JwksBehaviour = 'ok';
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const held = new Set<ServerResponse>();
  let heldWaiters: { n: number; resolve: () => void }[] = [];
  const heldChanged = () => {
    const ready = heldWaiters.filter((w) => w.n === held.size);
    heldWaiters = heldWaiters.filter((w) => w.n !== held.size);
    for (const w of ready) w.resolve();
  };

  const server: Server = createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    count++;
    for (const w of waiters.filter((w) => count >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    switch (behaviour) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(published);
        return;
      case 'down':
        req.socket.destroy();
        return;
      case 'error':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not a key set</html>');
        return;
      case 'oversized': {
        // Chunked, so only a streaming byte count can catch it.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(published.slice(0, -2));
        const pad = `,{"kty":"oct","k":"${'A'.repeat(64 * 1024)}"}`;
        for (let i = 0; i < 32; i++) res.write(pad);
        res.end(']}');
        return;
      }
      case 'slow':
        held.add(res);
        heldChanged();
        res.on('close', () => {
          held.delete(res);
          heldChanged();
        });
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    uri: `http://127.0.0.1:${port}/jwks`,
    get fetchCount() {
      return count;
    },
    setKeys(next) {
      published = toJwks(next);
    },
    setBehaviour(next) {
      behaviour = next;
    },
    waitForFetches(n) {
      if (count >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    get heldCount() {
      return held.size;
    },
    waitForHeld(n) {
      if (held.size === n) return Promise.resolve();
      return new Promise((resolve) => heldWaiters.push({ n, resolve }));
    },
    answerHeld() {
      for (const res of [...held]) res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(published);
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function toJwks(keys: readonly (TestKey | Record<string, unknown>)[]): string {
  return JSON.stringify({ keys: keys.map((k) => ('publicJwk' in k ? (k as TestKey).publicJwk : k)) });
}

/**
 * IssuerOptions-shaped defaults for tests (fits `createTokenVerifier` and the
 * gateway's `security.jwt` entry). Override what the test is about.
 */
export function testIssuerOptions(overrides: Record<string, unknown> & { issuer?: string }) {
  return {
    issuer: 'https://issuer.test',
    audience: 'api',
    algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    clockSkew: 0,
    jwks: { timeoutMs: 2000, maxBytes: 64 * 1024, cacheMaxAge: 600, cooldown: 30 },
    ...overrides,
  } as {
    issuer: string;
    audience: string | string[];
    algorithms: string[];
    clockSkew: number;
    jwks: { timeoutMs: number; maxBytes: number; cacheMaxAge: number; cooldown: number };
    jwksUri?: string;
    publicKey?: string;
    secret?: string;
    name?: string;
    maxTokenAge?: number;
    requireTyp?: 'at+jwt' | 'application/at+jwt';
  };
}

/**
 * Absolute path of a file under `test/fixtures/jwt/` (test certificates),
 * found from the repository root so it works from `dist/` and `.build/*` alike.
 */
export function jwtFixture(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return join(dir, 'test', 'fixtures', 'jwt', name);
}
