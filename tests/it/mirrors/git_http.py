"""A plain git server over smart HTTP for the mirror tests: `git http-backend` (git's own CGI
program) behind Python's WSGI reference server, serving the bare repositories under a
directory, pushes included. Usage: git_http.py ROOT PORT_FILE (it binds 127.0.0.1:0 and writes
the port it got)."""
import os
import socketserver
import subprocess
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT, PORT_FILE = sys.argv[1:3]


def app(environ, start_response):
    env = {
        "GIT_PROJECT_ROOT": ROOT,
        "GIT_HTTP_EXPORT_ALL": "1",
        "REMOTE_USER": "mirror-test",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
                "HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL", "REMOTE_ADDR"):
        if environ.get(key):
            env[key] = environ[key]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    if not length and environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        body = read_chunked(environ["wsgi.input"])
        env["CONTENT_LENGTH"] = str(len(body))
    out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                         check=False).stdout
    head, _, rest = out.partition(b"\r\n\r\n")
    if not _:
        head, _, rest = out.partition(b"\n\n")
    status, headers = "200 OK", []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = value.strip()
        elif name:
            headers.append((name.strip(), value.strip()))
    start_response(status, headers)
    return [rest]


def read_chunked(stream):
    body = b""
    while True:
        size = int(stream.readline().strip() or b"0", 16)
        if size == 0:
            stream.readline()
            return body
        body += stream.read(size)
        stream.readline()


class Threading(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", 0, app, server_class=Threading, handler_class=Quiet)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
