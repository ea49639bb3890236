import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Gateway } from '../gateway.js';
import { startGateway } from '../gateway.js';
import type { Logger } from '../log.js';
import { DEMO_CLI_CLIENT, DEMO_OPAQUE_API, DEMO_SERVICE_CLIENT, startDemoAuth, type DemoAuth } from './auth.js';
import { demoConfig } from './config.js';
import { startDemoUpstream, type DemoUpstream } from './upstream.js';

export interface DemoOptions {
  readonly port: number;
  readonly adminPort: number;
  /** The authorization service's port (its issuer is `http://127.0.0.1:<port>`); default 8081, 0 picks a free one. */
  readonly authPort?: number;
  readonly logger?: Logger;
}

export interface Demo {
  readonly gateway: Gateway;
  readonly upstream: DemoUpstream;
  /** The authorization service that issues the demo's tokens, on its own loopback listener. */
  readonly auth: DemoAuth;
  close(): Promise<void>;
}

/**
 * Everything `npm start` runs, in one process: the authorization service, the
 * demo upstream, and the gateway in front of it (JWTs checked against the
 * service's JWKS, opaque tokens by introspection at the service).
 */
export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const auth = await startDemoAuth({ port: opts.authPort, logger: opts.logger });
  let upstream: DemoUpstream | undefined;
  let gateway: Gateway;
  try {
    upstream = await startDemoUpstream();
    const config = demoConfig({
      port: opts.port,
      adminPort: opts.adminPort,
      upstream: upstream.url,
      auth: { issuer: auth.issuer, jwksUri: auth.endpoints.jwks, introspectionClient: auth.gatewayClient },
    });
    gateway = await startGateway(config, { logger: opts.logger });
    await gateway.ready;
  } catch (err) {
    await upstream?.close();
    await auth.close();
    throw err;
  }
  const up = upstream;
  return {
    gateway,
    upstream: up,
    auth,
    async close() {
      // Gateway first: it drains requests that still need the upstream and the service.
      await gateway.close();
      await up.close();
      await auth.close();
    },
  };
}

/** The text the demo prints: what runs where, the demo credentials, and commands to paste. */
export function demoInstructions(demo: Demo): string {
  const gw = demo.gateway.url;
  const admin = demo.gateway.adminUrl;
  const { issuer, endpoints, pkce } = demo.auth;
  const svc = `${DEMO_SERVICE_CLIENT.clientId}:${DEMO_SERVICE_CLIENT.clientSecret}`;
  const accessToken = `node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token'`;
  const signIn = new URL(endpoints.authorization);
  signIn.search = new URLSearchParams({
    client_id: DEMO_CLI_CLIENT.clientId,
    response_type: 'code',
    scope: 'openid orders:read',
    redirect_uri: DEMO_CLI_CLIENT.redirectUri,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
  }).toString();
  return [
    'Gatehouse demo is running.',
    '',
    `  gateway   ${gw}`,
    `  admin     ${admin ?? '(disabled)'}   /healthz /readyz /metrics`,
    `  auth      ${issuer}   (authorization service; ${issuer}/.well-known/openid-configuration)`,
    `  upstream  ${demo.upstream.url}   (demo service)`,
    '',
    'Demo credentials (this demo only; outside it nothing has a default secret or password):',
    `  client ${DEMO_SERVICE_CLIENT.clientId}, secret ${DEMO_SERVICE_CLIENT.clientSecret}   client credentials; scopes orders:read orders:write`,
    `  client ${DEMO_CLI_CLIENT.clientId} (public)   code + PKCE; redirect ${DEMO_CLI_CLIENT.redirectUri}`,
    `  user   alice, password alice-password`,
    `  audiences: urn:gatehouse:demo-api (JWT access tokens), ${DEMO_OPAQUE_API} (opaque tokens)`,
    '',
    'Routes:',
    `  ${gw}/public/hello     public`,
    `  ${gw}/api/orders       needs a JWT with scope orders:read`,
    `  ${gw}/api/refunds      needs scope orders:write (the token below lacks it: 403)`,
    `  ${gw}/api/inventory    needs an opaque token with scope orders:read (checked by introspection)`,
    '',
    'Call a protected route without a token (401 with WWW-Authenticate):',
    `  curl -i ${gw}/api/orders`,
    '',
    'Get an access token (a JWT, 5 minutes) with client credentials, and call the protected route:',
    `  TOKEN=$(curl -s -u ${svc} -d grant_type=client_credentials -d scope=orders:read ${endpoints.token} | ${accessToken})`,
    `  curl -i -H "Authorization: Bearer $TOKEN" ${gw}/api/orders`,
    '',
    'The same token on a route that needs another scope (403 insufficient_scope):',
    `  curl -i -H "Authorization: Bearer $TOKEN" ${gw}/api/refunds`,
    '',
    'An opaque token: the gateway asks the service about it (introspection, cached up to 30 s):',
    `  OPAQUE=$(curl -s -u ${svc} -d grant_type=client_credentials -d scope=orders:read -d resource=${DEMO_OPAQUE_API} ${endpoints.token} | ${accessToken})`,
    `  curl -i -H "Authorization: Bearer $OPAQUE" ${gw}/api/inventory`,
    'Revoke it at the service; within 30 s the gateway refuses it (401 GH_TOKEN_INACTIVE):',
    `  curl -s -u ${svc} -d token=$OPAQUE ${endpoints.revocation}`,
    `  sleep 30; curl -i -H "Authorization: Bearer $OPAQUE" ${gw}/api/inventory`,
    '',
    'Sign in as alice (public client demo-cli, code + PKCE): open this URL in a browser, sign in, and copy',
    `the code parameter from the address bar it lands on (${DEMO_CLI_CLIENT.redirectUri}?code=...; nothing listens there):`,
    `  ${signIn.href}`,
    '  CODE=<the code>',
    `  TOKEN=$(curl -s -d grant_type=authorization_code -d client_id=${DEMO_CLI_CLIENT.clientId} -d redirect_uri=${DEMO_CLI_CLIENT.redirectUri} -d code_verifier=${pkce.verifier} -d code=$CODE ${endpoints.token} | ${accessToken})`,
    '',
    'Inspect the token, and see the metrics:',
    `  node ${cliPath()} token inspect "$TOKEN"`,
    ...(admin ? [`  curl -s ${admin}/metrics | grep gatehouse_`] : []),
    '',
    'Press Ctrl+C to stop.',
    '',
  ].join('\n');
}

/** How to run this CLI from the current directory (`dist/src/cli/main.js` after `npm run build`). */
function cliPath(): string {
  const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  return relative(process.cwd(), main) || main;
}
