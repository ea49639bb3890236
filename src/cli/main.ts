#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from '../config/docs.js';
import { registerConfigCommand } from './commands/config-check.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerStartCommand } from './commands/start.js';
import { registerTokenCommand } from './commands/token-inspect.js';
import { registerAuthCommand } from './commands/auth-start.js';
import { registerUsersCommand } from './commands/users.js';
import { registerKeysCommand } from './commands/keys.js';

// Exit codes: 0 success, 1 the command failed (bad config, token does not verify), 2 usage error.
const program = new Command('gatehouse')
  .description('Gatehouse: a token and session gateway for microservices')
  .version(packageVersion(), '-V, --version', 'print the version and exit')
  .showHelpAfterError('(run with --help for usage)')
  // Subcommands created below inherit this, so every usage error reaches the catch.
  .exitOverride();

registerStartCommand(program);
registerConfigCommand(program);
registerTokenCommand(program);
registerDemoCommand(program);
registerAuthCommand(program);
registerUsersCommand(program);
registerKeysCommand(program);

/** The version in package.json, read from the installed package so that it cannot drift from it. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help exits 0; anything else commander raises is a usage error.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    // Startup failures (a port in use, an unreadable key) are the operator's to fix: say what, not where in our code.
    const code = (err as { code?: unknown }).code;
    console.error(`gatehouse: ${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` (${code})` : ''}`);
    process.exitCode = 1;
  }
}
