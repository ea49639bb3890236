import { type Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../../log.js';
import { handleSignals, holdHangups } from '../lifecycle.js';

/** `gatehouse demo`: what `npm start` runs. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the authorization service and the gateway in front of a demo upstream, and print commands to try')
    .option('-p, --port <port>', 'gateway port (default: env GATEHOUSE_PORT or 8080; 0 picks a free one)', parsePort)
    .option('-a, --admin-port <port>', 'admin port (default: env GATEHOUSE_ADMIN_PORT or 9090; 0 picks a free one)', parsePort)
    .option('--auth-port <port>', 'authorization service port, also in its issuer URL (default: env GATEHOUSE_AUTH_PORT or 8081; 0 picks a free one)', parsePort)
    .action(async (opts: { port?: number; adminPort?: number; authPort?: number }, command: Command) => {
      let port: number;
      let adminPort: number;
      let authPort: number;
      try {
        port = opts.port ?? portFromEnv('GATEHOUSE_PORT', 8080);
        adminPort = opts.adminPort ?? portFromEnv('GATEHOUSE_ADMIN_PORT', 9090);
        authPort = opts.authPort ?? portFromEnv('GATEHOUSE_AUTH_PORT', 8081);
      } catch (err) {
        command.error((err as Error).message, { exitCode: 2, code: 'gatehouse.invalidEnv' });
      }
      const hangups = holdHangups();
      const { demoInstructions, startDemo } = await import('../../demo/run.js');
      // Request logs go to stderr so the instructions on stdout stay readable.
      const logger = createLogger('info', process.stderr);
      const demo = await startDemo({ port, adminPort, authPort, logger });
      // Handlers first: whoever reads the instructions may signal at once.
      handleSignals({ close: () => demo.close() }, logger, hangups);
      process.stdout.write(demoInstructions(demo));
    });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return port;
}

function portFromEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  try {
    return parsePort(value);
  } catch {
    throw new Error(`${name} must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  }
}
