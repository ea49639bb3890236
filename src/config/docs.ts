import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigSchema, durationSeconds } from './schema.js';

/**
 * Renders docs/configuration.md from the config schema, so the reference can
 * never drift from what `load.ts` accepts. Works on the JSON Schema zod emits
 * for the *input* side (what a user writes), not on zod internals, so new
 * schema keys of any kind show up without changes here.
 */

/** The subset of JSON Schema that zod emits and this renderer reads. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
}

/** JSON Schema of a zod schema's input, with defaults kept even where a transform sits inside. */
export function inputJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    // zod drops defaults from transforming schemas in input mode (the default is an
    // output value). Ours are always valid input too (seconds for durations), so keep them.
    override(ctx) {
      const def = ctx.zodSchema._zod.def as { type: string; defaultValue?: unknown };
      if (def.type === 'default' && ctx.jsonSchema.default === undefined && def.defaultValue !== undefined) {
        ctx.jsonSchema.default = JSON.parse(JSON.stringify(def.defaultValue));
      }
    },
  }) as JsonSchema;
}

const DURATION_SHAPE = shapeKey(inputJsonSchema(durationSeconds()));
const SAFE_INT = Number.MAX_SAFE_INTEGER;
const STRING_CHECK_FORMATS = new Set(['starts_with', 'ends_with', 'includes', 'regex', 'lowercase', 'uppercase']);

interface Section {
  /** Dotted path that prefixes the section's keys. */
  readonly path: string;
  /** Heading text; differs from the path for union variants. */
  readonly title: string;
  readonly schema: JsonSchema;
  readonly note?: string;
}

/** Renders the Markdown reference for any object schema (ConfigSchema by default). */
export function renderConfigDocs(schema: z.ZodType = ConfigSchema): string {
  const root = inputJsonSchema(schema);
  const defs = root.$defs ?? {};
  const deref = (s: JsonSchema): JsonSchema => {
    if (s.$ref === '#') return root;
    if (s.$ref?.startsWith('#/$defs/')) return deref(defs[decodeURIComponent(s.$ref.slice(8))] ?? {});
    if (s.allOf) return mergeAllOf(s, s.allOf.map(deref));
    return s;
  };
  const out: string[] = [PREAMBLE];
  // Depth first, so each nested section follows the table that points to it. A
  // recursive schema (z.lazy) points back at an ancestor instead of recursing.
  const visit = (section: Section, ancestors: Map<JsonSchema, string>): void => {
    const obj = deref(section.schema);
    const ancestor = ancestors.get(obj);
    if (ancestor !== undefined) {
      out.push(`### ${section.title}`, '', `Takes the same keys as ${ancestor || 'the top level'}.`, '');
      return;
    }
    const children: Section[] = [];
    out.push(...renderSection(section, deref, children));
    const inner = new Map(ancestors).set(obj, section.title);
    for (const child of children) visit(child, inner);
  };
  visit({ path: '', title: '', schema: root }, new Map());
  out.push(SYNTAX_NOTES);
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

function renderSection(section: Section, deref: (s: JsonSchema) => JsonSchema, children: Section[]): string[] {
  const obj = deref(section.schema);
  const depth = section.path.includes('.') ? '###' : '##';
  const lines = [section.path === '' ? '## Top-level keys' : `${depth} ${section.title}`, ''];
  if (section.note) lines.push(section.note, '');
  if (section.path !== '' && obj.description) lines.push(oneLine(obj.description), '');
  const props = Object.entries(obj.properties ?? {});
  if (props.length === 0) return [];
  lines.push('| Key | Type | Required | Default | Description |', '| --- | --- | --- | --- | --- |');
  const required = new Set(obj.required ?? []);
  for (const [key, raw] of props) {
    const prop = deref(raw);
    const path = section.path ? `${section.path}.${key}` : key;
    const nested = nestedObjects(path, prop, deref);
    children.push(...nested);
    const describe = [oneLine(prop.description ?? '')];
    const allowed = allowedValues(prop, deref);
    if (allowed.length > 0) describe.push(`Allowed: ${allowed.map((v) => code(JSON.stringify(v))).join(', ')}.`);
    const limits = constraints(prop);
    if (limits) describe.push(`Constraints: ${limits}.`);
    if (nested.length > 0) describe.push(`See ${nested.map((c) => c.title).join(', ')}.`);
    // An object's default is the sum of its keys' defaults, listed in its own section.
    const isObject = nested.length > 0 && !Array.isArray(prop.default);
    lines.push(
      `| ${code(path)} | ${cell(typeLabel(prop, deref))} | ${required.has(key) ? 'yes' : 'no'} | ${
        prop.default === undefined || isObject ? '' : cell(code(JSON.stringify(prop.default)))
      } | ${cell(describe.filter(Boolean).join(' '))} |`,
    );
  }
  lines.push('');
  return lines;
}

/** The object shapes under a key (directly, as list entries, map values or union branches) that get their own section. */
function nestedObjects(path: string, schema: JsonSchema, deref: (s: JsonSchema) => JsonSchema): Section[] {
  const found: { form: 'one' | 'list' | 'map'; schema: JsonSchema }[] = [];
  const visit = (s: JsonSchema, form: 'one' | 'list' | 'map'): void => {
    const d = deref(s);
    const branches = d.anyOf ?? d.oneOf;
    if (branches) branches.forEach((b) => visit(b, form));
    else if (d.properties && Object.keys(d.properties).length > 0) found.push({ form, schema: d });
    else if (d.items) visit(d.items, 'list');
    else if (typeof d.additionalProperties === 'object') visit(d.additionalProperties, 'map');
  };
  visit(schema, 'one');
  // `jwt: issuer | issuer[]` is one shape written two ways: document it once.
  const distinct = new Map<string, { forms: Set<string>; schema: JsonSchema }>();
  for (const f of found) {
    const key = shapeKey(f.schema);
    const entry = distinct.get(key) ?? { forms: new Set<string>(), schema: f.schema };
    entry.forms.add(f.form);
    distinct.set(key, entry);
  }
  const entries = [...distinct.values()];
  return entries.map(({ forms, schema: s }, i) => {
    const suffix = forms.has('one') ? '' : forms.has('list') ? '[]' : '.<name>';
    const variant = entries.length > 1 ? ` (${discriminator(s) ?? `variant ${i + 1}`})` : '';
    const keyPath = `${path}${suffix}`;
    const note =
      forms.size > 1
        ? 'Either one such object, or a list of them; each takes these keys.'
        : suffix === '[]'
          ? `Each entry of \`${path}\` takes these keys.`
          : suffix === '.<name>'
            ? `Each value of the \`${path}\` map takes these keys.`
            : undefined;
    return { path: keyPath, title: `${code(keyPath)}${variant}`, schema: s, note };
  });
}

function discriminator(schema: JsonSchema): string | undefined {
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    const value = prop.const ?? (prop.enum?.length === 1 ? prop.enum[0] : undefined);
    if (value !== undefined) return `when ${code(`${key}: ${JSON.stringify(value)}`)}`;
  }
  return undefined;
}

function typeLabel(schema: JsonSchema, deref: (s: JsonSchema) => JsonSchema): string {
  const s = deref(schema);
  if (shapeKey(s) === DURATION_SHAPE) return 'duration';
  const branches = s.anyOf ?? s.oneOf;
  if (branches) return [...new Set(branches.map((b) => typeLabel(b, deref)))].join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.length === 1 ? JSON.stringify(s.enum[0]) : 'enum';
  if (s.type === 'array' || s.items) {
    const inner = s.items ? typeLabel(s.items, deref) : 'any';
    return inner.includes(' ') ? `list of ${inner}` : `${inner}[]`;
  }
  if (s.type === 'object' && !s.properties && typeof s.additionalProperties === 'object') {
    return `map of string → ${typeLabel(s.additionalProperties, deref)}`;
  }
  if (Array.isArray(s.type)) return s.type.join(' | ');
  // zod reports startsWith() and friends as formats; the pattern already says it.
  if (s.type === 'string' && s.format && !STRING_CHECK_FORMATS.has(s.format)) return `string (${s.format})`;
  return s.type ?? 'any';
}

function allowedValues(schema: JsonSchema, deref: (s: JsonSchema) => JsonSchema): unknown[] {
  const s = deref(schema);
  const own = s.enum && s.enum.length > 1 ? s.enum : [];
  const nested = [...(s.anyOf ?? s.oneOf ?? []), ...(s.items ? [s.items] : [])].flatMap((b) => allowedValues(b, deref));
  const consts = (s.anyOf ?? s.oneOf ?? []).map((b) => deref(b).const).filter((v) => v !== undefined);
  return [...new Set([...own, ...nested, ...consts])];
}

function constraints(s: JsonSchema): string {
  if (shapeKey(s) === DURATION_SHAPE) return '';
  const parts: string[] = [];
  for (const branch of s.anyOf ?? s.oneOf ?? []) parts.push(constraints(branch));
  // zod bounds every integer by the safe range; that is noise, not a constraint.
  if (s.minimum !== undefined && s.minimum !== -SAFE_INT) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined && s.maximum !== SAFE_INT) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  if (s.minLength !== undefined) parts.push(`at least ${s.minLength} character${s.minLength === 1 ? '' : 's'}`);
  if (s.maxLength !== undefined) parts.push(`at most ${s.maxLength} characters`);
  if (s.minItems !== undefined) parts.push(`at least ${s.minItems} entr${s.minItems === 1 ? 'y' : 'ies'}`);
  if (s.maxItems !== undefined) parts.push(`at most ${s.maxItems} entries`);
  if (s.pattern !== undefined) parts.push(`matches ${code(s.pattern)}`);
  return [...new Set(parts.filter(Boolean))].join(', ');
}

/** `z.intersection` emits allOf: document the union of the parts' keys. */
function mergeAllOf(outer: JsonSchema, parts: JsonSchema[]): JsonSchema {
  const { allOf: _allOf, ...rest } = outer;
  return {
    ...rest,
    type: 'object',
    properties: Object.assign({}, ...parts.map((p) => p.properties ?? {})) as Record<string, JsonSchema>,
    required: parts.flatMap((p) => p.required ?? []),
  };
}

/** Structure without prose, to recognize the same shape wherever it appears. */
function shapeKey(s: JsonSchema): string {
  return JSON.stringify(s, (k, v) => (k === 'description' || k === 'default' || k === '$schema' ? undefined : v));
}

const code = (text: string) => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);
const cell = (text: string) => text.replace(/\|/g, '\\|');
const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

const PREAMBLE = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs\`. Do not edit by hand: a test fails when this file is stale. -->

Gatehouse reads one YAML file (\`gatehouse start --config FILE\`). It is validated
against one schema before anything starts; \`gatehouse config check FILE\` runs
the same validation and prints every problem as \`FILE:LINE:COL key.path: message\`.
Unknown keys are errors, not silently ignored. A complete, commented example is
[\`examples/gatehouse.yaml\`](../examples/gatehouse.yaml).

Keys are written below as dotted paths; \`[]\` stands for "each entry of this list".
A key that is not required may be left out, and then takes its default.
`;

const SYNTAX_NOTES = `## Value syntax

### Durations

A value of type \`duration\` is either a number of seconds (\`30\`, \`0.5\`) or a
string made of a number and a unit: \`ms\`, \`s\`, \`m\`, \`h\` or \`d\`
(\`250ms\`, \`30s\`, \`5m\`, \`2h\`, \`7d\`). Defaults are shown in seconds.

### Environment variables

Any string value may contain \`\${NAME}\`; it is replaced by the environment
variable \`NAME\` when the file is loaded. Use it for secrets, so they never sit in
the file. A variable that is not set is an error that names it (never its value).
Substitution happens after YAML parsing, inside string values only, so a value
cannot change the structure of the document. Only \`\${NAME}\` is a reference:
any other \`\${\` (a default such as \`\${NAME:-x}\`, a space, an unclosed
brace) is an error, never kept as text, and so is a reference in a key. Write
\`$\${\` for a literal \`\${\`. Numbers and booleans cannot come from the
environment: \`port: \${PORT}\` is the string it expands to, which the schema
refuses where it expects a number.
`;

/** Finds the package root (the folder holding package.json) above this module, from dist/ or a build folder alike. */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error('package.json not found above ' + from);
  }
}

export const CONFIG_DOCS_PATH = 'docs/configuration.md';

// `node dist/src/config/docs.js --write` rewrites the file; without flags it prints it.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const text = renderConfigDocs();
  if (process.argv.includes('--write')) {
    const file = join(packageRoot(), CONFIG_DOCS_PATH);
    const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
    writeFileSync(file, text);
    process.stderr.write(`${before === text ? 'unchanged' : 'wrote'} ${file}\n`);
  } else {
    process.stdout.write(text);
  }
}
