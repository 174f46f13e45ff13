import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MANAGED_ENV } from '../common/managed-env.js';
import { parseBool, readIniFile } from './config-ini.js';
import { PorticoError } from '../common/errors.js';
import { SCHEMA, UWSGI_IGNORED, aliasNames, envName, optionsFor, type OptionSpec, type OptionValues, type ServerCommand, type ValuesFor } from './option-schema.js';

/** Where a value came from, for `portico config`. */
export type Source = { kind: 'default' } | { kind: 'ini'; file: string; lines: number[] } | { kind: 'env'; name: string } | { kind: 'cli' };

export interface ResolvedConfig<V = OptionValues> {
  values: V;
  positionals: string[];
  sources: Record<string, Source>;
  /** Ini keys that were accepted but mean nothing here, one line each. */
  warnings: string[];
}

type Value = string | boolean | string[];
type Scope = ServerCommand | 'any';
type ParseArgsOptions = NonNullable<ParseArgsConfig['options']>;
/** One place's values (command line, environment, ini file), by option name. */
type Layer = Map<string, { value: Value; source: Source }>;

const ALL = SCHEMA as Record<string, OptionSpec>;
const ANY = Object.fromEntries(Object.entries(ALL).filter(([, s]) => s.commands !== undefined));

/** Name or alias → the option's name, over every server option. */
const CANONICAL = new Map<string, string>();
for (const [name, spec] of Object.entries(ALL)) for (const n of [name, ...aliasNames(spec)]) CANONICAL.set(n, name);

function invalid(message: string): PorticoError {
  return new PorticoError('PORTICO_ERR_INVALID_OPTION', message);
}

/**
 * defaults < ini file (--ini) < PORTICO_* environment < command line, for one command ('any': the
 * options of every server command, to find out which one an ini file describes). Repeatable
 * options are replaced by a later layer, not added to, as gunicorn and uWSGI do.
 */
export function resolveConfig(scope: Scope, argv: string[], env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const specs = scope === 'any' ? ANY : optionsFor(scope);
  const cli = parseCommandLine(scope, specs, argv);
  const layers: Layer[] = [cli.values];
  const warnings: string[] = [];
  // --help must work even when the ini file or the environment is wrong.
  if (!cli.values.has('help')) {
    layers.push(readEnv(specs, env));
    const iniFile = cli.values.get('ini')?.value as string | undefined;
    if (iniFile !== undefined) layers.push(readIni(scope, specs, iniFile, env, warnings));
  }
  const values: OptionValues = {};
  const sources: Record<string, Source> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const found = layers.find((layer) => layer.has(name))?.get(name) ?? (spec.default === undefined ? undefined : { value: spec.default, source: { kind: 'default' as const } });
    if (found === undefined) continue;
    values[name] = found.value;
    sources[name] = found.source;
  }
  return { values, positionals: cli.positionals, sources, warnings };
}

function parseCommandLine(scope: Scope, specs: Record<string, OptionSpec>, argv: string[]): { values: Layer; positionals: string[] } {
  // parseArgs sees every alias as an option of its own; the tokens fold them into the option's
  // name in command-line order, so `-p 3 -w 5` is 5, as a repeated flag would be.
  const options: ParseArgsOptions = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = parseArgsOption(spec, spec.short);
    for (const a of spec.aliases ?? []) {
      const [alias, short] = typeof a === 'string' ? [a, undefined] : [a.name, a.short];
      options[alias] = parseArgsOption(spec, short);
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: attachDashValues(argv, options), options, allowPositionals: scope !== 'gateway', allowNegative: true, tokens: true });
  } catch (err) {
    // parseArgs's own refusals (an unknown flag, --processes without its value): one coded line,
    // and for a misspelt flag the nearest real one, as the ini path says it.
    if ((err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'(-{1,2}[^']+)'/.exec((err as Error).message)?.[1] ?? '';
      const name = flag.replace(/^-+/, '').replace(/=.*$/, '');
      const command = scope === 'any' ? 'portico' : `portico ${scope}`;
      throw invalid(`unknown option ${flag} for ${command} (did you mean --${nearest(name, Object.keys(options))}?); ${command} --help lists them`);
    }
    if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) throw invalid((err as Error).message);
    throw err;
  }
  const { tokens, positionals } = parsed;
  const values: Layer = new Map();
  const set = (name: string, value: Value): void => void values.set(name, { value, source: { kind: 'cli' } });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const name = CANONICAL.get(t.name)!;
    const spec = specs[name]!;
    if (spec.type === 'boolean') set(name, !t.rawName.startsWith('--no-'));
    else if (spec.multiple) set(name, [...((values.get(name)?.value as string[] | undefined) ?? []), t.value!]);
    else set(name, t.value!);
  }
  const positional = Object.entries(specs).find(([, s]) => s.positional)?.[0];
  if (positional !== undefined && positionals[0] !== undefined) set(positional, positionals[0]);
  return { values, positionals };
}

/**
 * `--cron '-1 -1 -1 -1 -1 cmd'`: uWSGI's own spelling starts with a dash, which parseArgs takes
 * for an option and refuses as ambiguous. The value of a string option is always the next
 * argument, so it is attached (`--cron=-1 ...`) before parsing.
 */
function attachDashValues(argv: string[], options: ParseArgsOptions): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a.startsWith('--') && !a.includes('=') && options[a.slice(2)]?.type === 'string' && next?.startsWith('-')) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** parseArgs rejects a `short` or `multiple` key whose value is undefined. */
function parseArgsOption(spec: OptionSpec, short: string | undefined): ParseArgsOptions[string] {
  return { type: spec.type, ...(short ? { short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
}

function convert(spec: OptionSpec, raw: string, where: string): string | boolean {
  if (spec.type === 'string') return raw;
  const b = parseBool(raw);
  if (b === undefined) throw invalid(`${where} must be true/false, 1/0, yes/no or on/off, got ${JSON.stringify(raw)}`);
  return b;
}

/** PORTICO_NAME (or PORTICO_ALIAS) for each option; a repeatable option takes a comma-separated list. */
function readEnv(specs: Record<string, OptionSpec>, env: NodeJS.ProcessEnv): Layer {
  const values: Layer = new Map();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.cliOnly) continue;
    const variable = [name, ...aliasNames(spec)].map(envName).find((v) => env[v] !== undefined);
    if (variable === undefined) continue;
    const raw = env[variable]!;
    const value = spec.multiple
      ? raw
          .split(spec.envSeparator ?? ',')
          .map((s) => s.trim())
          .filter(Boolean)
      : convert(spec, raw, variable);
    values.set(name, { value, source: { kind: 'env', name: variable } });
  }
  return values;
}

function readIni(scope: Scope, specs: Record<string, OptionSpec>, file: string, env: NodeJS.ProcessEnv, warnings: string[]): Layer {
  const values: Layer = new Map();
  for (const { key, value, line } of readIniFile(file, env)) {
    const at = `${file}:${line}`;
    const name = CANONICAL.get(key);
    if (name === undefined) {
      if (key in UWSGI_IGNORED) {
        warnings.push(`${at}: ${key} ignored: ${UWSGI_IGNORED[key]}`);
        continue;
      }
      throw invalid(`${at}: unknown option "${key}" (did you mean "${nearest(key, [...CANONICAL.keys(), ...Object.keys(UWSGI_IGNORED)])}"?)`);
    }
    const spec = ALL[name]!;
    if (spec.cliOnly) throw invalid(`${at}: ${key} is a command-line option, not an ini key`);
    if (!(name in specs)) {
      warnings.push(`${at}: ${key} ignored: not an option of portico ${scope} (only of ${spec.commands!.join(', ')})`);
      continue;
    }
    const before = values.get(name);
    const lines = before?.source.kind === 'ini' ? before.source.lines : [];
    if (before && !spec.multiple) warnings.push(`${at}: ${key} given again (line ${lines.join(', ')}): the last one counts`);
    const next = spec.multiple ? [...((before?.value as string[] | undefined) ?? []), value] : convert(spec, value, `${at}: ${key}`);
    values.set(name, { value: next, source: { kind: 'ini', file, lines: [...lines, line] } });
  }
  return values;
}

/** The known name closest to `word` (Levenshtein distance), for "did you mean". */
function nearest(word: string, candidates: string[]): string {
  let best = candidates[0]!;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * What `portico --ini FILE` runs: http → serve (the gateway and its workers), socket or
 * http-socket alone → worker (a master and workers for nginx's uwsgi_pass, or speaking HTTP).
 */
export function commandFor(argv: string[], env: NodeJS.ProcessEnv = process.env): { command: ServerCommand; note?: string } {
  const { values } = resolveConfig('any', argv, env);
  if (values.http !== undefined) {
    return values.socket === undefined
      ? { command: 'serve' }
      : {
          command: 'serve',
          note: "http and socket both set: running portico serve, whose workers listen on private sockets; socket is not used (portico worker serves a socket for nginx's uwsgi_pass)",
        };
  }
  if (values.socket !== undefined || values['http-socket'] !== undefined) return { command: 'worker' };
  throw invalid('nothing to run: set http (gateway and workers), socket (workers for nginx uwsgi_pass) or http-socket (workers speaking HTTP) in the ini file, the environment or on the command line');
}

/**
 * A server command's options from every layer: warnings go to stderr, --chdir is applied (before
 * the app loads and sockets bind, as uWSGI's chdir). A worker the master forked takes its options
 * from the argv the master gave it only: the master resolved them already, and reading PORTICO_*
 * again could undo a command-line override whose value is the default (toArgv leaves those out).
 */
export function loadCommandConfig<C extends ServerCommand>(cmd: C, argv: string[]): ResolvedConfig<ValuesFor<C>> {
  const managed = process.env[MANAGED_ENV] !== undefined;
  const resolved = resolveConfig(cmd, argv, managed ? {} : process.env);
  for (const w of resolved.warnings) process.stderr.write(`portico: warning: ${w}\n`);
  const dir = resolved.values.chdir;
  if (typeof dir === 'string' && !managed) {
    try {
      process.chdir(resolve(dir));
    } catch (err) {
      throw invalid(`--chdir ${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}`);
    }
  }
  return resolved as ResolvedConfig<ValuesFor<C>>;
}
