import { Agent, request, type Dispatcher } from 'undici';

/** A bounded HTTP exchange: what the introspection and discovery code get back. */
export interface BoundedResponse {
  readonly status: number;
  readonly contentType: string;
  /** Parsed JSON, or undefined when the body was not JSON. */
  readonly json: unknown;
}

/** Why an exchange failed before a usable response arrived. */
export class ExchangeFailed extends Error {
  constructor(
    readonly reason: 'timeout' | 'network' | 'too-large',
    options?: { cause?: unknown },
  ) {
    super(`introspection exchange failed: ${reason}`, options);
    this.name = 'ExchangeFailed';
  }
}

export interface ExchangeOptions {
  readonly method: 'GET' | 'POST';
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly maxBytes: number;
  /**
   * Ends the exchange as a timeout when it aborts. The caller owns it, so a lookup that
   * may take a retry runs both exchanges under one timer instead of one timer each.
   */
  readonly deadline: AbortSignal;
}

/** A keep-alive pool for one authorization server, `connections` wide; closed with the client. */
export function createDispatcher(connections: number): Agent {
  return new Agent({ connections, keepAliveTimeout: 10_000, pipelining: 1 });
}

/**
 * One request under the caller's deadline over the whole exchange (connect,
 * headers and body) and a cap on the body size, so a slow or hostile endpoint
 * costs the gateway bounded time and memory per lookup.
 */
export async function exchange(dispatcher: Dispatcher, url: string, opts: ExchangeOptions): Promise<BoundedResponse> {
  const signal = opts.deadline;
  try {
    const res = await request(url, {
      dispatcher,
      method: opts.method,
      headers: opts.headers,
      body: opts.body,
      signal,
    });
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      res.body.destroy();
      throw new ExchangeFailed('too-large');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > opts.maxBytes) {
        res.body.destroy();
        throw new ExchangeFailed('too-large');
      }
      chunks.push(chunk);
    }
    const contentType = String(res.headers['content-type'] ?? '').toLowerCase();
    return { status: res.statusCode, contentType, json: parseJson(Buffer.concat(chunks).toString('utf8')) };
  } catch (err) {
    if (err instanceof ExchangeFailed) throw err;
    if (signal.aborted) throw new ExchangeFailed('timeout', { cause: err });
    throw new ExchangeFailed('network', { cause: err });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
}
