import { validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { DEMO_API, DEMO_OPAQUE_API } from './auth.js';

export interface DemoConfigOptions {
  readonly port: number;
  readonly adminPort: number;
  readonly upstream: string;
  /** The demo authorization service: issuer, its JWKS, and the gateway's client for introspection. */
  readonly auth: { issuer: string; jwksUri: string; introspectionClient: { clientId: string; clientSecret: string } };
}

/**
 * The demo gateway's configuration, validated by the same schema as a file, so
 * the demo cannot drift from what `gatehouse start` accepts. It mirrors
 * examples/gatehouse.yaml.
 */
export function demoConfig(opts: DemoConfigOptions): Config {
  return validateConfig(
    {
      listen: { host: '127.0.0.1', port: opts.port },
      admin: { host: '127.0.0.1', port: opts.adminPort },
      security: {
        jwt: {
          name: 'demo',
          issuer: opts.auth.issuer,
          audience: DEMO_API,
          jwksUri: opts.auth.jwksUri,
          algorithms: ['ES256'],
          requireTyp: 'at+jwt',
        },
        introspection: {
          issuer: opts.auth.issuer,
          clientId: opts.auth.introspectionClient.clientId,
          clientSecret: opts.auth.introspectionClient.clientSecret,
          audience: DEMO_OPAQUE_API,
        },
      },
      routes: [
        {
          name: 'orders',
          path: '/api/orders',
          upstream: opts.upstream,
          auth: 'jwt',
          scopes: ['orders:read'],
          propagate: {
            authorization: 'drop',
            headers: { subject: 'x-gatehouse-subject', clientId: 'x-gatehouse-client-id', scopes: 'x-gatehouse-scopes' },
          },
        },
        { name: 'refunds', path: '/api/refunds', upstream: opts.upstream, auth: 'jwt', scopes: ['orders:write'] },
        {
          name: 'inventory',
          path: '/api/inventory',
          upstream: opts.upstream,
          auth: 'opaque',
          scopes: ['orders:read'],
          propagate: {
            authorization: 'drop',
            headers: { subject: 'x-gatehouse-subject', clientId: 'x-gatehouse-client-id', scopes: 'x-gatehouse-scopes' },
          },
        },
        { name: 'public', path: '/public', upstream: opts.upstream, auth: 'none' },
      ],
    },
    'demo configuration',
  );
}
