"""The webhook tests' receiver and verifier.

`serve`: an HTTP server on 127.0.0.1 (a free port, printed first) answering POSTs by path
(`/ok` 200, `/fail` 500, `/redirect` 302 to `/ok`), printing each request as a JSON line
(path, headers, body).

`verify SECRET`: reads such lines on stdin and checks each with the `standardwebhooks` library
(the reference verifier): prints one JSON line per request, `{"ok": true, "payload": ...}` or
`{"ok": false, "error": ...}`.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length).decode()
        print(json.dumps({"path": self.path, "headers": dict(self.headers), "body": body}), flush=True)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("location", "/ok")
        elif self.path == "/fail":
            self.send_response(500)
        else:
            self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def serve():
    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def verify(secret):
    from standardwebhooks.webhooks import Webhook

    hook = Webhook(secret)
    for line in sys.stdin:
        r = json.loads(line)
        try:
            payload = hook.verify(r["body"], r["headers"])
            print(json.dumps({"ok": True, "payload": payload}))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))


if __name__ == "__main__":
    serve() if sys.argv[1] == "serve" else verify(sys.argv[2])
