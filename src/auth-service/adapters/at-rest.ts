import { hash } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';

/**
 * Models whose id is the token a client holds: an opaque access token, a
 * refresh token or an authorization code is its `jti`. Stored under that id (and
 * with it in the payload), anyone who could read the store (a backup, a Redis
 * replica, a stolen SQLite file) could use every live token in it. They are
 * kept under a SHA-256 of the id instead, and without `jti` in the payload; a
 * lookup has the token, so it can hash it and put the `jti` back. (JWT access
 * tokens are not stored at all; sessions, grants and interactions are looked
 * up by other keys too, and are not bearer tokens on their own.)
 */
const TOKEN_MODELS = new Set(['AccessToken', 'ClientCredentials', 'RefreshToken', 'AuthorizationCode']);

/** The key a model's record is stored under. */
export function storedId(model: string, id: string): string {
  return TOKEN_MODELS.has(model) ? `sha256:${hash('sha256', id, 'base64url')}` : id;
}

/**
 * Whether `id` may be looked up under itself, as tokens were stored before
 * they were kept under a digest. oidc-provider's token ids are nanoids
 * (`[A-Za-z0-9_-]`); a stored key (`sha256:…`) is not one, so the key a store
 * reader sees is never taken for a legacy token and never finds the record it
 * names.
 */
export function mayBeLegacyTokenId(model: string, id: string): boolean {
  return TOKEN_MODELS.has(model) && NANOID.test(id);
}

const NANOID = /^[A-Za-z0-9_-]+$/;

/** The payload as stored: a token model's without its `jti`. */
export function toStored(model: string, payload: AdapterPayload): AdapterPayload {
  if (!TOKEN_MODELS.has(model) || payload.jti === undefined) return payload;
  const { jti: _token, ...rest } = payload;
  return rest;
}

/** The payload as oidc-provider expects it back: with the `jti` it was looked up by. */
export function fromStored(model: string, id: string, payload: AdapterPayload): AdapterPayload {
  return TOKEN_MODELS.has(model) && payload.jti === undefined ? { ...payload, jti: id } : payload;
}
