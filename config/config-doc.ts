import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { INI_SECTIONS } from './config-ini.js';
import { SCHEMA, UWSGI_IGNORED, aliasNames, defaultText, envName, requestOptions, topOptions, type OptionSpec } from './option-schema.js';

/*
 * docs/options.md is generated from the option schema (`npm run docs:options`), and
 * test/integration/cli/config.test.ts fails when the two disagree, so the reference cannot drift from the code.
 */

export const OPTIONS_DOC = fileURLToPath(new URL('../../docs/options.md', import.meta.url));

const cell = (s: string): string => s.replace(/\|/g, '\\|');

function flag(name: string, spec: OptionSpec): string {
  return `${spec.short ? `\`-${spec.short}\`, ` : ''}\`--${name}${spec.arg ? ` ${spec.arg}` : ''}\``;
}

function defaultCell(spec: OptionSpec): string {
  const d = defaultText(spec);
  return d === undefined ? '' : `\`${d}\``;
}

function clientTable(options: Record<string, OptionSpec>): string {
  const rows = Object.entries(options).map(([n, s]) => `| ${cell(flag(n, s))} | ${defaultCell(s)} | ${cell(s.help)} |`);
  return ['| option | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

function lineSeparated(): string {
  return Object.entries(SCHEMA as Record<string, OptionSpec>)
    .filter(([, s]) => s.envSeparator === '\n')
    .map(([n]) => `\`${envName(n)}\``)
    .join(', ');
}

export function optionsMarkdown(): string {
  const serverRows = Object.entries(SCHEMA as Record<string, OptionSpec>).map(([name, s]) => {
    const aliases = (s.aliases ?? []).map((a) => (typeof a === 'string' ? `\`--${a}\`` : `\`-${a.short}\`, \`--${a.name}\``)).join(', ');
    const keys = s.cliOnly ? '(command line only)' : [name, ...aliasNames(s)].map((n) => `\`${n}\` / \`${envName(n)}\``).join('<br>');
    return `| ${cell(flag(name, s))} | ${aliases} | ${keys} | ${defaultCell(s)} | ${s.commands!.join(', ')} | ${cell(s.help)} |`;
  });
  const ignored = Object.entries(UWSGI_IGNORED).map(([k, why]) => `| \`${k}\` | ${cell(why)} |`);
  return `<!-- Generated from config/option-schema.ts by \`npm run docs:options\`; edit the schema, not this file. -->
# Options: command line, ini file, environment

The server commands (\`portico worker\`, \`portico serve\`, \`portico gateway\`) take each option from
four places; a later one wins:

1. the default below;
2. the ini file given with \`--ini FILE\`;
3. the environment: \`PORTICO_\` and the name in upper snake case (\`PORTICO_WORKERS=4\`, \`PORTICO_HARAKIRI=30\`);
   a repeatable option takes a comma-separated list (\`PORTICO_ALLOW_FROM=10.0.0.1,10.0.0.2\`), or one value
   a line where values may hold commas (${lineSeparated()});
4. the command line.

A repeatable option given in a later place replaces the earlier list rather than adding to it.
\`portico config --ini FILE [options]\` prints the result and where each value came from
(default, ini FILE:LINE, env NAME, command line).

## \`portico --ini FILE\`

Like \`uwsgi --ini FILE\`: with no command, the configuration says what runs. \`http\` set: \`portico serve\`
(the gateway on \`http\`, workers behind it); only \`socket\` set: \`portico worker\` (a master and its
workers on the socket, for nginx's \`uwsgi_pass\`); only \`http-socket\` set: \`portico worker\`, its workers
speaking HTTP on that socket themselves. \`module\` is the app (\`module = app.mjs:handler\`),
\`chdir\` is applied before the app loads and sockets bind.

## Ini files

uWSGI's format: the keys of the ${INI_SECTIONS.map((s) => `\`[${s}]\``).join(' and ')} sections (other sections are skipped, so one file
can serve both), \`key = value\` lines, whole-line comments starting with \`#\` or \`;\` (a \`#\` inside a
value is part of it). A repeated key of a repeatable option gives several values (\`static-map\` twice:
two mounts); of any other option, the last one counts (with a warning). Booleans: \`true/false\`,
\`1/0\`, \`yes/no\`, \`on/off\`; an empty value is \`true\`. Values expand uWSGI's \`%d\` (the file's directory),
\`%p\`, \`%s\`, \`%n\`, \`%e\`, \`%c\`, \`%%\` (a literal \`%\`), \`$(VAR)\` (environment), \`@(FILE)\` (its contents)
and \`@(exec://CMD)\` (its output). An unknown key is an error naming the nearest known one.

## Addresses

\`--socket\`, \`--http-socket\`, \`--http\`, \`--stats\` and \`--metrics\` take the same forms, checked at start (anything
else is one \`PORTICO_ERR_INVALID_OPTION\` line):

| form | binds |
|---|---|
| \`unix:PATH\`, or any other \`PATH\` (\`/run/app.sock\`, \`app.sock\`) | a unix socket (at most 107 bytes; its directory must exist) |
| \`127.0.0.1:8000\`, \`[::1]:8000\`, \`localhost:8000\` | that IP address (\`localhost\` is 127.0.0.1; other host names are not looked up) |
| \`:8000\` or \`8000\` | every interface (0.0.0.0); for \`--stats\`, 127.0.0.1 only |

A bare number is a port: uWSGI makes \`--socket 8000\` a unix socket file named \`8000\` and gunicorn reads
\`-b 8000\` as a host name, neither what was meant; portico takes it as \`:8000\`, the form both read as
every interface. A unix socket whose name is all digits is \`unix:8000\` or \`./8000\`. A TCP \`--socket\`
accepts only the peers \`--allow-from\` lists (loopback by default), wherever it binds.

## Server options

| option | aliases | ini key / environment | default | commands | meaning |
|---|---|---|---|---|---|
${serverRows.join('\n')}

## uWSGI keys accepted with a warning

These mean something to uWSGI but nothing to portico; an ini file may carry them, and portico says why
it ignores each.

| key | why portico ignores it |
|---|---|
${ignored.join('\n')}

## \`portico request\` (command line only)

${clientTable(requestOptions)}

## \`portico top\` (command line only)

${clientTable(topOptions)}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OPTIONS_DOC, optionsMarkdown());
  process.stdout.write(`wrote ${OPTIONS_DOC}\n`);
}
