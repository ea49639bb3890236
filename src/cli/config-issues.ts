import { LineCounter, parseDocument } from 'yaml';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ConfigError, type ConfigIssue } from '../errors.js';

/**
 * One line per problem, `FILE:LINE:COL key.path: message`, the shape compilers
 * use so that editors and CI annotate the exact spot.
 */
export function formatConfigIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
  return `${where} ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

export function formatConfigError(file: string, err: ConfigError): string[] {
  return err.issues.map((issue) => formatConfigIssue(file, issue));
}

/** Reports a config failure in the CLI's terms: every issue, or the unexpected error itself. */
export function describeConfigFailure(file: string, err: unknown): string[] {
  if (err instanceof ConfigError) return formatConfigError(file, err);
  return [`${file}: ${err instanceof Error ? err.message : String(err)}`];
}

/** Loads FILE for a command; on failure prints every problem, sets exit code 1 and resolves to undefined. */
export async function loadConfigForCommand(file: string): Promise<Config | undefined> {
  try {
    return await loadConfigFile(file);
  } catch (err) {
    for (const line of describeConfigFailure(file, err)) console.error(line);
    process.exitCode = 1;
    return undefined;
  }
}

/** Line and column of a key path in a YAML text, for problems found after validation. */
export function locateYamlKey(text: string, path: readonly (string | number)[]): { line?: number; column?: number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const node = doc.getIn(path as unknown[], true) as { range?: [number, number, number] } | undefined;
  if (!node || typeof node !== 'object' || !node.range) return {};
  const pos = lineCounter.linePos(node.range[0]);
  return { line: pos.line, column: pos.col };
}
