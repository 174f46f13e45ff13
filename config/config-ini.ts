import { execSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, resolve, sep } from 'node:path';
import { PorticoError } from '../common/errors.js';

/*
 * A uWSGI-style ini reader, written here rather than taken from npm: the `ini` package keeps only
 * the last of repeated keys (npm/ini#52: its maintainer suggests a separate module for that), turns
 * values into booleans itself and reports no line numbers, and uWSGI semantics need all three:
 * `static-map` twice means two mounts, booleans are the option's business, and `portico config`
 * names FILE:LINE for each value.
 */

/** The sections portico reads; uWSGI reads [uwsgi], so a uWSGI ini works unchanged. */
export const INI_SECTIONS = ['portico', 'uwsgi'];

export interface IniEntry {
  key: string;
  value: string;
  line: number;
}

/**
 * `key = value` lines of the [portico] and [uwsgi] sections, in file order, repeated keys kept.
 * As in uWSGI: comments are whole lines starting with # or ; (a # inside a value is part of it),
 * lines of other sections are skipped, and values go through uWSGI's expansions (see expand).
 */
export function parseIni(text: string, file: string, env: NodeJS.ProcessEnv = process.env): IniEntry[] {
  const entries: IniEntry[] = [];
  let section: string | null = null;
  let sawOurs = false;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      if (INI_SECTIONS.includes(section)) sawOurs = true;
      return;
    }
    if (section === null || !INI_SECTIONS.includes(section)) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `${file}:${i + 1}: expected "key = value", got ${JSON.stringify(line)}`);
    const key = line.slice(0, eq).trim();
    entries.push({ key, value: expand(line.slice(eq + 1).trim(), file, env), line: i + 1 });
  });
  if (!sawOurs) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `${file}: no [portico] or [uwsgi] section`);
  return entries;
}

/**
 * The file's entries, read and expanded once per process: `portico --ini` looks at the file to
 * choose serve or worker, then the command reads it again, and an `@(exec://...)` must run once.
 */
const readOnce = new Map<string, IniEntry[]>();

export function readIniFile(file: string, env: NodeJS.ProcessEnv = process.env): IniEntry[] {
  let stamp = '';
  try {
    const st = statSync(file);
    stamp = `${st.mtimeMs}:${st.size}`;
  } catch {
    // unreadable: the read below says why
  }
  const key = `${file}\0${stamp}\0${env === process.env ? '' : JSON.stringify(env)}`;
  const cached = readOnce.get(key);
  if (cached) return cached;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `cannot read --ini ${file}: ${(err as Error).message}`);
  }
  const entries = parseIni(text, file, env);
  readOnce.set(key, entries);
  return entries;
}

/**
 * uWSGI's value expansions that ini files in the wild use: magic variables about the file itself
 * (%d its directory with a trailing slash, %p its absolute path, %s its name, %n the name without
 * extension, %e the extension, %c the directory's name, %% a literal %), $(VAR) from the
 * environment, @(FILE) a file's contents and @(exec://CMD) a command's output (trailing newline
 * dropped). Inside $() and @() the magic variables are expanded first, as in uWSGI: seed 000's
 * `@(exec://date +%%Y-%%m-%%d)` runs `date +%Y-%m-%d`.
 */
function expand(value: string, file: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/\$\(([^)]*)\)|@\(([^)]*)\)|%(.)/g, (whole, envVar?: string, at?: string, magic?: string) => {
    if (envVar !== undefined) return env[expandMagic(envVar, file)] ?? '';
    if (at !== undefined) return readAt(expandMagic(at, file), file);
    return expandMagic(whole, file);
  });
}

function expandMagic(text: string, file: string): string {
  const abs = resolve(file);
  const ext = extname(abs);
  const vars: Record<string, string> = {
    '%': '%',
    d: dirname(abs) + sep,
    p: abs,
    s: basename(abs),
    n: basename(abs, ext),
    e: ext.slice(1),
    c: basename(dirname(abs)),
  };
  return text.replace(/%(.)/g, (whole, c: string) => vars[c] ?? whole);
}

function readAt(target: string, file: string): string {
  try {
    if (target.startsWith('exec://')) return execSync(target.slice(7), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).replace(/\r?\n$/, '');
    return readFileSync(target, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `${file}: @(${target}) failed: ${(err as Error).message}`);
  }
}

/** uWSGI's booleans; an empty value is a bare flag, so true. */
export function parseBool(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'true' || v === '1' || v === 'yes' || v === 'on') return true;
  if (v === 'false' || v === '0' || v === 'no' || v === 'off') return false;
  return undefined;
}
