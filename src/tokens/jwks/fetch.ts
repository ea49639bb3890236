import { endpointUrlProblem } from '../../loopback.js';
import { timerDelay } from '../../timers.js';
/**
 * One bounded JWKS download: a deadline over the whole exchange (connect,
 * headers and body) and a byte limit counted while streaming, so a slow or
 * huge response costs at most `timeoutMs` and `maxBytes`.
 */
export interface JwksFetchLimits {
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

/** Why a fetch failed, in words safe for logs. */
export class JwksFetchError extends Error {
  override readonly name = 'JwksFetchError';
}

/** Only https, or http to a loopback host (development, tests, sidecars), and no credentials: see endpointUrlProblem. */
export function assertJwksUrlAllowed(uri: string): URL {
  const problem = endpointUrlProblem(uri);
  if (problem !== undefined) throw new Error(`jwksUri ${problem}`);
  return new URL(uri);
}

/** Downloads and parses a JWKS document. Throws JwksFetchError; the caller keeps its last good keys. */
export async function fetchJwksDocument(url: URL, limits: JwksFetchLimits, cancel?: AbortSignal): Promise<{ keys: unknown[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timerDelay(limits.timeoutMs));
  const onCancel = () => controller.abort();
  cancel?.addEventListener('abort', onCancel, { once: true });
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        signal: controller.signal,
        headers: { accept: 'application/jwk-set+json, application/json' },
        // A redirect could lead anywhere; a JWKS URI is configured exactly.
        redirect: 'error',
      });
    } catch {
      throw new JwksFetchError(controller.signal.aborted ? 'timed out' : 'request failed');
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new JwksFetchError(`unexpected status ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limits.maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new JwksFetchError('response too large');
    }
    const body = await readLimited(res, limits.maxBytes, controller.signal);
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      throw new JwksFetchError('response is not JSON');
    }
    if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
      throw new JwksFetchError('response is not a JWK Set');
    }
    return doc as { keys: unknown[] };
  } finally {
    clearTimeout(timer);
    cancel?.removeEventListener('abort', onCancel);
  }
}

async function readLimited(res: Response, maxBytes: number, signal: AbortSignal): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new JwksFetchError('response too large');
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof JwksFetchError) throw err;
    throw new JwksFetchError(signal.aborted ? 'timed out' : 'response interrupted');
  }
  return Buffer.concat(chunks, total).toString('utf8');
}
