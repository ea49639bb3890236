import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { announceReady, exitWhenParentSaysSo, readChildSettings } from './child.js';

// The ceiling for any Node gateway: node:http in, undici out through its
// lowest-level API (Pool.dispatch with a callback handler: no response object,
// no parsed header object, no stream pipeline), both bodies streamed with
// backpressure, hop-by-hop headers removed, and no authentication. Every ratio
// is taken against it, so it must be as lean as a correct proxy can be.
const settings = readChildSettings();
if (!settings.upstream) throw new Error('bare proxy needs an upstream');
const pool = new Pool(settings.upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 4000 });

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'host',
]);

function requestHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

class BareHandler implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private done = false;

  constructor(private readonly res: ServerResponse) {
    res.once('close', () => {
      if (!this.done) {
        this.done = true;
        this.abortUpstream?.(new Error('client went away'));
      }
    });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200 || this.done) return true;
    const headers: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
      if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    this.resumeUpstream = resume;
    this.res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.done || this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  private readonly onDrain = (): void => this.resumeUpstream?.();

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    this.res.end();
  }

  onError(): void {
    if (this.done) return;
    this.done = true;
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    this.res.writeHead(502, { 'content-type': 'text/plain' });
    this.res.end('bad gateway\n');
  }
}

// With `verifyKeyFile` (the "verify floor" target): one RS256 check per request
// and nothing else a gateway does — no parsing of header or claims, no cache, no
// claim checks, a minimal 401. What a verifying gateway can never undercut.
const verifyKey: KeyObject | undefined = settings.verifyKeyFile ? createPublicKey(readFileSync(settings.verifyKeyFile)) : undefined;
const UNAUTHORIZED = Buffer.from('unauthorized\n');

function signatureHolds(req: IncomingMessage, key: KeyObject): boolean {
  const auth = req.headers.authorization;
  if (auth === undefined || !auth.startsWith('Bearer ')) return false;
  const dot = auth.lastIndexOf('.');
  if (dot < 8) return false;
  try {
    return verify('sha256', Buffer.from(auth.slice(7, dot), 'latin1'), key, Buffer.from(auth.slice(dot + 1), 'base64url'));
  } catch {
    return false;
  }
}

const server = createServer((req, res) => {
  if (verifyKey !== undefined && !signatureHolds(req, verifyKey)) {
    req.resume();
    res.writeHead(401, { 'content-type': 'text/plain', 'content-length': String(UNAUTHORIZED.length) });
    res.end(UNAUTHORIZED);
    return;
  }
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  pool.dispatch(
    { method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers: requestHeaders(req), body: hasBody ? req : null },
    new BareHandler(res),
  );
});
server.keepAliveTimeout = 65_000;
server.listen(settings.port ?? 0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port);
});
exitWhenParentSaysSo(() => pool.close());
