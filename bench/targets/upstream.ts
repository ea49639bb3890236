import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceReady, exitWhenParentSaysSo, readChildSettings } from './child.js';

// The service behind every proxy: a small fixed response, so the bench measures
// the proxies and not the upstream.
const settings = readChildSettings();
const body = Buffer.from('{"ok":true,"service":"orders"}\n');
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };

const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(settings.port ?? 0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port);
});
exitWhenParentSaysSo();
