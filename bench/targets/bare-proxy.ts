import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';
import { announceReady, exitWhenParentSaysSo, readChildSettings } from './child.js';

// The ceiling for any Node gateway: node:http in, undici Pool out, streaming,
// hop-by-hop headers removed, no authentication. Every ratio is taken against it.
const settings = readChildSettings();
if (!settings.upstream) throw new Error('bare proxy needs an upstream');
const pool = new Pool(settings.upstream, { connections: 128, pipelining: 1 });

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host',
]);

function forwardHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

const server = createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .request({ method: req.method as 'GET', path: req.url ?? '/', headers: forwardHeaders(req), body: hasBody ? req : null })
    .then(
      ({ statusCode, headers, body }) => {
        // The client may have gone (wrk closes its connections when its time is up).
        if (res.destroyed) {
          body.on('error', () => undefined).destroy();
          return;
        }
        for (const name of Object.keys(headers)) if (HOP_BY_HOP.has(name)) delete headers[name];
        res.writeHead(statusCode, headers as Record<string, string | string[]>);
        pipeline(body, res, () => undefined);
      },
      () => {
        if (res.destroyed) return;
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('bad gateway\n');
      },
    );
});
server.keepAliveTimeout = 65_000;
server.listen(settings.port ?? 0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port);
});
exitWhenParentSaysSo(() => pool.close());
