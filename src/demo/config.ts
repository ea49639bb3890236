import { validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { DEMO_AUDIENCE, DEMO_ISSUER } from './keys.js';

export interface DemoConfigOptions {
  readonly port: number;
  readonly adminPort: number;
  readonly upstream: string;
  readonly jwksUri: string;
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
          issuer: DEMO_ISSUER,
          audience: DEMO_AUDIENCE,
          jwksUri: opts.jwksUri,
          algorithms: ['ES256'],
          requireTyp: 'at+jwt',
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
        { name: 'public', path: '/public', upstream: opts.upstream, auth: 'none' },
      ],
    },
    'demo configuration',
  );
}
