import { escapeHtml, renderPage } from './html.js';

export interface ConsentPageOptions {
  readonly confirmAction: string;
  readonly abortAction: string;
  readonly csrfToken: string;
  readonly clientName: string;
  readonly scopes: readonly string[];
  readonly resources: readonly string[];
}

/** Asks the user to allow a client that is not first-party. */
export function renderConsentPage(o: ConsentPageOptions): string {
  const scopes = o.scopes.length > 0 ? `<ul>${o.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>` : '<p>No specific permissions.</p>';
  const resources = o.resources.length > 0 ? `<p>For: ${o.resources.map((r) => `<code>${escapeHtml(r)}</code>`).join(', ')}</p>` : '';
  return renderPage(
    'Allow access?',
    `<p><strong>${escapeHtml(o.clientName)}</strong> asks for:</p>
${scopes}
${resources}
<form method="post" action="${escapeHtml(o.confirmAction)}">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrfToken)}">
<button type="submit">Allow</button>
</form>
<form method="post" action="${escapeHtml(o.abortAction)}">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrfToken)}">
<button type="submit" class="secondary">Deny</button>
</form>`,
  );
}
