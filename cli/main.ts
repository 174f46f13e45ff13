import { isPorticoError } from '../common/errors.js';
import { pauseOptimizer } from '../common/optimizer-pause.js';

type Command = (argv: string[]) => Promise<number>;

// Loaded on demand: a worker the master forks must not pay for importing fastify and the
// gateway, since that time is how long a crashed worker's replacement takes to accept.
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve-command.js')).serveCommand,
  gateway: async () => (await import('./gateway-command.js')).gatewayCommand,
  worker: async () => (await import('./worker-command.js')).workerCommand,
  request: async () => (await import('./request-command.js')).requestCommand,
  top: async () => (await import('./top-command.js')).topCommand,
  config: async () => (await import('./config-command.js')).configCommand,
};

const USAGE = `Usage: portico COMMAND [options]
       portico --ini FILE [options]     run what FILE describes, like uwsgi --ini: http -> serve, socket or http-socket -> worker

Commands:
  serve APP --http HOST:PORT           the whole stack: N workers and the HTTP gateway in front
  gateway --http HOST:PORT --upstream uwsgi://unix:PATH
                                       the HTTP front alone: static files, forwarding to workers
  worker APP --socket PATH|HOST:PORT   serve APP over the uwsgi protocol (for nginx uwsgi_pass)
  worker APP --http-socket HOST:PORT  serve APP over HTTP from each worker, no gateway hop (uWSGI's --http-socket)
  request --socket PATH /path          send one uwsgi request and print the response (like uwsgi_curl)
  top --stats PATH|HOST:PORT           live view of a master's workers from its --stats server (like uwsgitop)
  config --ini FILE [options]          print the effective configuration and where each value came from

portico COMMAND --help lists a command's options; portico --version prints the version.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd) {
    process.stdout.write(USAGE);
    return 2;
  }
  if (cmd === '--version' || cmd === '-V') {
    const { PORTICO_VERSION } = await import('../common/version.js');
    process.stdout.write(`portico ${PORTICO_VERSION} (Node ${process.version})\n`);
    return 0;
  }
  if (cmd === '--help' || cmd === '-h') {
    process.stdout.write((await import('./config-command.js')).allOptionsHelp(USAGE));
    return 0;
  }
  if (cmd.startsWith('-')) {
    // `portico --ini FILE [options]`: the configuration, not a command name, says what runs.
    const { commandFor } = await import('../config/config-resolve.js');
    const { command, note } = commandFor(argv);
    if (note) process.stderr.write(`portico: warning: ${note}\n`);
    return run(command, argv);
  }
  if (!COMMANDS[cmd]) {
    process.stderr.write(`portico: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  return run(cmd, rest);
}

async function run(command: string, argv: string[]): Promise<number> {
  // Resumed before the app is imported (worker/app-loader.ts) and once the master is ready
  // (master/master-runtime.ts): an idle worker and its master stay as light as they started.
  if (command === 'worker') pauseOptimizer();
  return (await COMMANDS[command]!())(argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Workers exit when their stop is done even if an app left a timer or handle open.
    if (process.argv[2] !== 'request') process.exit(code);
  },
  (err: unknown) => {
    if (isPorticoError(err)) process.stderr.write(`portico: ${err.code}: ${err.message}\n`);
    else if (err instanceof Error && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) process.stderr.write(`portico: PORTICO_ERR_INVALID_OPTION: invalid option: ${err.message}\n`);
    else process.stderr.write(`portico: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
