import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { loadConfigFile, locate } from '../config/load.js';
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

/** Line and column of a key path in a YAML text (of its parent when the key is absent), for problems found after validation. */
export function locateYamlKey(text: string, path: readonly (string | number)[]): { line?: number; column?: number } {
  const lineCounter = new LineCounter();
  return locate(parseDocument(text, { lineCounter }), lineCounter, path);
}

/** A problem found after validation (a key file that does not load, two listeners on one port), at a key path. */
export interface KeyProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * Prints each problem as {@link formatConfigIssue} does, located in FILE as it reads now, and sets
 * exit code 1: `start` and `config check` report what they find after validation alike, at its line.
 */
export async function reportKeyProblems(file: string, problems: readonly KeyProblem[]): Promise<void> {
  // Read again to locate the keys; a file gone since it loaded leaves the problems without a line.
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const p of problems) console.error(formatConfigIssue(file, { path: p.path.join('.'), message: p.message, ...locateYamlKey(text, p.path) }));
  process.exitCode = 1;
}
