import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { expressjwt, type Request as JwtRequest } from 'express-jwt';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { announceReady, exitWhenParentSaysSo, hasScope, readChildSettings } from './child.js';

// Peer 1: express + express-jwt (jsonwebtoken) + http-proxy-middleware, set up as
// its documentation shows, with two fairness fixes a careful operator would make:
// the key is imported once (a KeyObject, not a PEM parsed per request) and the
// upstream agent keeps connections alive (http-proxy-middleware's default does not).
const settings = readChildSettings();
const { auth, upstream } = settings;
if (!auth || !upstream) throw new Error('express peer needs auth and upstream settings');
if (auth.alg === 'EdDSA') throw new Error('express-jwt (jsonwebtoken 9) does not support EdDSA');

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(
  expressjwt({
    secret: createPublicKey(readFileSync(auth.publicKeyFile)),
    algorithms: [auth.alg],
    issuer: auth.issuer,
    audience: auth.audience,
  }),
);
app.use((req: JwtRequest, res: Response, next: NextFunction) => {
  if (req.auth && hasScope(req.auth as Record<string, unknown>, auth.scope)) return next();
  res.status(403).json({ error: 'insufficient_scope' });
});
app.use(createProxyMiddleware({ target: upstream, agent: new Agent({ keepAlive: true, maxSockets: 128 }) }));
app.use((err: { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
  res.status(err.status ?? 500).json({ error: err.status === 401 ? 'invalid_token' : 'error' });
});

const server = app.listen(settings.port ?? 0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port);
});
server.keepAliveTimeout = 65_000;
exitWhenParentSaysSo();
