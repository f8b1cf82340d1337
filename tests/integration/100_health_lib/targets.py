#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""targets.py: a health-check target for the integration tests, told what to do through files.

    targets.py --dir DIR --kind http|https|tcp [--addr 127.0.0.1] [--port 0]
               [--cert PEM --key PEM]

Listens on ADDR:PORT (PORT 0: the kernel picks) and writes the bound port to DIR/port. Its
behaviour is the word in DIR/mode (written by the test; "ok" when the file is absent), read
every 20 ms; once a new mode is in force the word is written to DIR/applied, so a test knows
the switch happened:

    ok     http(s): 200 with the body "status: ok"; tcp: accept and close
    503    http(s): 503 with the body "status: down"
    body   http(s): 200 with the body "status: degraded" (a body-substring check fails)
    hang   http(s): accept, read the request, never answer (until the client goes)
    stop   close the listening socket: connections are refused. Any other mode listens
           again, on the same port.

Every HTTP request's Host header is appended to DIR/hosts. The process exits when DIR/quit
exists or when killed.
"""
import argparse
import os
import socket
import ssl
import sys
import threading
import time

BODIES = {"ok": (200, "OK", b"status: ok\n"),
          "503": (503, "Service Unavailable", b"status: down\n"),
          "body": (200, "OK", b"status: degraded\n")}


class Target:
    def __init__(self, args):
        self.args = args
        self.dir = args.dir
        self.mode = "ok"
        self.lsock = None
        self.port = args.port
        self.lock = threading.Lock()
        self.ctx = None
        if args.kind == "https":
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(args.cert, args.key)

    def listen(self):
        fam = socket.AF_INET6 if ":" in self.args.addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.args.addr, self.port))
        s.listen(128)
        s.settimeout(0.05)
        self.port = s.getsockname()[1]
        self.lsock = s
        threading.Thread(target=self.accept_loop, args=(s,), daemon=True).start()

    def unlisten(self):
        s, self.lsock = self.lsock, None
        if s:
            s.close()

    def accept_loop(self, s):
        while self.lsock is s:
            try:
                conn, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            if self.args.kind == "tcp":
                conn.close()
                return
            conn.settimeout(10)
            if self.ctx:
                conn = self.ctx.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            for line in data.split(b"\r\n")[1:]:
                if line.lower().startswith(b"host:"):
                    with self.lock, open(os.path.join(self.dir, "hosts"), "ab") as f:
                        f.write(line[5:].strip() + b"\n")
            mode = self.mode
            if mode == "hang":
                conn.settimeout(None)
                while conn.recv(4096):
                    pass
                return
            status, reason, body = BODIES.get(mode, BODIES["ok"])
            conn.sendall(b"HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (status, reason.encode(), len(body), body))
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def run(self):
        self.listen()
        tmp = os.path.join(self.dir, "port.tmp")
        with open(tmp, "w") as f:
            f.write("%d\n" % self.port)
        os.rename(tmp, os.path.join(self.dir, "port"))
        modefile = os.path.join(self.dir, "mode")
        while not os.path.exists(os.path.join(self.dir, "quit")):
            try:
                with open(modefile) as f:
                    want = f.read().strip() or "ok"
            except FileNotFoundError:
                want = "ok"
            if want != self.mode:
                if want == "stop":
                    self.unlisten()
                elif self.mode == "stop":
                    self.listen()
                self.mode = want
                tmp = os.path.join(self.dir, "applied.tmp")
                with open(tmp, "w") as f:
                    f.write(want + "\n")
                os.rename(tmp, os.path.join(self.dir, "applied"))
            time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--kind", choices=("http", "https", "tcp"), required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    Target(ap.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
