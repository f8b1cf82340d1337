#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kaserver.py: a keep-alive HTTP/1.1 target for 125_health_reuse (http.server with
protocol_version "HTTP/1.1"), told what to do through files.

    kaserver.py --dir DIR [--addr 127.0.0.1] [--cert PEM --key PEM]

Listens on ADDR, port chosen by the kernel, written to DIR/port. Appends a line to DIR/conns
for every connection it accepts ("open ID") and for every one that ends ("close ID"), and one
to DIR/requests for every request: "ID N VERSION CONNECTION-HEADER" (N counts the requests on
connection ID from 1). Each request reads the word in DIR/mode ("ok" when absent):

    ok        200, Content-Length, the body "status: ok"
    chunked   200, the body "status: ok" in three chunks (the words span the chunks)
    503       503, Content-Length, the body "status: down"
    body      200, chunked, the body "status: degraded"
    idle      as ok, then the server closes the connection once it has idled 0.1 s (a short
              keep-alive timeout)
    race      as ok on a connection's first request; a later request on the same connection
              is read and the connection closed without an answer (the server's close
              crossing the client's request)
    stray     as ok, then 0.05 s later a byte nobody asked for (HTTP/1.1 has no unsolicited
              responses: the client must not send another request on that connection)

Runs until DIR/quit exists or it is killed.
"""
import argparse
import http.server
import os
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.cid = self.server.new_conn()
        self.nreq = 0

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.log("conns", "close %d" % self.cid)

    def mode(self):
        try:
            with open(os.path.join(self.server.dir, "mode")) as f:
                return f.read().strip() or "ok"
        except FileNotFoundError:
            return "ok"

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)

    def answer(self, with_body):
        self.nreq += 1
        mode = self.mode()
        self.server.log("requests", "%d %d %s %s" % (self.cid, self.nreq, self.request_version,
                                                     self.headers.get("Connection", "-")))
        if mode == "race" and self.nreq > 1:
            self.close_connection = True
            return
        if mode in ("chunked", "body"):
            text = b"status: ok\n" if mode == "chunked" else b"status: degraded\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if with_body:
                for part in (text[:4], text[4:9], text[9:]):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            return
        status, text = (503, b"status: down\n") if mode == "503" else (200, b"status: ok\n")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if with_body:
            self.wfile.write(text)
        if mode == "idle":
            # handle_one_request's next readline times out and closes the connection
            self.connection.settimeout(0.1)
        elif mode == "stray":
            self.wfile.flush()
            threading.Timer(0.05, self.stray).start()

    def stray(self):
        try:
            self.connection.sendall(b"x")
        except OSError:
            pass  # the client closed the connection first

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args):
        self.dir = args.dir
        self.lock = threading.Lock()
        self.nconns = 0
        super().__init__((args.addr, 0), Handler)
        if args.cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.cert, args.key)
            self.socket = ctx.wrap_socket(self.socket, server_side=True)

    def new_conn(self):
        with self.lock:
            self.nconns += 1
            n = self.nconns
        self.log("conns", "open %d" % n)
        return n

    def log(self, name, line):
        with self.lock, open(os.path.join(self.dir, name), "a") as f:
            f.write(line + "\n")

    def handle_error(self, request, client_address):
        pass  # a client that resets (every probe that ends does) is no error here


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    srv = Server(args)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, os.path.join(args.dir, "port"))
    while not os.path.exists(os.path.join(args.dir, "quit")):
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
