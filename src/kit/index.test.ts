import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { generateTestKey, jwtFixture, mintToken, startJwksServer, type JwksServer } from '../../test/helpers/jwt.js';
import {
  checkRequest,
  createVerifier,
  guardOptions,
  requireToken,
  requireTokenExpress,
  requireTokenFastify,
  type FastifyLikeRequest,
  type RequestWithIdentity,
  type RequireTokenOptions,
  type TokenVerifier,
} from './index.js';
import { internalCause } from './guard.js';

const ISS = 'https://auth.example.com';
const key = generateTestKey('ES256');
const claims = { iss: ISS, aud: 'orders', sub: 'alice', scope: 'orders:read' };

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request, so tests can send duplicate headers. */
function call(url: string, rawHeaders: [string, string][] = []): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // Array headers are sent as given (duplicates included), and without a default Host.
    const headers = [['Host', new URL(url).host], ...rawHeaders].flat();
    const req = request(url, { method: 'GET', headers: headers as unknown as Record<string, string> }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const bearer = (token: string): [string, string][] => [['Authorization', `Bearer ${token}`]];

let jwks: JwksServer;
let verifier: TokenVerifier;
let unavailable: TokenVerifier;
let dead: JwksServer;

before(async () => {
  jwks = await startJwksServer([key]);
  dead = await startJwksServer([key]);
  dead.setBehaviour('error');
  verifier = createVerifier({ issuer: ISS, audience: 'orders', jwksUri: jwks.uri, algorithms: ['ES256'] });
  unavailable = createVerifier({ issuer: ISS, audience: 'orders', jwksUri: dead.uri, algorithms: ['ES256'] });
  await verifier.ready;
});
after(async () => {
  verifier.close();
  unavailable.close();
  await jwks.close();
  await dead.close();
});

/** The same contract for each framework: `base` serves /read (orders:read), /admin (admin) and /down (keys unavailable). */
function contract(name: string, start: () => Promise<{ base: string; stop: () => Promise<void> }>) {
  describe(name, () => {
    let base = '';
    let stop: () => Promise<void> = async () => {};
    before(async () => {
      ({ base, stop } = await start());
    });
    after(() => stop());

    test('a valid token reaches the handler with its identity', async () => {
      const r = await call(`${base}/read`, bearer(mintToken(key, claims)));
      assert.equal(r.status, 200);
      assert.equal(r.body, 'hello alice');
    });

    test('no token: 401, challenge without an error attribute', async () => {
      const r = await call(`${base}/read`);
      assert.equal(r.status, 401);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="service"');
      assert.match(String(r.headers['content-type']), /^application\/problem\+json(; charset=utf-8)?$/);
      assert.equal(JSON.parse(r.body).code, 'GH_TOKEN_MISSING');
    });

    test('another scheme counts as no token', async () => {
      const r = await call(`${base}/read`, [['Authorization', 'Basic dXNlcjpwYXNz']]);
      assert.equal(r.status, 401);
      assert.equal(JSON.parse(r.body).code, 'GH_TOKEN_MISSING');
    });

    for (const [what, token, code] of [
      ['an expired token', () => mintToken(key, { ...claims, exp: 1000 }), 'GH_TOKEN_EXPIRED'],
      ['a token for another audience', () => mintToken(key, { ...claims, aud: 'billing' }), 'GH_TOKEN_INVALID'],
      ['a DPoP-bound token sent as a bearer token', () => mintToken(key, { ...claims, cnf: { jkt: 'DhC7f19MVULWqVK8Jv34XMG8PB_EqjZE5FF7YxWgHPg' } }), 'GH_TOKEN_INVALID'],
      ['an opaque token', () => 'opaque-value', 'GH_TOKEN_MALFORMED'],
      ['garbage in three segments', () => 'x.y.z', 'GH_TOKEN_MALFORMED'],
    ] as const) {
      test(`${what}: 401 invalid_token, nothing echoed`, async () => {
        const t = token();
        const r = await call(`${base}/read`, bearer(t));
        assert.equal(r.status, 401);
        assert.match(String(r.headers['www-authenticate']), /^Bearer realm="service", error="invalid_token", error_description="[^"]+"$/);
        assert.equal(JSON.parse(r.body).code, code);
        assert.ok(!r.body.includes(t) && !String(r.headers['www-authenticate']).includes(t));
      });
    }

    test('a missing scope: 403 insufficient_scope naming the scope', async () => {
      const r = await call(`${base}/admin`, bearer(mintToken(key, claims)));
      assert.equal(r.status, 403);
      assert.match(String(r.headers['www-authenticate']), /error="insufficient_scope".*scope="admin"/);
      assert.equal(JSON.parse(r.body).code, 'GH_INSUFFICIENT_SCOPE');
    });

    test('two Authorization headers: 400 invalid_request', async () => {
      const t = mintToken(key, claims);
      const r = await call(`${base}/read`, [...bearer(t), ...bearer(t)]);
      assert.equal(r.status, 400);
      assert.equal(JSON.parse(r.body).code, 'GH_BAD_CREDENTIAL_REQUEST');
    });

    test('keys that never loaded: 503 GH_KEYS_UNAVAILABLE, and the service still serves', async () => {
      const r = await call(`${base}/down`, bearer(mintToken(key, claims)));
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body).code, 'GH_KEYS_UNAVAILABLE');
      assert.equal(r.headers['retry-after'], '5');
      assert.equal(r.headers['www-authenticate'], undefined, 'a 503 is not the credential\'s fault');
      assert.equal((await call(`${base}/read`, bearer(mintToken(key, claims)))).status, 200);
    });
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

contract('node:http requireToken', async () => {
  const guards = {
    '/read': requireToken(verifier, { scopes: ['orders:read'] }),
    '/admin': requireToken(verifier, { scopes: ['admin'] }),
    '/down': requireToken(unavailable),
  } as const;
  const server = createServer(async (req, res) => {
    const guard = guards[req.url as keyof typeof guards];
    const identity = await guard(req, res);
    if (!identity) return;
    res.end(`hello ${identity.subject}`);
  });
  const base = await listen(server);
  return { base, stop: () => new Promise((r) => server.close(() => r())) };
});

contract('express requireTokenExpress', async () => {
  const app = express();
  const hello = (req: express.Request, res: express.Response) => {
    res.type('text/plain').send(`hello ${(req as unknown as RequestWithIdentity).identity!.subject}`);
  };
  app.get('/read', requireTokenExpress(verifier, { scopes: ['orders:read'] }), hello);
  app.get('/admin', requireTokenExpress(verifier, { scopes: ['admin'] }), hello);
  app.get('/down', requireTokenExpress(unavailable), hello);
  const server = createServer(app);
  const base = await listen(server);
  return { base, stop: () => new Promise((r) => server.close(() => r())) };
});

contract('fastify requireTokenFastify', async () => {
  const app: FastifyInstance = Fastify();
  app.decorateRequest('identity', null);
  const hello = async (request: unknown) => `hello ${(request as FastifyLikeRequest).identity!.subject}`;
  app.get('/read', { preHandler: requireTokenFastify(verifier, { scopes: ['orders:read'] }) }, hello);
  app.get('/admin', { preHandler: requireTokenFastify(verifier, { scopes: ['admin'] }) }, hello);
  app.get('/down', { preHandler: requireTokenFastify(unavailable) }, hello);
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return { base, stop: () => app.close() };
});

test('createVerifier takes several issuers and fills the defaults', async () => {
  const other = generateTestKey('HS256');
  const v = createVerifier([
    { issuer: ISS, audience: 'orders', jwksUri: jwks.uri, algorithms: ['ES256'] },
    { issuer: 'https://internal.test', audience: ['orders'], secret: other.secret!, algorithms: ['HS256'] },
  ]);
  try {
    await v.ready;
    assert.equal((await v.verify(mintToken(key, claims))).subject, 'alice');
    assert.equal((await v.verify(mintToken(other, { ...claims, iss: 'https://internal.test' }))).subject, 'alice');
  } finally {
    v.close();
  }
});

test('a response answered while the kit waited on the keys (a timeout middleware) is left alone: no second answer, no crash, the service keeps serving', async () => {
  const slow = await startJwksServer([key]);
  slow.setBehaviour('slow'); // holds every JWKS request: the verifier gives up after jwks.timeoutMs
  // One verifier per server: after a failed fetch a verifier answers 503 at once until its cooldown ends.
  const slowVerifier = () => createVerifier({ issuer: ISS, audience: 'orders', jwksUri: slow.uri, algorithms: ['ES256'], jwks: { timeoutMs: 300 } });
  const verifiers = [slowVerifier(), slowVerifier()];
  const escaped: unknown[] = [];
  const onEscape = (err: unknown) => escaped.push(err);
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
  const answerFirst = (res: { headersSent: boolean; writeHead(s: number): { end(b: string): void } }) =>
    setTimeout(() => {
      if (!res.headersSent) res.writeHead(504).end('timeout');
    }, 50);
  const app = express();
  app.use((_req, res, next) => {
    answerFirst(res);
    next();
  });
  app.get('/x', requireTokenExpress(verifiers[0]!), (_req, res) => void res.send('ran'));
  const viaExpress = createServer(app);
  const guard = requireToken(verifiers[1]!);
  const plain = createServer(async (req, res) => {
    answerFirst(res);
    if (await guard(req, res)) res.end('ran');
  });
  const bases = [await listen(viaExpress), await listen(plain)];
  try {
    for (const [i, base] of bases.entries()) {
      const tok = mintToken(key, claims);
      // The verifier's own wait ends when the JWKS fetch gives up; the kit's callbacks run right after.
      const [reply] = await Promise.all([call(`${base}/x`, bearer(tok)), verifiers[i]!.verify(tok).catch(() => undefined)]);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(reply.status, 504);
      assert.equal(reply.body, 'timeout');
      assert.deepEqual(escaped, [], 'nothing escaped into the process');
      assert.equal((await call(`${base}/x`)).status, 401, 'still serving: a request without a token is refused at once');
    }
  } finally {
    process.off('unhandledRejection', onEscape);
    process.off('uncaughtException', onEscape);
    for (const v of verifiers) v.close();
    await Promise.all([new Promise((r) => viaExpress.close(r)), new Promise((r) => plain.close(r)), slow.close()]);
  }
});

test('Express: keys that arrive after a timeout middleware answered do not run the route, and nothing escapes', async () => {
  const late = await startJwksServer([key]);
  late.setBehaviour('slow'); // holds the JWKS request until the test answers it
  const v = createVerifier({ issuer: ISS, audience: 'orders', jwksUri: late.uri, algorithms: ['ES256'], jwks: { timeoutMs: 60_000 } });
  const escaped: unknown[] = [];
  const onEscape = (err: unknown) => escaped.push(err);
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
  let arrived!: (res: ServerResponse) => void;
  const waiting = new Promise<ServerResponse>((resolve) => (arrived = resolve));
  let ran = 0;
  const app = express();
  // A timeout middleware: it hands the response over, and the test answers it while the kit waits on the keys.
  app.use((_req, res, next) => {
    arrived(res);
    next();
  });
  app.get('/x', requireTokenExpress(v), (_req, res) => {
    ran++;
    res.send('ran');
  });
  const server = createServer(app);
  const base = await listen(server);
  try {
    const reply = call(`${base}/x`, bearer(mintToken(key, claims)));
    // The verifier's first fetch is held; the request joins it.
    await late.waitForHeld(1);
    (await waiting).writeHead(504).end('timeout');
    assert.equal((await reply).status, 504);
    // The keys arrive now: the token verifies, after the response was answered.
    late.answerHeld();
    await v.ready;
    // The kit's callback runs in microtasks once the keys are in: over by the next turn of the loop.
    await new Promise((r) => setImmediate(r));
    assert.equal(ran, 0, 'the route never ran for the answered request');
    assert.deepEqual(escaped, [], 'nothing escaped into the process');
    late.setBehaviour('ok');
    assert.equal((await call(`${base}/x`, bearer(mintToken(key, claims)))).status, 200, 'the service keeps serving');
    assert.equal(ran, 1);
  } finally {
    process.off('unhandledRejection', onEscape);
    process.off('uncaughtException', onEscape);
    v.close();
    await Promise.all([new Promise((r) => server.close(r)), late.close()]);
  }
});

test('newKeysLoaded rejects within jwks.timeoutMs when the JWKS is down or silent, naming the issuer and why; ready would wait on', async () => {
  const down = await startJwksServer([key]);
  down.setBehaviour('down');
  const silent = await startJwksServer([key]);
  silent.setBehaviour('slow');
  const verifiers = [
    createVerifier({ issuer: ISS, audience: 'orders', jwksUri: down.uri, algorithms: ['ES256'] }),
    createVerifier({ issuer: ISS, audience: 'orders', jwksUri: silent.uri, algorithms: ['ES256'], jwks: { timeoutMs: 300 } }),
  ];
  try {
    let ready = false;
    for (const v of verifiers) void v.ready.then(() => (ready = true));
    await assert.rejects(verifiers[0]!.newKeysLoaded, { message: `issuer ${ISS}: JWKS fetch failed: request failed` });
    await assert.rejects(verifiers[1]!.newKeysLoaded, { message: `issuer ${ISS}: JWKS fetch failed: timed out` });
    assert.equal(ready, false);
    assert.equal(verifiers[0]!.isReady(), false);
  } finally {
    for (const v of verifiers) v.close();
    await Promise.all([down.close(), silent.close()]);
  }
});

test('createVerifier throws on a publicKey file that reads but does not import, naming the issuer, the file and why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kit-keys-'));
  try {
    for (const [name, content, reason] of [
      ['private.pem', key.privateKey!.export({ format: 'pem', type: 'pkcs8' }).toString(), 'holds a private key; give the public key'],
      ['garbage.pem', 'not a key\n', 'neither PEM nor JSON'],
      ['rsa.pem', generateTestKey('RS256').publicPem, 'the key does not fit any of the algorithms ES256'],
    ] as const) {
      const path = join(dir, name);
      writeFileSync(path, content);
      assert.throws(() => createVerifier({ issuer: ISS, audience: 'orders', publicKey: path, algorithms: ['ES256'] }), {
        message: `issuer ${ISS}: public key file ${path}: ${reason}`,
      });
    }
    const good = join(dir, 'public.pem');
    writeFileSync(good, key.publicPem);
    createVerifier({ issuer: ISS, audience: 'orders', publicKey: good, algorithms: ['ES256'] }).close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a fault inside verification (not a refusal) reaches the framework error handler with its cause', async () => {
  const failing = createVerifier(
    { issuer: ISS, audience: 'orders', jwksUri: jwks.uri, algorithms: ['ES256'] },
    {
      hooks: {
        onCacheLookup: () => {
          throw new TypeError('a hook that throws');
        },
      },
    },
  );
  await failing.ready;
  const seen: unknown[] = [];
  const app = express();
  app.get('/x', requireTokenExpress(failing), (_req, res) => void res.send('ran'));
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    seen.push(err);
    res.status(500).send('handled');
  });
  const fastify: FastifyInstance = Fastify();
  fastify.decorateRequest('identity', null);
  fastify.setErrorHandler((err, _request, reply) => {
    seen.push(err);
    void reply.code(500).send('handled');
  });
  fastify.get('/x', { preHandler: requireTokenFastify(failing) }, async () => 'ran');
  const server = createServer(app);
  const bases = [await listen(server), await fastify.listen({ port: 0, host: '127.0.0.1' })];
  try {
    for (const base of bases) {
      const reply = await call(`${base}/x`, bearer(mintToken(key, claims)));
      assert.equal(reply.status, 500);
      assert.equal(reply.body, 'handled');
    }
    assert.equal(seen.length, 2);
    for (const err of seen) assert.ok(err instanceof TypeError && err.message === 'a hook that throws', String(err));
  } finally {
    failing.close();
    await Promise.all([new Promise((r) => server.close(r)), fastify.close()]);
  }
});

test('createVerifier refuses key settings the config schema refuses: HMAC beside a JWKS or public key, a secret with other algorithms, a jwksUri with credentials or plain http', () => {
  const secret = 'k'.repeat(40);
  const port = new URL(jwks.uri).port;
  const hmacWithPublicKeys = 'algorithms: HMAC algorithms need an explicit secret and are never allowed with public keys';
  for (const [what, settings, message] of [
    // Never ready (the JWKS holds no HMAC key), and every token refused as "algorithm not allowed".
    ['HS256 with a jwksUri', { jwksUri: jwks.uri, algorithms: ['HS256'] }, hmacWithPublicKeys],
    ['HS256 beside ES256 with a publicKey', { publicKey: jwtFixture('ec-cert.pem'), algorithms: ['ES256', 'HS256'] }, hmacWithPublicKeys],
    ['a secret with ES256 too', { secret, algorithms: ['HS256', 'ES256'] }, 'algorithms: a secret allows only HS256, HS384 or HS512'],
    // fetch() refuses a URL with credentials: every fetch failed, forever.
    ['a jwksUri with user:password@', { jwksUri: `http://user:pw@127.0.0.1:${port}/jwks`, algorithms: ['ES256'] }, 'jwksUri: must not carry credentials (user:password@)'],
    ['a jwksUri over plain http off loopback', { jwksUri: 'http://auth.example.com/jwks', algorithms: ['ES256'] }, 'jwksUri: must be https (http is allowed on loopback only)'],
    ['a jwksUri and a secret', { jwksUri: jwks.uri, secret, algorithms: ['HS256'] }, 'exactly one of publicKey, jwksUri or secret is required'],
  ] as const) {
    assert.throws(() => createVerifier({ issuer: ISS, audience: 'orders', ...settings }), { message: `issuer ${ISS}: ${message}` }, what);
  }
});

test('createVerifier refuses a JWKS cacheMaxAge or cooldown under 1 s: a fetch loop, or a JWKS fetch for every forged kid', () => {
  const ok = { issuer: ISS, audience: 'orders', jwksUri: jwks.uri, algorithms: ['ES256'] };
  assert.throws(() => createVerifier({ ...ok, jwks: { cacheMaxAge: 0 } }), {
    message: `issuer ${ISS}: jwks.cacheMaxAge must be at least 1s: a shorter cache age re-fetches the JWKS continuously`,
  });
  assert.throws(() => createVerifier({ ...ok, jwks: { cacheMaxAge: 0.05 } }), /jwks\.cacheMaxAge must be at least 1s/);
  assert.throws(() => createVerifier({ ...ok, jwks: { cooldown: 0 } }), {
    message: `issuer ${ISS}: jwks.cooldown must be at least 1s: a shorter cooldown lets every token with an unknown kid or a bad signature trigger a JWKS fetch`,
  });
  createVerifier({ ...ok, jwks: { cacheMaxAge: 1, cooldown: 1 } }).close();
});

test('createVerifier refuses options under which a check could never fire (NaN or infinite skew, NaN age, no issuer, no audience)', () => {
  const ok = { issuer: ISS, audience: 'orders', jwksUri: jwks.uri, algorithms: ['ES256'] };
  for (const [what, bad] of [
    ['clockSkew NaN', { clockSkew: Number.NaN }],
    ['clockSkew Infinity', { clockSkew: Number.POSITIVE_INFINITY }],
    ['clockSkew negative', { clockSkew: -1 }],
    ['maxTokenAge NaN', { maxTokenAge: Number.NaN }],
    ['maxTokenAge negative', { maxTokenAge: -1 }],
    ['issuer missing', { issuer: undefined }],
    ['audience empty', { audience: [] }],
    ['audience empty string', { audience: '' }],
    ['jwks timeout NaN', { jwks: { timeoutMs: Number.NaN } }],
  ] as const) {
    assert.throws(() => createVerifier({ ...ok, ...bad } as unknown as Parameters<typeof createVerifier>[0]), /^Error: issuer .*: /, what);
  }
});

test('the middlewares refuse, when built, options the challenge could not carry: a realm beyond printable ASCII (or with " or \\), a scope that is not a scope-token', () => {
  const builders = [requireToken, requireTokenExpress, requireTokenFastify];
  for (const [what, opts, message] of [
    // An en dash: Node's writeHead throws on it, and the first anonymous request ended the service.
    ['a realm with an en dash', { realm: 'Bestellungen – Dienst' }, /^Gatehouse kit: options\.realm must be printable ASCII without `"` or `\\`, got "Bestellungen – Dienst"$/],
    ['a realm with a double quote', { realm: 'my "realm"' }, /options\.realm/],
    ['a realm that is a number', { realm: 7 }, /options\.realm must be .*, got number$/],
    ['one scope written with a space', { scopes: ['orders:read orders:write'] }, /^Gatehouse kit: options\.scopes\[0\] must be a scope-token: printable ASCII without spaces, `"` or `\\` \(RFC 6749 §3\.3\), got "orders:read orders:write"$/],
    ['a scope beyond ASCII', { scopes: ['orders:read', 'orders→write'] }, /options\.scopes\[1\]/],
    ['an empty scope', { scopes: [''] }, /options\.scopes\[0\]/],
    ['scopes as a string', { scopes: 'orders:read' }, /options\.scopes must be an array of scopes, got "orders:read"$/],
  ] as const) {
    for (const build of builders) {
      assert.throws(() => build(verifier, opts as unknown as RequireTokenOptions), (err: unknown) => err instanceof TypeError && message.test(err.message), `${build.name}: ${what}`);
    }
    assert.throws(() => guardOptions(opts as unknown as RequireTokenOptions), TypeError, what);
  }
  assert.deepEqual(guardOptions(undefined), { scopes: [], realm: 'service' });
  assert.deepEqual(guardOptions({ realm: 'Orders (v2)', scopes: ['orders:read'] }), { scopes: ['orders:read'], realm: 'Orders (v2)' });
});

test('checkRequest never throws: options guardOptions refuses make a 500 GH_INTERNAL rejection whose cause names the option', async () => {
  const refused = { authorization: 'Bearer x.y.z' };
  for (const [what, opts] of [
    ['realm 7 with a refused token', { realm: 7 }],
    ['a realm beyond ASCII', { realm: 'Bestellungen – Dienst' }],
    ['scopes as a string', { scopes: 'orders:read' }],
    ['no options at all', undefined],
  ] as const) {
    const result = await checkRequest(verifier, refused, undefined, opts as unknown as RequireTokenOptions);
    assert.equal(result.ok, false, what);
    if (result.ok) continue;
    if (opts === undefined) {
      assert.equal(result.rejection.error.code, 'GH_TOKEN_MALFORMED', what);
      continue;
    }
    assert.equal(result.rejection.status, 500, what);
    assert.equal(result.rejection.error.code, 'GH_INTERNAL', what);
    assert.equal(result.rejection.headers['www-authenticate'], undefined, what);
    const cause = internalCause(result.rejection);
    assert.ok(cause instanceof TypeError && /^Gatehouse kit: options\.(realm|scopes)/.test(cause.message), `${what}: ${String(cause)}`);
  }
  // Headers that are not an object: refused as a fault, not thrown.
  const broken = await checkRequest(verifier, undefined as unknown as IncomingHttpHeaders, undefined, {});
  assert.equal(broken.ok ? 'ok' : broken.rejection.error.code, 'GH_INTERNAL');
});

test('requireTokenExpress: a throw while writing the refusal (a writeHead hook, as on-headers installs) goes to the error handler, not into an unhandled rejection', async () => {
  const escaped: unknown[] = [];
  const onEscape = (err: unknown) => escaped.push(err);
  process.on('unhandledRejection', onEscape);
  const seen: unknown[] = [];
  const app = express();
  app.use((_req, res, next) => {
    const writeHead = res.writeHead;
    let hooked = true;
    res.writeHead = function (this: typeof res, ...args: Parameters<typeof writeHead>) {
      // Throws once, for the kit's refusal; the error handler's answer goes through.
      if (hooked) {
        hooked = false;
        throw new Error('a writeHead hook failed');
      }
      return writeHead.apply(this, args);
    } as typeof writeHead;
    next();
  });
  app.get('/x', requireTokenExpress(verifier), (_req, res) => void res.send('ran'));
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    seen.push(err);
    res.status(500).send('handled');
  });
  const server = createServer(app);
  const base = await listen(server);
  try {
    const reply = await call(`${base}/x`);
    assert.equal(reply.status, 500);
    assert.equal(reply.body, 'handled');
    assert.equal(seen.length, 1);
    assert.match(String((seen[0] as Error).message), /a writeHead hook failed/);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(escaped, []);
  } finally {
    process.off('unhandledRejection', onEscape);
    await new Promise((r) => server.close(r));
  }
});
