import type { Command } from 'commander';
import { hashPassword, SqliteAccountStore } from '../../auth-service/index.js';
import { loadAuthSection } from './auth-config.js';

interface UserOpts {
  config: string;
  passwordStdin?: boolean;
}

const MIN_PASSWORD_LENGTH = 8;

/**
 * `gatehouse users add|passwd|remove|list --config FILE`. Passwords come from
 * stdin (`--password-stdin`) or a hidden prompt, never from argv, where any
 * local user could read them in the process list.
 */
export function registerUsersCommand(program: Command): void {
  const users = program.command('users').description('manage the authorization service accounts (SQLite file auth.usersPath)');
  users
    .command('add <username>')
    .description('create an account')
    .requiredOption('-c, --config <file>', 'YAML configuration file with an auth section')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: UserOpts) => {
      await withStore(opts.config, async (store) => {
        const password = await readNewPassword(opts);
        const account = await store.add(username, await hashPassword(password));
        console.log(`added ${account.username} (sub ${account.id})`);
      });
    });
  users
    .command('passwd <username>')
    .description("set an account's password")
    .requiredOption('-c, --config <file>', 'YAML configuration file with an auth section')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: UserOpts) => {
      await withStore(opts.config, async (store) => {
        const password = await readNewPassword(opts);
        if (!(await store.setPassword(username, await hashPassword(password)))) throw new Error(`no user ${username}`);
        console.log(`password changed for ${username}`);
      });
    });
  users
    .command('remove <username>')
    .description('delete an account')
    .requiredOption('-c, --config <file>', 'YAML configuration file with an auth section')
    .action(async (username: string, opts: UserOpts) => {
      await withStore(opts.config, async (store) => {
        if (!(await store.remove(username))) throw new Error(`no user ${username}`);
        console.log(`removed ${username}`);
      });
    });
  users
    .command('list')
    .description('list accounts')
    .requiredOption('-c, --config <file>', 'YAML configuration file with an auth section')
    .action(async (opts: UserOpts) => {
      await withStore(opts.config, async (store) => {
        for (const a of await store.list()) console.log(`${a.username}\t${a.id}\t${new Date(a.createdAt * 1000).toISOString()}`);
      });
    });
}

async function withStore(file: string, fn: (store: SqliteAccountStore) => Promise<void>): Promise<void> {
  const loaded = await loadAuthSection(file);
  if (!loaded) return;
  const store = await SqliteAccountStore.open(loaded.auth.usersPath);
  try {
    await fn(store);
  } catch (err) {
    console.error(`gatehouse: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  } finally {
    await store.close();
  }
}

async function readNewPassword(opts: UserOpts): Promise<string> {
  let password: string;
  if (opts.passwordStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
    // Only the one line terminator a shell adds is removed; other whitespace is part of the password.
    password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  } else if (process.stdin.isTTY) {
    password = await promptHidden('Password: ');
    const again = await promptHidden('Repeat password: ');
    if (again !== password) throw new Error('the passwords do not match');
  } else {
    throw new Error('no terminal to prompt on: pass --password-stdin and pipe the password');
  }
  if (password.length < MIN_PASSWORD_LENGTH) throw new Error(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  return password;
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new Error('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}
