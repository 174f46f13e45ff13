# The uWSGI side of `npm run bench`: the classic hello-world WSGI app, 11 bytes of text/plain.
BODY = b'Hello World'
HEADERS = [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))]


def application(environ, start_response):
    start_response('200 OK', HEADERS)
    return [BODY]
