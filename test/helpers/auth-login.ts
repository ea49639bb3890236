/**
 * Drives the authorization service's login form over plain HTTP (fetch with
 * manual redirects and a cookie jar), as a browser would. Re-exported by
 * `auth-service.ts`.
 */

/** A minimal cookie jar for driving the service over fetch: name → value, last write wins, paths ignored. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Stores the response's `Set-Cookie` headers (deleting expired ones). */
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = (pair ?? '').indexOf('=');
      if (eq <= 0) continue;
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1] as string) < Date.now()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** The `Cookie` header value. */
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** Outcome of one request while driving the login flow. */
export interface LoginStep {
  readonly status: number;
  readonly location?: string;
  readonly body: string;
}

export interface LoginOptions {
  readonly username: string;
  readonly password: string;
  /** Where the flow ends: the first redirect to a URL starting with this is returned. */
  readonly redirectUri: string;
  /** Reuse a jar to keep the browser session (e.g. a second authorization without a login). */
  readonly jar?: CookieJar;
  /** Submit consent when the consent page appears (default true). */
  readonly consent?: boolean;
}

/** Extracts the hidden `csrf` field of the first form in a page. */
export function csrfFromPage(html: string): string | undefined {
  return /name="csrf" value="([^"]*)"/.exec(html)?.[1];
}

/**
 * Drives an authorization request through the real login form over HTTP, as a
 * browser would: follows redirects with a cookie jar, fills in the login form
 * (with its CSRF token) and confirms the consent page when shown. Resolves to
 * the callback URL (with `code` and `state`, or `error`) the service redirected to.
 * Throws when the flow stops elsewhere (e.g. a rejected login), with the last page.
 */
export async function loginWithForm(authorizationUrl: URL | string, o: LoginOptions): Promise<URL> {
  const jar = o.jar ?? new CookieJar();
  let next: { url: string; method: 'GET' | 'POST'; body?: URLSearchParams } = { url: String(authorizationUrl), method: 'GET' };
  for (let hop = 0; hop < 15; hop++) {
    const res = await fetch(next.url, {
      method: next.method,
      redirect: 'manual',
      headers: { cookie: jar.header(), ...(next.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: next.body,
    });
    jar.store(res);
    const body = await res.text();
    const location = res.headers.get('location');
    if (location) {
      const target = new URL(location, next.url);
      if (target.href.startsWith(o.redirectUri)) return target;
      next = { url: target.href, method: 'GET' };
      continue;
    }
    const csrf = csrfFromPage(body);
    if (res.status === 200 && csrf && body.includes('name="password"')) {
      next = {
        url: new URL(/action="([^"]+)"/.exec(body)?.[1] as string, next.url).href,
        method: 'POST',
        body: new URLSearchParams({ csrf, username: o.username, password: o.password }),
      };
      continue;
    }
    if (res.status === 200 && csrf && body.includes('/confirm"') && o.consent !== false) {
      next = { url: new URL(/action="([^"]+\/confirm)"/.exec(body)?.[1] as string, next.url).href, method: 'POST', body: new URLSearchParams({ csrf }) };
      continue;
    }
    // oidc-provider's self-submitting form (signing out the previous account when another signs in): a browser with scripts posts it.
    if (res.status === 200 && body.includes('document.forms[0].submit()')) {
      const action = /<form method="post" action="([^"]+)"/.exec(body)?.[1] as string;
      const fields = [...body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)].map((m): [string, string] => [m[1] as string, m[2] as string]);
      next = { url: new URL(action.replaceAll('&amp;', '&'), next.url).href, method: 'POST', body: new URLSearchParams(fields) };
      continue;
    }
    throw new Error(`login flow stopped with HTTP ${res.status}: ${body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
  }
  throw new Error('login flow did not finish in 15 redirects');
}
