"""Downloads against an HTTP server on 127.0.0.1, through the mirror variable."""
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from types import SimpleNamespace
import hashlib
import os
import socket
import threading
import time

import pytest

from datadings_like.tools import download as dl
from datadings_like.tools import prepare_indir
from datadings_like.tools.cli import UserError
from datadings_like.tools.cli import run_main

CONTENT = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(CONTENT).hexdigest()
DEAD_URL = 'http://127.0.0.1:9/official/'  # discard port: connection refused


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that gave up (timeout test) are expected


class Server:
    """Tiny HTTP server: files by name, with optional misbehaviour."""

    def __init__(self):
        self.files = {}
        self.requests = []  # (path, Range header)
        self.cut_first = {}  # name -> bytes to send before closing (first request only)
        self.ignore_range = set()
        self.slow_first = {}  # name -> seconds to wait before the first response
        self.cut_always = {}  # name -> bytes to send before closing, every time
        self.no_length = set()  # names sent without Content-Length (until closed)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get('Range')
                outer.requests.append((self.path, rng))
                name = self.path.rsplit('/', 1)[-1]
                first = sum(1 for p, _ in outer.requests if p == self.path) == 1
                if name not in outer.files:
                    self.send_error(404)
                    return
                if first and name in outer.slow_first:
                    time.sleep(outer.slow_first[name])
                data = outer.files[name]
                start = 0
                if rng and name not in outer.ignore_range:
                    start = int(rng.split('=')[1].split('-')[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header('Content-Range', f'bytes */{len(data)}')
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
                else:
                    self.send_response(200)
                body = data[start:]
                if name in outer.no_length:
                    self.send_header('Connection', 'close')
                    self.close_connection = True
                else:
                    self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                cut = outer.cut_always.get(name, outer.cut_first.get(name) if first else None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = _QuietServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_port}/mirror'
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    s = Server()
    monkeypatch.setenv(dl.MIRROR_VARIABLE, s.url)
    monkeypatch.setattr(dl, 'RETRY_DELAY', 0.0)
    yield s
    s.close()


def files(name='data.bin', md5=MD5, **extra):
    return {'train': dict({'path': name, 'url': DEAD_URL + name, 'md5': md5}, **extra)}


def args(indir, skip_verification=False, quiet=True):
    return SimpleNamespace(indir=str(indir), skip_verification=skip_verification, quiet=quiet)


def test_download_through_mirror(server, tmp_path):
    server.files['data.bin'] = CONTENT
    located = prepare_indir(files(), args(tmp_path, quiet=False))
    assert located['train']['path'] == os.path.join(str(tmp_path), 'data.bin')
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT
    assert not (tmp_path / 'data.bin.part').exists()
    assert server.requests == [('/mirror/data.bin', None)]
    # found and verified the second time: no request
    prepare_indir(files(), args(tmp_path))
    assert len(server.requests) == 1


def test_resume_after_cut_connection(server, tmp_path):
    server.files['data.bin'] = CONTENT
    server.cut_first['data.bin'] = 300_000
    prepare_indir(files(), args(tmp_path))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT
    ranges = [r for _, r in server.requests]
    assert ranges[0] is None
    assert ranges[1] == 'bytes=300000-'


def test_resume_part_file_of_earlier_run(server, tmp_path):
    server.files['data.bin'] = CONTENT
    (tmp_path / 'data.bin.part').write_bytes(CONTENT[:123_456])
    prepare_indir(files(), args(tmp_path))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT
    assert server.requests == [('/mirror/data.bin', 'bytes=123456-')]


def test_server_ignoring_range_restarts(server, tmp_path):
    server.files['data.bin'] = CONTENT
    server.ignore_range.add('data.bin')
    (tmp_path / 'data.bin.part').write_bytes(CONTENT[:1000])
    prepare_indir(files(), args(tmp_path))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT


def test_no_endless_retries_without_progress(server, monkeypatch, tmp_path):
    monkeypatch.setattr(dl, 'RETRIES', 2)
    server.files['data.bin'] = CONTENT
    server.ignore_range.add('data.bin')
    server.cut_always['data.bin'] = 1000
    with pytest.raises(dl.DownloadError, match='gave up'):
        prepare_indir(files(), args(tmp_path))
    assert len(server.requests) == 3  # never more than the first 1000 bytes
    assert not (tmp_path / 'data.bin').exists()


def test_complete_part_file_and_416(server, tmp_path):
    server.files['data.bin'] = CONTENT
    (tmp_path / 'data.bin.part').write_bytes(CONTENT)
    prepare_indir(files(), args(tmp_path))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT
    assert server.requests == [('/mirror/data.bin', f'bytes={len(CONTENT)}-')]


def test_stale_part_file_is_downloaded_again(server, tmp_path):
    server.files['data.bin'] = CONTENT
    (tmp_path / 'data.bin.part').write_bytes(b'x' * 5000)  # from another version
    prepare_indir(files(), args(tmp_path))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT
    assert [r for _, r in server.requests] == ['bytes=5000-', None]


def test_unknown_length(server, tmp_path):
    server.files['data.bin'] = CONTENT
    server.no_length.add('data.bin')
    prepare_indir(files(), args(tmp_path, quiet=False))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT


def test_md5_mismatch_is_refused(server, tmp_path):
    server.files['data.bin'] = CONTENT[:-1] + b'!'
    with pytest.raises(dl.DownloadError, match='wrong MD5'):
        prepare_indir(files(), args(tmp_path))
    assert not (tmp_path / 'data.bin').exists()
    assert not (tmp_path / 'data.bin.part').exists()


def test_md5_mismatch_exit_status_1(server, tmp_path, capsys):
    server.files['data.bin'] = b'something else'
    with pytest.raises(SystemExit) as exc:
        run_main(lambda argv: prepare_indir(files(), args(tmp_path)), prog='writer')
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith('writer: error: data.bin downloaded from ')
    assert MD5 in err
    assert os.listdir(tmp_path) == []


def test_skip_verification_accepts_other_content(server, tmp_path):
    server.files['data.bin'] = b'new version'
    prepare_indir(files(), args(tmp_path, skip_verification=True))
    assert (tmp_path / 'data.bin').read_bytes() == b'new version'


def test_existing_file_with_wrong_hash(server, tmp_path):
    (tmp_path / 'data.bin').write_bytes(b'damaged')
    with pytest.raises(dl.VerificationError, match='delete it'):
        prepare_indir(files(), args(tmp_path))
    with pytest.raises(dl.VerificationError, match='undamaged copy'):
        prepare_indir(files(url=None), args(tmp_path))
    prepare_indir(files(), args(tmp_path, skip_verification=True))
    assert server.requests == []


def test_http_404_fails_without_retries(server, tmp_path):
    with pytest.raises(dl.DownloadError, match='404'):
        prepare_indir(files('missing.bin'), args(tmp_path))
    assert len(server.requests) == 1
    assert os.listdir(tmp_path) == []


def test_gives_up_after_retries(monkeypatch, tmp_path):
    monkeypatch.delenv(dl.MIRROR_VARIABLE, raising=False)
    monkeypatch.setattr(dl, 'RETRY_DELAY', 0.0)
    monkeypatch.setattr(dl, 'RETRIES', 2)
    with pytest.raises(dl.DownloadError, match='3 attempts'):
        prepare_indir(files(), args(tmp_path))  # official address refuses
    assert not (tmp_path / 'data.bin').exists()


def test_timeout_is_retried(server, monkeypatch, tmp_path):
    monkeypatch.setattr(dl, 'TIMEOUT', 0.3)
    server.files['data.bin'] = CONTENT
    server.slow_first['data.bin'] = 1.0
    prepare_indir(files(), args(tmp_path))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT
    assert len(server.requests) == 2


def test_registration_only_file_is_never_downloaded(server, tmp_path):
    server.files['secret.tar'] = CONTENT
    meta = {'path': 'secret.tar', 'url': None, 'md5': MD5,
            'help': 'https://example.org/register'}
    with pytest.raises(UserError) as exc:
        prepare_indir({'train': meta}, args(tmp_path))
    message = str(exc.value)
    assert 'registration' in message
    assert 'https://example.org/register' in message
    assert str(tmp_path / 'secret.tar') in message
    assert server.requests == []
    # once the user put it there, it is verified and used
    (tmp_path / 'secret.tar').write_bytes(CONTENT)
    located = prepare_indir({'train': meta}, args(tmp_path))
    assert located['train']['path'] == str(tmp_path / 'secret.tar')


def test_mirror_local_directory(monkeypatch, tmp_path):
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    (mirror / 'data.bin').write_bytes(CONTENT)
    monkeypatch.setenv(dl.MIRROR_VARIABLE, str(mirror))
    indir = tmp_path / 'in'
    prepare_indir(files('sub/data.bin'), args(indir))
    assert (indir / 'sub' / 'data.bin').read_bytes() == CONTENT


def test_mirror_url():
    os.environ.pop(dl.MIRROR_VARIABLE, None)
    assert dl.mirror_url('http://a/b.zip', 'b.zip') == 'http://a/b.zip'
    os.environ[dl.MIRROR_VARIABLE] = 'https://cache.local/sets/'
    try:
        assert dl.mirror_url('http://a/b c.zip', 'b c.zip') == 'https://cache.local/sets/b%20c.zip'
    finally:
        del os.environ[dl.MIRROR_VARIABLE]


def test_locate_and_verify_files(tmp_path):
    (tmp_path / 'a').write_bytes(b'a')
    fs = {'x': {'path': 'a', 'md5': hashlib.md5(b'a').hexdigest()}, 'y': {'path': 'b'}}
    dl.verify_files(fs, str(tmp_path), quiet=True)  # 'b' has no md5: not checked
    located = dl.locate_files(fs, 'dir')
    assert located['x']['path'] == os.path.join('dir', 'a') and fs['x']['path'] == 'a'
