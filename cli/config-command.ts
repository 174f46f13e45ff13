import { commandFor, resolveConfig, type Source } from '../config/config-resolve.js';
import { CONFIG_FOOTER, SCHEMA, formatHelp, optionsFor, type OptionSpec } from '../config/option-schema.js';

const USAGE = `Usage: portico config [--ini FILE] [options]

Prints the configuration \`portico --ini FILE [options]\` would run with (portico serve when http
is set, portico worker when only socket is), and where each value came from: default,
ini FILE:LINE, env PORTICO_NAME or command line.`;

/** Every server option, marked with the commands that take it: `portico --help`, `portico config --help`. */
export function allOptionsHelp(usage: string): string {
  const specs: Record<string, OptionSpec> = {};
  for (const [name, spec] of Object.entries(SCHEMA as Record<string, OptionSpec>)) {
    specs[name] = { ...spec, help: `${spec.help} [${spec.commands?.join(', ')}]` };
  }
  return formatHelp(usage.trimEnd(), specs, CONFIG_FOOTER);
}

function sourceText(source: Source | undefined): string {
  if (!source) return 'unset (no default)';
  switch (source.kind) {
    case 'default':
      return 'default';
    case 'ini':
      return `ini ${source.lines.map((l) => `${source.file}:${l}`).join(', ')}`;
    case 'env':
      return `env ${source.name}`;
    case 'cli':
      return 'command line';
  }
}

function valueText(v: unknown): string {
  if (v === undefined) return '-';
  return Array.isArray(v) ? v.join(', ') : String(v);
}

export async function configCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(allOptionsHelp(USAGE));
    return 0;
  }
  const { command, note } = commandFor(argv);
  const { values, sources, warnings } = resolveConfig(command, argv);
  const names = Object.entries(optionsFor(command))
    .filter(([, s]) => !s.cliOnly)
    .map(([n]) => n);
  const width = Math.max(...names.map((n) => n.length));
  const rows = names.map((n) => [n.padEnd(width), valueText(values[n])] as const);
  const valueWidth = Math.min(48, Math.max(...rows.map(([, v]) => v.length)));
  const why = values.http !== undefined ? 'http is set' : values['http-socket'] !== undefined ? 'http-socket is set, http is not' : 'socket is set, http is not';
  let out = `# portico ${command} (${why})\n`;
  rows.forEach(([n, v], i) => {
    out += `${n}  ${v.padEnd(valueWidth)}  # ${sourceText(sources[names[i]!])}\n`;
  });
  for (const w of [...(note ? [note] : []), ...warnings]) out += `# warning: ${w}\n`;
  process.stdout.write(out);
  return 0;
}
