import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { z } from 'zod';
import { CONFIG_DOCS_PATH, packageRoot, renderConfigDocs } from './docs.js';
import { ConfigSchema, durationSeconds } from './schema.js';

test('docs/configuration.md is up to date with the schema', () => {
  const file = join(packageRoot(), CONFIG_DOCS_PATH);
  const onDisk = readFileSync(file, 'utf8');
  const fresh = renderConfigDocs(ConfigSchema);
  const script = relative(process.cwd(), fileURLToPath(new URL('./docs.js', import.meta.url)));
  assert.ok(onDisk === fresh, `${CONFIG_DOCS_PATH} is stale: run \`npm run docs\` (or \`node ${script} --write\`) and commit the result`);
});

test('every top-level key of the schema is documented', () => {
  const text = renderConfigDocs(ConfigSchema);
  for (const key of Object.keys(ConfigSchema.shape)) {
    assert.match(text, new RegExp(`\\| \`${key}\` \\|`), key);
  }
  assert.match(text, /\| `security\.jwt\.clockSkew` \| duration \| no \| `30` \|/);
  assert.match(text, /\| `listen\.tls\.hstsMaxAge` \| duration \| no \| `31536000` \|/, 'default kept under a transform');
  assert.match(text, /\$\{NAME\}/, 'env interpolation is explained');
});

test('renders every kind of zod type a schema may use', () => {
  const Sample = z
    .object({
      mode: z.enum(['fast', 'safe']).default('safe').describe('How to run.'),
      tag: z.literal('v1').describe('Version tag.'),
      timeout: durationSeconds().default(5).describe('Wait this long.'),
      ratio: z.number().min(0).max(1).nullable().describe('Share | fraction.'),
      name: z.string().transform((s) => s.toUpperCase()).describe('Upper-cased on load.'),
      store: z
        .discriminatedUnion('kind', [
          z.object({ kind: z.literal('memory'), maxEntries: z.number().int().positive().default(100) }).strict(),
          z.object({ kind: z.literal('redis'), url: z.url().describe('Redis URL.') }).strict(),
        ])
        .describe('Where data lives.'),
      pools: z.record(z.string(), z.object({ size: z.number().int().default(4).describe('Pool size.') })).default({}),
      items: z.array(z.object({ id: z.string().min(2) })).min(1),
      links: z.array(z.url()).default([]),
    })
    .strict();
  const text = renderConfigDocs(Sample);
  const row = (key: string) => text.split('\n').find((l) => l.startsWith(`| \`${key}\` |`)) ?? assert.fail(`no row for ${key}`);

  assert.match(row('mode'), /\| enum \| no \| `"safe"` \| How to run\. Allowed: `"fast"`, `"safe"`\. \|/);
  assert.match(row('tag'), /\| "v1" \| yes \|/);
  assert.match(row('timeout'), /\| duration \| no \| `5` \|/);
  assert.match(row('ratio'), /\| number \\\| null \| yes \| +\| Share \\\| fraction\. Constraints: ≥ 0, ≤ 1\. \|/);
  assert.match(row('name'), /\| string \| yes \| +\| Upper-cased on load\. \|/);
  assert.match(row('store'), /See `store` \(when `kind: "memory"`\), `store` \(when `kind: "redis"`\)\./);
  assert.match(text, /\n## `store` \(when `kind: "redis"`\)\n/);
  assert.match(row('store.maxEntries'), /\| integer \| no \| `100` \| Constraints: > 0\. \|/);
  assert.match(row('store.url'), /\| string \(uri\) \| yes \|/);
  assert.match(row('store.kind'), /\| "memory" \| yes \|/);
  assert.match(row('pools'), /\| map of string → object \| no \| +\| See `pools\.<name>`\. \|/);
  assert.match(text, /Each value of the `pools` map takes these keys\./);
  assert.match(row('pools.<name>.size'), /\| integer \| no \| `4` \| Pool size\. \|/);
  assert.match(row('items'), /\| object\[\] \| yes \| +\| Constraints: at least 1 entry\. See `items\[\]`\. \|/);
  assert.match(row('links'), /\| list of string \(uri\) \| no \| `\[\]` \|/);
  assert.match(row('items[].id'), /Constraints: at least 2 characters\./);
  // Each nested section follows its parent's table.
  assert.ok(text.indexOf('## `store` (when') < text.indexOf('## `pools.<name>`'));
});

test('intersections list the keys of every part, and recursive schemas terminate', () => {
  interface Node {
    label: string;
    children?: Node[];
  }
  const NodeSchema: z.ZodType<Node> = z.lazy(() =>
    z.object({ label: z.string().describe('Node label.'), children: z.array(NodeSchema).optional() }).strict(),
  );
  const Sample = z
    .object({
      both: z.intersection(
        z.object({ a: z.string().describe('From the left.') }),
        z.object({ b: z.number().default(1).describe('From the right.') }),
      ),
      tree: NodeSchema,
    })
    .strict();
  const text = renderConfigDocs(Sample);
  assert.match(text, /\| `both\.a` \| string \| yes \| +\| From the left\. \|/);
  assert.match(text, /\| `both\.b` \| number \| no \| `1` \| From the right\. \|/);
  assert.match(text, /\| `tree\.label` \| string \| yes \|/);
  assert.match(text, /### `tree\.children\[\]`\n\nTakes the same keys as `tree`\./);
});
