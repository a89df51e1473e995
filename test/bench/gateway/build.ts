/**
 * Gateway processes run from JavaScript, as `npm start` runs them, not through
 * tsx: tsx's loader thread and its transpile cache add memory and start-up
 * time that a deployment does not have. The benchmark transpiles services/ on
 * its own (file by file, no type check, a few seconds) into a temporary
 * folder whose node_modules links to the repository's, so it neither needs
 * nor touches dist/.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { REPO } from './processes.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Transpiles services/**\/*.ts; returns the path of the CLI to run with node, and a function that removes the build. */
export function buildGateway(): { cli: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'gw-bench-build-'));
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2023, module: ts.ModuleKind.ESNext, sourceMap: true, esModuleInterop: true };
  for (const file of sources(join(REPO, 'services'))) {
    const { outputText, sourceMapText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: options,
      fileName: file,
      reportDiagnostics: true,
    });
    if (diagnostics?.length) throw new Error(`${relative(REPO, file)}: ${ts.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n')}`);
    const out = join(root, relative(REPO, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
    // The CPU profile summary maps lines back to the TypeScript sources with these.
    if (sourceMapText) writeFileSync(`${out}.map`, sourceMapText);
  }
  writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
  return { cli: join(root, 'services', 'gateway', 'cli.js'), remove: () => rmSync(root, { recursive: true, force: true }) };
}
