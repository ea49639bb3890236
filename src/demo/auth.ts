import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthServiceSchema, hashPassword, startAuthService, type AuthService } from '../auth-service/index.js';
import type { Logger } from '../log.js';

/*
 * The demo's credentials are fixed and printed so a newcomer can paste them.
 * They exist only here: outside the demo nothing has a default secret or password.
 */
export const DEMO_AUTH_PORT = 8081;
/** Audience (resource indicator) of the demo API's JWT access tokens. */
export const DEMO_API = 'urn:gatehouse:demo-api';
/** Audience of opaque access tokens, which the gateway checks by introspection. */
export const DEMO_OPAQUE_API = 'urn:gatehouse:demo-opaque-api';
export const DEMO_SERVICE_CLIENT = { clientId: 'demo-service', clientSecret: 'demo-service-secret' } as const;
export const DEMO_CLI_CLIENT = { clientId: 'demo-cli', redirectUri: 'http://127.0.0.1:8788/callback' } as const;
export const DEMO_USER = { username: 'alice', password: 'alice-password' } as const;
const DEMO_SCOPES = ['orders:read', 'orders:write'];

export interface DemoAuth {
  readonly service: AuthService;
  /** `http://127.0.0.1:<port>`: issuer and base URL. */
  readonly issuer: string;
  readonly endpoints: { token: string; authorization: string; revocation: string; introspection: string; jwks: string };
  /** The gateway's own client for introspection; its secret is random per run and never printed. */
  readonly gatewayClient: { clientId: string; clientSecret: string };
  /** A PKCE pair made at start, so the printed sign-in example can be pasted as is. */
  readonly pkce: { verifier: string; challenge: string };
  close(): Promise<void>;
}

/**
 * Runs the authorization service for the demo on its own loopback listener
 * (issuer `http://127.0.0.1:8081` by default), with every file in a temporary
 * folder removed on close.
 */
export async function startDemoAuth(opts: { port?: number; logger?: Logger } = {}): Promise<DemoAuth> {
  // The issuer names the port, so port 0 (tests) is resolved to a free one first.
  const port = opts.port === 0 ? await freeLoopbackPort() : (opts.port ?? DEMO_AUTH_PORT);
  const issuer = `http://127.0.0.1:${port}`;
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-demo-'));
  const gatewayClient = { clientId: 'demo-gateway', clientSecret: randomBytes(24).toString('base64url') };
  const config = AuthServiceSchema.parse({
    issuer,
    listen: { host: '127.0.0.1', port },
    store: { kind: 'sqlite', path: join(dir, 'oidc.sqlite') },
    usersPath: join(dir, 'users.sqlite'),
    signing: { alg: 'ES256', keysPath: join(dir, 'keys.json') },
    cookieKeys: [randomBytes(32).toString('base64url')],
    resources: [
      { indicator: DEMO_API, accessTokenFormat: 'jwt', scopes: DEMO_SCOPES },
      { indicator: DEMO_OPAQUE_API, accessTokenFormat: 'opaque', scopes: DEMO_SCOPES },
    ],
    clients: [
      { ...DEMO_SERVICE_CLIENT, grantTypes: ['client_credentials'], scopes: DEMO_SCOPES, resources: [DEMO_API, DEMO_OPAQUE_API] },
      {
        clientId: DEMO_CLI_CLIENT.clientId,
        redirectUris: [DEMO_CLI_CLIENT.redirectUri],
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['openid', 'offline_access', 'profile', 'orders:read'],
        resources: [DEMO_API],
        firstParty: true,
      },
      { ...gatewayClient, grantTypes: ['client_credentials'], scopes: ['orders:read'] },
    ],
  });
  let service: AuthService;
  try {
    service = await startAuthService(config, { logger: opts.logger });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const close = async () => {
    await service.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await service.accounts.add(DEMO_USER.username, await hashPassword(DEMO_USER.password));
    const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    const verifier = randomBytes(32).toString('base64url');
    return {
      service,
      issuer,
      endpoints: {
        token: meta.token_endpoint as string,
        authorization: meta.authorization_endpoint as string,
        revocation: meta.revocation_endpoint as string,
        introspection: meta.introspection_endpoint as string,
        jwks: meta.jwks_uri as string,
      },
      gatewayClient,
      pkce: { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function freeLoopbackPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
