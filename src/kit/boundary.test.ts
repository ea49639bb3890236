import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

/** The source tree (this test runs from dist/ or a build folder). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

test('the service kit reaches only tokens/, errors.ts, timers.ts and loopback.ts (and packages it depends on at run time)', () => {
  const root = repoRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const seen = new Set<string>();
  const queue = [join(root, 'src/kit/index.ts')];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const [, spec] of source.matchAll(/^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm)) {
      if (spec!.startsWith('node:')) continue;
      if (!spec!.startsWith('.')) {
        const name = spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!;
        assert.ok(name in pkg.dependencies, `${relative(root, file)} imports ${spec}, not a runtime dependency`);
        continue;
      }
      const target = resolve(dirname(file), spec!.replace(/\.js$/, '.ts'));
      const rel = relative(join(root, 'src'), target);
      assert.ok(/^(kit|tokens)\//.test(rel) || ['errors.ts', 'timers.ts', 'loopback.ts'].includes(rel), `${relative(root, file)} imports ${rel}`);
      queue.push(target);
    }
  }
  assert.ok(seen.size > 5);
});
