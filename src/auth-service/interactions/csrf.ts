import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens bound to one interaction: an HMAC of the interaction id under
 * the service's first cookie key. Nothing to store, and a token taken from
 * one login form is useless for any other.
 */
export function csrfTokenFor(interactionUid: string, key: string): string {
  return createHmac('sha256', key).update(`gatehouse-csrf:${interactionUid}`).digest('base64url');
}

/** Constant-time check of a submitted token; false when missing or malformed. */
export function isValidCsrfToken(submitted: string | undefined, interactionUid: string, key: string): boolean {
  if (typeof submitted !== 'string' || submitted.length === 0 || submitted.length > 128) return false;
  const expected = Buffer.from(csrfTokenFor(interactionUid, key));
  const actual = Buffer.from(submitted);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
