# Reads gunicorn's request corpus (tests/requests/{valid,invalid}) and prints it as JSON for
# test/integration/gateway/gunicorn-corpus.test.ts. The .py expectations are Python, so Python reads them: each is run
# with stand-ins for what it imports (uri(), Config, gunicorn.http.errors) instead of a parser of
# our own that would drift from what the files really say.
import base64
import json
import os
import re
import sys
import types


class Config:
    def __init__(self):
        self.settings = {}

    def set(self, name, value):
        self.settings[name] = value


def error_module():
    # Every name imported from gunicorn.http.errors becomes an exception class of that name.
    mod = types.ModuleType('gunicorn.http.errors')
    mod.__getattr__ = lambda name: type(name, (Exception,), {})
    return mod


gunicorn = types.ModuleType('gunicorn')
gunicorn_http = types.ModuleType('gunicorn.http')
gunicorn_config = types.ModuleType('gunicorn.config')
gunicorn_config.Config = Config
sys.modules.update({
    'gunicorn': gunicorn,
    'gunicorn.http': gunicorn_http,
    'gunicorn.http.errors': error_module(),
    'gunicorn.config': gunicorn_config,
})


def decode_http(raw):
    # As gunicorn's runner (tests/treq.py): real newlines are layout, the escapes are the bytes.
    data = raw.replace(b'\n', b'')
    data = data.replace(b'\\r\\n', b'\r\n').replace(b'\\0', b'\0').replace(b'\\n', b'\n').replace(b'\\t', b'\t')
    return re.sub(rb'\\x([0-9a-fA-F]{2})', lambda m: bytes([int(m.group(1), 16)]), data)


def to_bytes(body):
    return body if isinstance(body, bytes) else body.encode('latin-1')


def expected_request(r):
    return {
        'method': r['method'],
        'uri': r['uri'],
        'version': list(r['version']),
        'headers': [[n, v] for n, v in r['headers']],
        'body': base64.b64encode(to_bytes(r['body'])).decode(),
    }


def read_case(kind, directory, name):
    with open(os.path.join(directory, name + '.http'), 'rb') as f:
        raw = decode_http(f.read())
    scope = {'uri': lambda u: u}
    with open(os.path.join(directory, name + '.py')) as f:
        exec(compile(f.read(), name + '.py', 'exec'), scope)
    cfg = scope.get('cfg')
    case = {
        'name': f'{kind}/{name}',
        'kind': kind,
        'raw': base64.b64encode(raw).decode(),
        'cfg': cfg.settings if cfg else {},
    }
    expected = scope['request']
    if kind == 'valid':
        reqs = expected if isinstance(expected, list) else [expected]
        case['requests'] = [expected_request(r) for r in reqs]
    else:
        case['error'] = expected.__name__
    return case


def main(root):
    cases = []
    for kind in ('valid', 'invalid'):
        directory = os.path.join(root, kind)
        names = sorted(n[:-3] for n in os.listdir(directory) if n.endswith('.py'))
        cases.extend(read_case(kind, directory, n) for n in names)
    json.dump(cases, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1])
