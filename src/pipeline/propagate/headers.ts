import type { PropagateConfig } from '../../config/schema.js';
import { readClaim } from '../authorize/claims.js';
import type { Identity } from '../context.js';
import { compileClaimMask } from './mask.js';

/** Appends a route's identity headers to a flat `[name, value, …]` header list. */
export type IdentityHeaderWriter = (identity: Identity, out: string[]) => void;

/** The header names a route injects: all of them are stripped from inbound requests first. */
export function identityHeaderNames(p: PropagateConfig): string[] {
  const names = [p.headers.subject, p.headers.clientId, p.headers.scopes, p.headers.issuer, ...Object.values(p.headers.claims)];
  if (p.maskedClaims) names.push(p.maskedClaims.header);
  return names.filter((n): n is string => n !== undefined).map((n) => n.toLowerCase());
}

/**
 * Compiles a route's propagation into one writer, or undefined when the route
 * injects nothing. Values: strings as-is, other JSON types JSON-encoded; a string
 * that could not travel safely in a header (control characters such as CR/LF, or
 * characters beyond ASCII) is sent JSON-encoded with `\u` escapes instead, so a
 * claim can never split or forge a header.
 */
export function compileIdentityHeaders(p: PropagateConfig): IdentityHeaderWriter | undefined {
  const steps: IdentityHeaderWriter[] = [];
  const { subject, clientId, scopes, issuer, claims } = p.headers;
  if (subject) steps.push((id, out) => pushValue(out, subject, id.subject));
  if (clientId) steps.push((id, out) => pushValue(out, clientId, id.clientId));
  if (scopes) steps.push((id, out) => pushValue(out, scopes, id.scopes.size > 0 ? [...id.scopes].join(' ') : undefined));
  if (issuer) steps.push((id, out) => pushValue(out, issuer, id.issuer));
  for (const [claim, header] of Object.entries(claims)) {
    const path = claim.split('.');
    steps.push((id, out) => pushValue(out, header, readClaim(id.claims, path, claim)));
  }
  if (p.maskedClaims) {
    const mask = compileClaimMask(p.maskedClaims.claims);
    const header = p.maskedClaims.header;
    steps.push((id, out) => out.push(header, mask(id)));
  }
  if (steps.length === 0) return undefined;
  if (steps.length === 1) return steps[0];
  return (identity, out) => {
    for (let i = 0; i < steps.length; i++) (steps[i] as IdentityHeaderWriter)(identity, out);
  };
}

function pushValue(out: string[], header: string, value: unknown): void {
  if (value === undefined || value === null) return;
  out.push(header, headerValue(value));
}

/** Renders a claim as a header value that is always safe to send. */
export function headerValue(value: unknown): string {
  if (typeof value === 'string') return isPlainAscii(value) ? value : asciiJson(value);
  return asciiJson(value);
}

function isPlainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function asciiJson(value: unknown): string {
  // JSON.stringify escapes control characters; escape everything beyond ASCII too.
  return (JSON.stringify(value) ?? 'null').replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
