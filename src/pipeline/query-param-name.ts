/**
 * Finding a query parameter by the name an upstream gives it, not by how the
 * client spelled it. A refusal keyed on a name (`access_token`, `_method`) must
 * see every spelling that reaches an upstream framework as that name, or the
 * client picks one the gateway lets through.
 */

/** A name without one of these reads the same to every upstream; only then is a query split and decoded. */
const MAY_FOLD = /[%.[+ ]/;

/**
 * A parameter name as an upstream reads it, lower-cased (a check on it is a
 * refusal, so it errs towards more names, not fewer):
 *
 * - `+` is a space and `%XX` a byte, as form decoding has it; bytes are kept
 *   as Latin-1 characters, since only ASCII names are compared, and an invalid
 *   escape stays as written (Node's querystring and PHP decode leniently too);
 * - PHP then cuts the name at a NUL, drops leading spaces, reads `name[…]` as
 *   an array under `name`, and reads `.`, a space and an unmatched `[` after the first character as `_` (a leading `[` PHP drops the name for; it is read as `_` here too, which only refuses more).
 */
export function normalizeParamName(raw: string): string {
  let name = raw.includes('+') ? raw.replaceAll('+', ' ') : raw;
  if (name.includes('%')) name = name.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const nul = name.indexOf('\0');
  if (nul >= 0) name = name.slice(0, nul);
  let start = 0;
  while (name.charCodeAt(start) === 0x20) start++;
  if (start > 0) name = name.slice(start);
  const bracket = name.indexOf('[');
  if (bracket > 0 && name.indexOf(']', bracket) > 0) name = name.slice(0, bracket);
  return name.toLowerCase().replace(/[. []/g, '_');
}

/**
 * Compiles a test for whether a query (with its `?`) has a parameter named
 * `name` (lower case, as {@link normalizeParamName} returns it). The plain
 * spelling is one regular expression; names are decoded only in a query
 * holding a character that can change a name, and then only those names.
 */
export function queryParamTest(name: string): (query: string) => boolean {
  // A parameter starts the query (after its `?`) or follows `&` or `;`; a `?` inside a value starts none.
  const plain = new RegExp(`(?:^\\?|[&;])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:[=&;]|$)`, 'i');
  return (query) => {
    if (plain.test(query)) return true;
    if (!MAY_FOLD.test(query)) return false;
    for (const pair of query.slice(1).split(/[&;]/)) {
      const eq = pair.indexOf('=');
      const raw = eq < 0 ? pair : pair.slice(0, eq);
      if (MAY_FOLD.test(raw) && normalizeParamName(raw) === name) return true;
    }
    return false;
  };
}
