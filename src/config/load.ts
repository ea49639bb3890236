import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { ConfigSchema, type Config } from './schema.js';

/** Reads, interpolates, validates and freezes a config file. Throws ConfigError listing every problem. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }], file);
  }
  return parseConfigText(text, env, file);
}

export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env, file?: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const [first] = doc.errors;
  if (first !== undefined) {
    // The parser reports every token after a syntax error as another error: only the first is the problem.
    const pos = lineCounter.linePos(first.pos[0]);
    let message = first.message.split('\n')[0] ?? first.message;
    const line = text.split('\n', pos.line)[pos.line - 1] ?? '';
    if (/[{[][^'"]*\$\{/.test(line)) message += ' (inside { } or [ ], quote a value holding ${…}: "${NAME}")';
    if (doc.errors.length > 1) message += `; ${doc.errors.length - 1} more YAML errors after it (fix this one first: the rest often follow from it)`;
    throw new ConfigError([{ path: '', message, line: pos.line, column: pos.col }], file);
  }
  // A `%YAML 1.1` directive would switch on merge keys (`<<`, which then override without a
  // duplicate-key error) and 1.1 scalars (`off` → false, `010` → 8, `1:30` → 90).
  if (doc.directives?.yaml.explicit && doc.directives.yaml.version !== '1.2') {
    throw new ConfigError([{ path: '', message: `only YAML 1.2 is read, not ${doc.directives.yaml.version}: remove the %YAML directive`, line: 1 }], file);
  }
  const issues: ConfigIssue[] = [];
  interpolateEnv(doc, env, lineCounter, issues);
  if (issues.length > 0) throw new ConfigError(issues, file);
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // yaml refuses anchors that expand without bound (a "billion laughs" file) while building values.
    throw new ConfigError([{ path: '', message: `the file cannot be read as values: ${(err as Error).message}` }], file);
  }
  return validateConfig(raw, file, (path, at) => locate(doc, lineCounter, path, at));
}

/**
 * Line and column of a key path in the file: of its value (`at: 'value'`, the default), or of the
 * key itself (`at: 'key'`), which for a block value is a line or more above it.
 */
export type LocateKey = (path: readonly PropertyKey[], at?: 'key' | 'value') => { line?: number; column?: number };

/** Validates an already-parsed object (used by the demo and tests). */
export function validateConfig(
  raw: unknown,
  file?: string,
  locateKey: LocateKey = () => ({}),
): Config {
  const result = ConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const issues = flattenUnions(result.error.issues, []).map((issue) => toConfigIssue(issue, locateKey));
    throw new ConfigError(issues, file);
  }
  return deepFreeze(result.data);
}

/**
 * A union (`jwt: issuer | issuer[]`) reports "Invalid input" with one issue list
 * per branch. Report the branch whose shape matched the input instead, with full paths.
 */
function flattenUnions(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [{ ...issue, path }];
    const shapeMatched = issue.errors.filter((branch) => !branch.some((b) => b.code === 'invalid_type' && b.path.length === 0));
    const candidates = shapeMatched.length > 0 ? shapeMatched : issue.errors;
    const best = candidates.reduce((a, b) => (b.length < a.length ? b : a));
    return flattenUnions(best, path);
  });
}

function toConfigIssue(issue: z.core.$ZodIssue, locateKey: LocateKey): ConfigIssue {
  if (issue.code === 'unrecognized_keys') {
    const message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    // Point at the unknown key itself, not at its parent object, nor at its value (a block starts below it).
    const { line, column } = locateKey([...issue.path, issue.keys[0] as string], 'key');
    return { path: issue.path.map(String).join('.'), message, line, column };
  }
  const { line, column } = locateKey(issue.path);
  return { path: issue.path.map(String).join('.'), message: issue.message, line, column };
}

/**
 * `$${` (a literal `${`), `${NAME}`, or any other `${…}` (or an unclosed one):
 * the last two are errors rather than text, so `${SECRET:-default}` can never
 * become a secret that is its own spelling.
 */
const ENV_TOKEN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{/g;
const ENV_SYNTAX = 'write ${NAME} (letters, digits and _; no defaults such as ${NAME:-x}), or $${ for a literal ${';

/**
 * Replaces `${NAME}` in string scalars only, after parsing: a secret containing
 * YAML syntax cannot change the document's structure. Keys are never
 * interpolated (a key names a field; a reference there is refused).
 */
function interpolateEnv(doc: Document, env: NodeJS.ProcessEnv, lc: LineCounter, issues: ConfigIssue[]): void {
  const report = (node: { range?: unknown } | null | undefined, path: string[], message: string): void => {
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    const pos = range ? lc.linePos(range[0]) : undefined;
    issues.push({ path: path.join('.'), message, line: pos?.line, column: pos?.col });
  };
  const visit = (node: unknown, path: string[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (key.includes('${')) {
          report(isScalar(pair.key) ? pair.key : undefined, path, '${…} is read in values only, not in keys');
        }
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, String(i)]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      let malformed = false;
      node.value = node.value.replace(ENV_TOKEN, (match, name: string | undefined) => {
        if (match === '$${') return '${';
        if (name === undefined) {
          malformed = true;
          return '';
        }
        const value = env[name];
        if (value === undefined) {
          report(node, path, `environment variable ${name} is not set`);
          return '';
        }
        return value;
      });
      // Once per value, and without the text inside: it may hold a default that is a secret.
      if (malformed) report(node, path, `a \${ that is not a variable reference: ${ENV_SYNTAX}`);
    }
  };
  visit(doc.contents, []);
}

/** Line and column of a key path (its value, or with `at: 'key'` the key itself) in a parsed YAML document. */
export function locate(doc: Document, lc: LineCounter, path: readonly PropertyKey[], at: 'key' | 'value' = 'value'): { line?: number; column?: number } {
  if (at === 'key' && path.length > 0) {
    // getIn() gives the value node; the key is on the pair in its parent map.
    const parent = doc.getIn(path.slice(0, -1) as unknown[], true);
    const name = String(path[path.length - 1]);
    const pair = isMap(parent) ? parent.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === name) : undefined;
    const range = (pair?.key as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) {
      const pos = lc.linePos(range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  // Walk down as far as the document goes; a missing key is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) {
      const pos = lc.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
