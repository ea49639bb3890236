import { readFileSync } from 'node:fs';
import fastifyJwt from '@fastify/jwt';
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { announceReady, exitWhenParentSaysSo, hasScope, readChildSettings } from './child.js';

// Peer 2: fastify + @fastify/jwt (fast-jwt) + @fastify/reply-from (undici), with
// their documented defaults (fast-jwt's verified-token cache is off by default),
// logging off like the other targets, and a keep-alive pool as large as the others'.
const settings = readChildSettings();
const { auth, upstream } = settings;
if (!auth || !upstream) throw new Error('fastify peer needs auth and upstream settings');

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(fastifyJwt, {
  secret: { public: readFileSync(auth.publicKeyFile, 'utf8') },
  verify: { algorithms: [auth.alg], allowedIss: auth.issuer, allowedAud: auth.audience },
});
await app.register(replyFrom, { base: upstream, undici: { connections: 128, pipelining: 1 } });

app.addHook('onRequest', async (request, reply) => {
  let claims: Record<string, unknown>;
  try {
    claims = await request.jwtVerify<Record<string, unknown>>();
  } catch {
    return reply.code(401).send({ error: 'invalid_token' });
  }
  if (!hasScope(claims, auth.scope)) return reply.code(403).send({ error: 'insufficient_scope' });
});
app.all('/*', (request, reply) => reply.from(request.url));

await app.listen({ port: settings.port ?? 0, host: '127.0.0.1' });
const address = app.server.address();
announceReady(typeof address === 'object' && address ? address.port : 0);
exitWhenParentSaysSo(() => app.close());
