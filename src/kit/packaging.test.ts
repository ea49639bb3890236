import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import ts from 'typescript';

/** The package root (this test runs from dist/ or a build folder). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

const root = repoRoot();
const consumerDir = mkdtempSync(join(tmpdir(), 'gatehouse-consumer-'));
after(() => rmSync(consumerDir, { recursive: true, force: true }));
// The package as installed: this checkout's package.json, and as its dist/ the build this test
// runs from (dist/ or .build/<name>/: <build>/src/kit/packaging.test.js).
const pkg = join(consumerDir, 'gatehouse');
mkdirSync(pkg);
copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
symlinkSync(dirname(dirname(dirname(fileURLToPath(import.meta.url)))), join(pkg, 'dist'), 'dir');
symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'), 'dir');
// A consumer project with it installed under its name.
mkdirSync(join(consumerDir, 'node_modules'));
symlinkSync(pkg, join(consumerDir, 'node_modules', 'gatehouse'), 'dir');
writeFileSync(join(consumerDir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
const consumer = join(consumerDir, 'consumer.ts');
writeFileSync(
  consumer,
  `import { createVerifier, GatehouseError, type Identity, type TokenVerifier } from 'gatehouse/kit';
import { startGateway } from 'gatehouse';
const verifier: TokenVerifier = createVerifier({ issuer: 'https://a.example', audience: 'x', jwksUri: 'https://a.example/jwks', algorithms: ['ES256'] });
export async function use(token: string): Promise<Identity | string> {
  try { return await verifier.verify(token); } catch (e) { return e instanceof GatehouseError ? e.code : 'other'; }
}
// @ts-expect-error a misspelled option is an error only if the types resolved (not any)
createVerifier({ issuer: 'i', audience: 'a', jwksUri: 'https://a.example/jwks', algorithms: ['ES256'], clockSkw: 1 });
void startGateway;
`,
);

// node10 reads only "types" and "typesVersions"; node16, nodenext and bundler read the "types" condition of "exports".
for (const [moduleResolution, module] of [
  [ts.ModuleResolutionKind.Node10, ts.ModuleKind.CommonJS],
  [ts.ModuleResolutionKind.Node16, ts.ModuleKind.Node16],
  [ts.ModuleResolutionKind.NodeNext, ts.ModuleKind.NodeNext],
  [ts.ModuleResolutionKind.Bundler, ts.ModuleKind.ESNext],
] as const) {
  test(`a TypeScript consumer resolves the types of gatehouse/kit under moduleResolution ${ts.ModuleResolutionKind[moduleResolution]}`, () => {
    const program = ts.createProgram([consumer], {
      module,
      moduleResolution,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
    });
    const errors = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(errors, []);
    const files = program.getSourceFiles().map((f) => f.fileName);
    assert.ok(files.some((f) => f.endsWith('/dist/src/kit/index.d.ts')), 'resolved to the built declarations');
  });
}
