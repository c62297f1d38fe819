"""Downloads against an HTTP server on 127.0.0.1, through the mirror variable."""
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from types import SimpleNamespace
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.request

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
        self.status_first = {}  # name -> HTTP status of the first response
        self.status_always = {}  # name -> HTTP status of every response
        self.reset_first = set()  # names whose first request gets a TCP reset
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
                status = outer.status_always.get(name, outer.status_first.get(name) if first else None)
                if status is not None:
                    self.send_error(status)
                    return
                if first and name in outer.reset_first:
                    # close with SO_LINGER 0: the client sees a reset, no response
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack('ii', 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
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


PROXY_VARIABLES = ('http_proxy', 'https_proxy', 'ftp_proxy', 'all_proxy', 'no_proxy')


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    """Requests go to 127.0.0.1 directly, whatever the environment says."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    # urlopen's opener reads the proxy variables once, when it is made
    urllib.request.install_opener(None)
    yield
    urllib.request.install_opener(None)


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


def test_gives_up_after_retries(server, monkeypatch, tmp_path):
    monkeypatch.setattr(dl, 'RETRIES', 2)
    server.files['data.bin'] = CONTENT
    server.status_always['data.bin'] = 503
    with pytest.raises(dl.DownloadError, match='3 attempts') as exc:
        prepare_indir(files(), args(tmp_path))
    assert 'HTTP 503' in str(exc.value)
    assert len(server.requests) == 3
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


# -------------------------- issue 9, item 12: retry only what retrying fixes

@pytest.fixture
def fake_dns(monkeypatch):
    """A resolver that knows no host name (numeric addresses resolve as
    usual, without any lookup); returns the names it was asked for."""
    asked = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        try:
            socket.inet_pton(socket.AF_INET6 if ':' in str(host) else socket.AF_INET, host)
        except (OSError, TypeError):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known') from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, 'getaddrinfo', getaddrinfo)
    return asked


@pytest.fixture
def real_delays(monkeypatch):
    """The default retry delay (1 s, then 2, 4, ...): a retry shows in the time taken."""
    monkeypatch.setattr(dl, 'RETRY_DELAY', 1.0)
    monkeypatch.setattr(dl, 'RETRIES', 5)


def timed(function, *args, **kwargs):
    start = time.monotonic()
    try:
        function(*args, **kwargs)
    except dl.DownloadError as exc:
        return str(exc), time.monotonic() - start
    raise AssertionError('no DownloadError')


def test_dns_failure_fails_fast_naming_the_host(monkeypatch, tmp_path, fake_dns, real_delays, capsys):
    monkeypatch.delenv(dl.MIRROR_VARIABLE, raising=False)
    url = 'http://datasets.example.invalid/official/'
    message, elapsed = timed(prepare_indir, files(url=url + 'data.bin'), args(tmp_path))
    assert elapsed < 0.9 and fake_dns == ['datasets.example.invalid']
    assert 'cannot resolve host datasets.example.invalid (Name or service not known)' in message
    assert 'data.bin' in message and 'retry' not in message
    assert os.listdir(tmp_path) == []
    # the shell tools print one line
    with pytest.raises(SystemExit) as exc:
        run_main(lambda argv: prepare_indir(files(url=url + 'data.bin'), args(tmp_path)),
                 prog='writer')
    assert exc.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('writer: error: could not download data.bin')


def test_dns_failure_of_the_proxy_names_the_proxy(monkeypatch, tmp_path, fake_dns, real_delays):
    monkeypatch.delenv(dl.MIRROR_VARIABLE, raising=False)
    monkeypatch.setenv('http_proxy', 'http://proxy.example.invalid:3128')
    message, elapsed = timed(dl.download, 'http://127.0.0.1:9/x.bin', tmp_path / 'x.bin',
                             quiet=True)
    assert elapsed < 0.9 and fake_dns == ['proxy.example.invalid']
    assert 'cannot resolve proxy host proxy.example.invalid:3128' in message


def test_dns_failure_of_the_mirror_fails_fast(monkeypatch, tmp_path, fake_dns, real_delays):
    monkeypatch.setenv(dl.MIRROR_VARIABLE, 'https://mirror.example.invalid/sets')
    message, elapsed = timed(prepare_indir, files(), args(tmp_path))
    assert elapsed < 0.9 and fake_dns == ['mirror.example.invalid']
    assert 'mirror.example.invalid' in message and dl.MIRROR_VARIABLE in message


def test_connection_refused_fails_fast(monkeypatch, tmp_path, real_delays):
    monkeypatch.delenv(dl.MIRROR_VARIABLE, raising=False)
    message, elapsed = timed(prepare_indir, files(), args(tmp_path))  # DEAD_URL refuses
    assert elapsed < 0.9
    assert 'host 127.0.0.1:9: connection refused' in message
    assert not (tmp_path / 'data.bin').exists()


def test_missing_file_in_a_local_mirror_fails_fast(monkeypatch, tmp_path, real_delays):
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    monkeypatch.setenv(dl.MIRROR_VARIABLE, str(mirror))
    message, elapsed = timed(prepare_indir, files(), args(tmp_path / 'in'))
    assert elapsed < 0.9
    assert 'No such file or directory' in message and str(mirror / 'data.bin') in message


@pytest.mark.parametrize('status', [400, 401, 403, 404, 410, 501])
def test_client_errors_fail_fast(server, tmp_path, real_delays, status):
    server.files['data.bin'] = CONTENT
    server.status_always['data.bin'] = status
    message, elapsed = timed(prepare_indir, files(), args(tmp_path))
    assert elapsed < 0.9 and len(server.requests) == 1
    assert f'HTTP {status}' in message


@pytest.mark.parametrize('status', [408, 429, 500, 502, 503, 504, 507])
def test_server_errors_are_retried(server, tmp_path, status):
    server.files['data.bin'] = CONTENT
    server.status_first['data.bin'] = status
    prepare_indir(files(), args(tmp_path))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT
    assert len(server.requests) == 2


def test_connection_reset_is_retried(server, tmp_path):
    server.files['data.bin'] = CONTENT
    server.reset_first.add('data.bin')
    prepare_indir(files(), args(tmp_path))
    assert (tmp_path / 'data.bin').read_bytes() == CONTENT
    assert len(server.requests) == 2


@pytest.fixture
def tls_server(tmp_path):
    """The test server behind TLS, with a self-signed certificate that no
    client trusts."""
    openssl = shutil.which('openssl')
    if openssl is None:
        pytest.skip('openssl is needed to make a certificate')
    (tmp_path / 'tls').mkdir()
    key, cert = tmp_path / 'tls' / 'key.pem', tmp_path / 'tls' / 'cert.pem'
    made = subprocess.run([openssl, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                           '-keyout', str(key), '-out', str(cert), '-days', '2',
                           '-subj', '/CN=127.0.0.1'], capture_output=True)
    if made.returncode:
        pytest.skip('openssl could not make a certificate: ' + made.stderr.decode(errors='replace'))
    s = Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    s.httpd.socket = context.wrap_socket(s.httpd.socket, server_side=True)
    s.url = s.url.replace('http://', 'https://')
    yield s
    s.close()


def test_tls_certificate_error_fails_fast(tls_server, monkeypatch, tmp_path, real_delays):
    tls_server.files['data.bin'] = CONTENT
    monkeypatch.setenv(dl.MIRROR_VARIABLE, tls_server.url)
    message, elapsed = timed(prepare_indir, files(), args(tmp_path / 'in'))
    assert elapsed < 0.9 and tls_server.requests == []
    assert 'TLS certificate of host 127.0.0.1:' in message and 'cannot be verified' in message
    assert os.listdir(tmp_path / 'in') == []
