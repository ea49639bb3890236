import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** Issuer and audience of the demo's own tokens; the demo gateway config trusts exactly these. */
export const DEMO_ISSUER = 'urn:gatehouse:demo-issuer';
export const DEMO_AUDIENCE = 'demo-api';

export interface DemoSigner {
  /** Public keys, served as the demo's JWKS. */
  readonly jwks: { keys: JWK[] };
  /** Mints an RFC 9068 access token for the demo audience. */
  mint(claims: { sub: string; scope: string; clientId?: string }, opts?: { lifetimeSeconds?: number; now?: () => number }): Promise<string>;
}

/**
 * A throwaway ES256 key pair that mints demo-style access tokens without an
 * authorization service (tests use it; the demo itself gets its tokens from the
 * service). The private key never leaves this process.
 */
export async function createDemoSigner(): Promise<DemoSigner> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  const publicJwk: JWK = { ...jwk, kid, alg: 'ES256', use: 'sig' };
  return {
    jwks: { keys: [publicJwk] },
    async mint(claims, opts = {}) {
      const nowSeconds = Math.floor((opts.now ?? Date.now)() / 1000);
      return new SignJWT({ scope: claims.scope, client_id: claims.clientId ?? 'demo-client' })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .setIssuer(DEMO_ISSUER)
        .setAudience(DEMO_AUDIENCE)
        .setSubject(claims.sub)
        .setIssuedAt(nowSeconds)
        .setExpirationTime(nowSeconds + (opts.lifetimeSeconds ?? 3600))
        .setJti(crypto.randomUUID())
        .sign(privateKey);
    },
  };
}
