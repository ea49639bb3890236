/**
 * Shared plumbing for the bench's child processes: each server under test runs
 * in its own process, reads its settings from one environment variable, tells
 * the parent its port over IPC, and exits when the parent says stop (a clean
 * exit is what lets `--cpu-prof` write its profile).
 */

/** Settings every bench child receives as JSON in `GH_BENCH_CHILD`. */
export interface ChildSettings {
  /** Upstream base URL, for proxies. */
  readonly upstream?: string;
  /** Authentication the peer must enforce; absent means a bare proxy. */
  readonly auth?: PeerAuth;
  /** Config file (gateway and authorization-service children only). */
  readonly configFile?: string;
  /** Sessions to load into the gateway's memory session store before it starts (gateway child only). */
  readonly sessionSeedFile?: string;
  /**
   * Bare proxy only: an RS256 public key (PEM file). The proxy then checks each
   * request's Bearer signature with it before forwarding, and answers 401 when
   * it fails: the floor any gateway that verifies every signature stands on.
   */
  readonly verifyKeyFile?: string;
  /** Port to listen on; 0 picks one. */
  readonly port?: number;
}

/** What a peer stack verifies: the same tokens, issuer, audience and scope as the gateway. */
export interface PeerAuth {
  readonly kind: 'jwt';
  readonly alg: 'RS256' | 'ES256' | 'EdDSA';
  /** PEM (SPKI) public key file. */
  readonly publicKeyFile: string;
  readonly issuer: string;
  readonly audience: string;
  /** A scope the token must carry, as the gateway route requires. */
  readonly scope: string;
}

export interface ReadyMessage {
  readonly type: 'ready';
  readonly port: number;
}

export function readChildSettings(): ChildSettings {
  const raw = process.env.GH_BENCH_CHILD;
  if (!raw) throw new Error('GH_BENCH_CHILD is not set: this file is started by bench/run.js');
  return JSON.parse(raw) as ChildSettings;
}

export function announceReady(port: number): void {
  const msg: ReadyMessage = { type: 'ready', port };
  process.send?.(msg);
}

/** Exits on the parent's `stop`, on SIGTERM, or when the parent goes away. */
export function exitWhenParentSaysSo(cleanup: () => Promise<void> | void = () => undefined): void {
  let exiting = false;
  const exit = () => {
    if (exiting) return;
    exiting = true;
    const hardStop = setTimeout(() => process.exit(0), 2000);
    hardStop.unref();
    Promise.resolve()
      .then(cleanup)
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on('message', (m: unknown) => {
    if ((m as { type?: string } | null)?.type === 'stop') exit();
  });
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
}

/** True when the granted `scope` claim (space-separated string or array) contains `wanted`. */
export function hasScope(claims: Record<string, unknown>, wanted: string): boolean {
  const scope = claims.scope ?? claims.scp;
  if (typeof scope === 'string') return scope.split(' ').includes(wanted);
  return Array.isArray(scope) && scope.includes(wanted);
}
