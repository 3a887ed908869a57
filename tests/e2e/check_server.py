"""A real server for the readiness and liveness tests: `python check_server.py KIND ADDRESS`.

KIND is tcp, unix or http; ADDRESS a port (tcp, http) or a socket path (unix). Options:

--after FILE   listen only once FILE exists (the test decides when the program is ready)
--started FILE write "<pid> <time.time()>" there on start (dependency order, by timestamps)

The http kind is Python's own http.server answering 200 to GET. On SIGUSR1 it hangs: the
next request is accepted and never answered (the listen socket stays open), which is what
a wedged application looks like to a health check.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import socket
import sys
import time
from pathlib import Path

HUNG = False


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    Path(tmp).write_text(text)
    os.replace(tmp, path)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        while HUNG:
            time.sleep(3600)  # wedged: the request is never answered
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: object) -> None:
        print(f"request: {format % args}", flush=True)


def hang(signum: int, frame: object) -> None:
    global HUNG
    HUNG = True
    print("hanging from now on", flush=True)


def serve_plain(sock: socket.socket) -> None:
    sock.listen(16)
    while True:
        conn, _ = sock.accept()
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("tcp", "unix", "http"))
    parser.add_argument("address")
    parser.add_argument("--after")
    parser.add_argument("--started")
    args = parser.parse_args()
    if args.started:
        write_atomic(args.started, f"{os.getpid()} {time.time()!r}")
    signal.signal(signal.SIGUSR1, hang)
    while args.after and not os.path.exists(args.after):
        time.sleep(0.02)  # a test program waiting for the test's go, not a test waiting
    if args.kind == "unix":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(args.address)
        serve_plain(sock)
    elif args.kind == "tcp":
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(args.address)))
        serve_plain(sock)
    else:
        server = http.server.HTTPServer(("127.0.0.1", int(args.address)), Handler)
        print(f"serving on {args.address}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
