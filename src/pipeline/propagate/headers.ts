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
 * injects nothing. Values: see {@link headerValue}.
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

/**
 * Renders a claim as a header value that is always safe to send, and tells two
 * strings apart: a string goes as it is when it is printable ASCII that neither
 * starts nor ends with a space and does not start with `"`, `[` or `{`; any other
 * string (control characters such as CR/LF, characters beyond ASCII, spaces a
 * header parser would trim, text that reads as JSON) and every other JSON type
 * go JSON-encoded with `\u` escapes. So a claim can never split or forge a
 * header, and a user who picks the name `"Zo\u00eb"` or ` alice ` cannot pass
 * for `Zoë` or `alice`: an upstream reads a value starting with `"` as JSON.
 */
export function headerValue(value: unknown): string {
  if (typeof value === 'string') return isPlainAscii(value) ? value : asciiJson(value);
  return asciiJson(value);
}

function isPlainAscii(s: string): boolean {
  if (s.length === 0) return true;
  const first = s.charCodeAt(0);
  // `"`, `[`, `{`: what a JSON-encoded value starts with; a space at either end: trimmed by every header parser.
  if (first === 0x22 || first === 0x5b || first === 0x7b || first === 0x20 || s.charCodeAt(s.length - 1) === 0x20) return false;
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
