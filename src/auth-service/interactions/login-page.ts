import { escapeHtml, renderPage } from './html.js';

export interface LoginPageOptions {
  readonly action: string;
  readonly csrfToken: string;
  readonly clientName: string;
  readonly username?: string;
  readonly error?: string;
}

/** The sign-in form: labelled fields, an error announced to screen readers, nothing external. */
export function renderLoginPage(o: LoginPageOptions): string {
  const error = o.error ? `<p class="error" role="alert" id="login-error">${escapeHtml(o.error)}</p>` : '';
  const described = o.error ? ' aria-describedby="login-error"' : '';
  return renderPage(
    'Sign in',
    `<p>to continue to <strong>${escapeHtml(o.clientName)}</strong></p>
${error}
<form method="post" action="${escapeHtml(o.action)}" autocomplete="on">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrfToken)}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required autofocus maxlength="128" value="${escapeHtml(o.username ?? '')}"${described}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${described}>
<button type="submit">Sign in</button>
</form>`,
  );
}
