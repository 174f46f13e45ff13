# A WebSocket client from Python's ecosystem (websocket-client, Debian's python3-websocket), for
# test/integration/websocket/websocket.test.ts: `ws-client.py URL` reads the greeting, echoes a text and a binary
# message, closes with 1000 and prints what it saw as one JSON line.
import hashlib
import json
import sys

import websocket

ws = websocket.create_connection(sys.argv[1], timeout=20)
greeting = ws.recv()
ws.send('from python')
text = ws.recv()
blob = bytes(range(256)) * 1024
ws.send_binary(blob)
echo = ws.recv()
ws.close(status=1000)
print(json.dumps({
    'greeting': greeting,
    'text': text,
    'binary_ok': isinstance(echo, bytes) and hashlib.sha256(echo).hexdigest() == hashlib.sha256(blob).hexdigest(),
}))
