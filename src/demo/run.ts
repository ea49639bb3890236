import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Gateway } from '../gateway.js';
import { startGateway } from '../gateway.js';
import type { Logger } from '../log.js';
import { demoConfig } from './config.js';
import { createDemoSigner } from './keys.js';
import { startDemoUpstream, type DemoUpstream } from './upstream.js';

export interface DemoOptions {
  readonly port: number;
  readonly adminPort: number;
  readonly logger?: Logger;
}

export interface Demo {
  readonly gateway: Gateway;
  readonly upstream: DemoUpstream;
  /** A ready-made access token with scope `orders:read`, valid for an hour. */
  readonly token: string;
  readonly tokenExpiresAt: Date;
  close(): Promise<void>;
}

const TOKEN_LIFETIME_SECONDS = 3600;

/** Everything `npm start` runs, in one process: the demo upstream (with its JWKS) and the gateway in front of it. */
export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const signer = await createDemoSigner();
  const upstream = await startDemoUpstream(signer.jwks);
  let gateway: Gateway;
  try {
    const config = demoConfig({ port: opts.port, adminPort: opts.adminPort, upstream: upstream.url, jwksUri: upstream.jwksUri });
    gateway = await startGateway(config, { logger: opts.logger });
    await gateway.ready;
  } catch (err) {
    await upstream.close();
    throw err;
  }
  const issuedAt = Date.now();
  const token = await signer.mint(
    { sub: 'alice', scope: 'orders:read', clientId: 'demo-client' },
    { lifetimeSeconds: TOKEN_LIFETIME_SECONDS, now: () => issuedAt },
  );
  return {
    gateway,
    upstream,
    token,
    tokenExpiresAt: new Date(Math.floor(issuedAt / 1000) * 1000 + TOKEN_LIFETIME_SECONDS * 1000),
    async close() {
      // Gateway first: it drains requests that still need the upstream.
      await gateway.close();
      await upstream.close();
    },
  };
}

/** The text the demo prints: what runs where, and commands to paste. */
export function demoInstructions(demo: Demo): string {
  const gw = demo.gateway.url;
  const admin = demo.gateway.adminUrl;
  return [
    'Gatehouse demo is running.',
    '',
    `  gateway   ${gw}`,
    `  admin     ${admin ?? '(disabled)'}   /healthz /readyz /metrics`,
    `  upstream  ${demo.upstream.url}   (demo service; JWKS at ${demo.upstream.jwksUri})`,
    '',
    'Routes:',
    `  ${gw}/public/hello   public`,
    `  ${gw}/api/orders     needs a JWT with scope orders:read`,
    `  ${gw}/api/refunds    needs scope orders:write (the demo token lacks it: 403)`,
    '',
    'Call a protected route without a token (401 with WWW-Authenticate):',
    `  curl -i ${gw}/api/orders`,
    '',
    `Get a token (a demo token, scope orders:read, valid until ${demo.tokenExpiresAt.toISOString()}) and call the protected route:`,
    `  TOKEN=${demo.token}`,
    `  curl -i -H "Authorization: Bearer $TOKEN" ${gw}/api/orders`,
    '',
    'The same token on a route that needs another scope (403 insufficient_scope):',
    `  curl -i -H "Authorization: Bearer $TOKEN" ${gw}/api/refunds`,
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
