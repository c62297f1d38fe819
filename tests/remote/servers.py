"""Servers on 127.0.0.1 for the remote tests: HTTP with Range support (optionally flaky) and moto's S3."""
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
import re
import socket
import threading


class RangeHTTPServer(ThreadingHTTPServer):
    """
    Serves the files of ``root`` with HEAD and GET (``Range: bytes=a-b``);
    records every request in ``log`` as (method, path, range header).
    ``flaky`` > 0: every ``flaky``-th GET answers 503 and the one after it
    drops the connection half-way through the body.
    """
    daemon_threads = True

    def __init__(self, root, flaky=0):
        self.root = Path(root)
        self.flaky = flaky
        self.log = []
        self.gets = 0
        self.failures = 0
        self.lock = threading.Lock()
        super().__init__(('127.0.0.1', 0), _Handler)

    @property
    def url(self):
        return f'http://127.0.0.1:{self.server_address[1]}'

    def ranged_gets(self):
        return [entry for entry in self.log if entry[0] == 'GET']


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle's
        # algorithm and delayed ACKs add 40 ms to every response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def _file(self):
        path = self.server.root / self.path.lstrip('/').split('?')[0]
        if not path.resolve().is_relative_to(self.server.root.resolve()) or not path.is_file():
            return None
        return path

    def _not_found(self):
        self.send_response(404)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def do_HEAD(self):
        server = self.server
        with server.lock:
            server.log.append(('HEAD', self.path, None))
        if self.path.startswith('/forbidden'):
            self.send_response(403)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        path = self._file()
        if path is None:
            return self._not_found()
        self.send_response(200)
        self.send_header('Content-Length', str(path.stat().st_size))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()

    def do_GET(self):
        server = self.server
        rng = self.headers.get('Range')
        with server.lock:
            server.log.append(('GET', self.path, rng))
            server.gets += 1
            n = server.gets
        if self.path.startswith('/forbidden'):
            self.send_response(403)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        path = self._file()
        if path is None:
            return self._not_found()
        total = path.stat().st_size
        status = 200
        a, b = 0, total
        if rng:
            m = re.fullmatch(r'bytes=(\d+)-(\d*)', rng)
            a = int(m.group(1))
            b = min(int(m.group(2)) + 1 if m.group(2) else total, total)
            status = 206
        with open(path, 'rb') as f:
            f.seek(a)
            body = f.read(max(b - a, 0))
        flaky = server.flaky
        if flaky and n % flaky == 0:
            with server.lock:
                server.failures += 1
            self.send_response(503)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        if status == 206:
            self.send_header('Content-Range', f'bytes {a}-{a + len(body) - 1}/{total}')
        self.end_headers()
        if flaky and n % flaky == 1 and len(body) > 1:
            with server.lock:
                server.failures += 1
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


def start_http(root, flaky=0):
    server = RangeHTTPServer(root, flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server
