// A WSGI-style app, for people coming from Django or Flask: application(environ, startResponse)
// as in PEP 3333. environ holds the CGI vars nginx sent (uwsgi_params) plus portico.input, the
// request body as a Readable.
//
//   npx portico worker examples/wsgi.mjs --socket /tmp/p.sock --chmod-socket 666
//
// GET /            a page that shows what the app was told about the request
// POST /reverse    the body, reversed (the body is read whole before the response starts:
//                  nginx stops sending it once it has the response head, as with uWSGI)
// GET /count?n=N   N lines, streamed by a generator: each is written as it is produced

async function readBody(environ) {
  const chunks = [];
  for await (const chunk of environ['portico.input']) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function* countTo(n) {
  for (let i = 1; i <= n; i++) yield `${i}\n`;
}

export async function application(environ, startResponse) {
  const path = environ.PATH_INFO;
  if (path === '/' && environ.REQUEST_METHOD === 'GET') {
    const body = Buffer.from(
      `Hello from a WSGI-style app\n` +
      `method: ${environ.REQUEST_METHOD}\n` +
      `path: ${path}\n` +
      `query: ${environ.QUERY_STRING}\n` +
      `client: ${environ.REMOTE_ADDR}\n` +
      `host: ${environ.HTTP_HOST}\n`,
    );
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
    return [body];
  }
  if (path === '/reverse' && environ.REQUEST_METHOD === 'POST') {
    const text = [...(await readBody(environ)).toString('utf8')].reverse().join('');
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return [text];
  }
  if (path === '/count') {
    const n = Math.min(Number(new URLSearchParams(environ.QUERY_STRING).get('n') ?? 10) || 0, 100_000);
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return countTo(n);
  }
  startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
  return ['not found\n'];
}
