"""
Progress bars (``make_printer``) on terminals and elsewhere: where stderr is
a log file or a pipe, no ``\\r`` frames, just a line now and then; no
finished bar above the output of datadings-info.
"""
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
import io
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from tqdm import tqdm

import datadings_like.tools as tools
from datadings_like.tools import ProgressPrinter
from datadings_like.tools import make_printer
from datadings_like.tools import print_over
from datadings_like.writer import FileWriter

CONTROL = ('\r', '\x1b')


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


class Clock:
    """Stands in for the ``time`` module of ``datadings_like.tools``."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def _run_bar(stream, n=1000, **kwargs):
    with make_printer(total=n, desc='job', file=stream, mininterval=0, **kwargs) as printer:
        for _ in range(n):
            printer.update(1)
    return stream.getvalue()


def _assert_plain(text):
    for char in CONTROL:
        assert char not in text, repr(text)
    assert text == '' or text.endswith('\n'), repr(text)


# ------------------------------------------------------------ in process

def test_no_terminal_one_final_line():
    text = _run_bar(io.StringIO())
    _assert_plain(text)
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith('job 100% '), lines


def test_no_terminal_leave_false_writes_nothing():
    assert _run_bar(io.StringIO(), leave=False) == ''


def test_no_terminal_a_line_now_and_then(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(tools, 'time', clock)
    monkeypatch.setattr(ProgressPrinter, 'plain_interval', 60.0)
    stream = io.StringIO()
    with make_printer(total=400, desc='slow', file=stream, mininterval=0) as printer:
        for i in range(400):
            clock.now += 1.0  # one update a second: 400 seconds in all
            printer.update(1)
    text = stream.getvalue()
    _assert_plain(text)
    lines = text.splitlines()
    # a line after each 60 seconds (6 in 400 seconds) and the final one
    assert len(lines) == 7, lines
    assert all(line.startswith('slow ') for line in lines)
    assert lines[-1].startswith('slow 100% ') and not lines[-2].startswith('slow 100% ')


def test_no_terminal_without_total_and_bytes():
    stream = io.StringIO()
    with make_printer(desc='count', file=stream, unit='B', unit_scale=True) as printer:
        printer.update(5 << 20)
    text = stream.getvalue()
    _assert_plain(text)
    assert text.startswith('count 5.24M ') and text.count('\n') == 1, repr(text)


def test_no_terminal_clear_write_and_nested_bars():
    stream = io.StringIO()
    outer = make_printer(total=2, desc='outer', file=stream, mininterval=0)
    inner = make_printer(total=2, desc='inner', file=stream, mininterval=0)
    inner.update(2)
    tqdm.write('a message', file=stream)
    outer.clear()
    inner.close()
    outer.update(2)
    outer.close()
    text = stream.getvalue()
    _assert_plain(text)
    assert text.splitlines() == ['a message'] + [line for line in text.splitlines()[1:]]
    assert [line.split()[0] for line in text.splitlines()[1:]] == ['inner', 'outer']


def test_stderr_that_is_no_terminal(capsys):
    # the default output is sys.stderr (here: pytest's capture, no terminal)
    with make_printer(total=3, desc='on-stderr', mininterval=0) as printer:
        printer.update(3)
    err = capsys.readouterr().err
    _assert_plain(err)
    assert err.startswith('on-stderr 100% ')


def test_terminal_bar_redraws_in_place():
    text = _run_bar(Terminal(), n=3)
    assert text.startswith('\rjob   0% ') and '\rjob 100% ' in text and text.endswith('\n')
    # leave=False: the line is blanked and the cursor is back at its start
    text = _run_bar(Terminal(), n=3, leave=False)
    assert text.startswith('\rjob ') and text.endswith('\r')
    assert text.rstrip('\r').rsplit('\r', 1)[-1].strip() == ''


def test_transient_bars():
    stream = io.StringIO()
    with ProgressPrinter.transient():
        with ProgressPrinter.transient():
            assert make_printer(total=1, file=stream).leave is False
        bar = make_printer(total=1, file=stream)
        assert bar.leave is False
        bar.close()
        # an explicit leave wins
        assert make_printer(total=1, file=stream, leave=True, disable=True).leave is True
    assert make_printer(total=1, file=stream, disable=True).leave is True
    assert stream.getvalue() == ''


def test_disabled_and_closed_twice():
    stream = io.StringIO()
    bar = make_printer(total=3, file=stream, disable=True)
    bar.update(3)
    bar.close()
    bar = make_printer(total=3, file=stream, mininterval=0)
    bar.update(3)
    bar.close()
    bar.close()
    assert stream.getvalue().count('\n') == 1


def test_writer_bar_without_terminal(tmp_path, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, 'stderr', err)
    with FileWriter(tmp_path / 'a.msgpack', total=5000) as writer:
        for i in range(5000):
            writer.write({'key': str(i)})
    text = err.getvalue()
    _assert_plain(text)
    lines = text.splitlines()
    assert len(lines) == 2 and lines[0].startswith('a.msgpack 100% '), lines
    assert lines[1] == f'5000 samples written to {tmp_path / "a.msgpack"}'


def test_print_over():
    stream = io.StringIO()
    print_over('plain', file=stream)
    assert stream.getvalue() == 'plain\n'
    term = Terminal()
    print_over('over', file=term)
    assert term.getvalue() == '\r\x1b[Kover\n'


# ------------------------------------------------------------ shell tools

def _tool(name, *args, stderr=subprocess.PIPE, **kwargs):
    return subprocess.run(
        [sys.executable, '-m', f'datadings_like.commands.{name}', *map(str, args)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, timeout=120, **kwargs,
    )


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / 'data.msgpack'
    with FileWriter(path, disable=True) as writer:
        for i in range(3000):
            writer.write({'key': f'k{i:05d}', 'label': i % 3, 'data': bytes(i % 50)})
    return path


def test_tools_write_no_frames_into_logs(dataset, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    log = tmp_path / 'stderr.log'
    runs = [
        ('shuffle', '-y', dataset, out / 'shuffled.msgpack'),
        ('sample', '-y', dataset, out / 'sampled.msgpack', 100),
        ('split', '-y', dataset, 1000, '-o', out / 'a.msgpack', out / 'b.msgpack'),
        ('merge', '-y', out / 'a.msgpack', out / 'b.msgpack', out / 'merged.msgpack'),
        ('bench', dataset),
        ('verify', dataset),
        ('index', '-y', out / 'merged.msgpack'),
    ]
    for number, (name, *args) in enumerate(runs):
        # stderr into a log file (and, for a few, into a pipe)
        with open(log, 'wb') as f:
            result = _tool(name, *args, stderr=f)
        assert result.returncode == 0, (name, log.read_text())
        texts = [log.read_text()]
        if number < 2:
            piped = _tool(name, *args)
            assert piped.returncode == 0, (name, piped.stderr)
            texts.append(piped.stderr.decode())
        for text in texts:
            for char in CONTROL:
                assert char not in text, (name, text)
            if name != 'verify':
                assert '100%' in text, (name, text)  # the final line of the bar


def test_demo_writer_no_frames(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'datadings_like.sets.demo_write', '-y', '--train', '30',
         '--test', '10', '-o', str(tmp_path)],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
    )
    err = result.stderr.decode()  # not text=True: that would turn \r into \n
    assert result.returncode == 0, err
    for char in CONTROL:
        assert char not in err, err
    assert '30 samples written' in err


def test_download_bar_no_frames(tmp_path):
    content = bytes(range(256)) * 2048  # 512 KiB, written in 4 KiB chunks

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header('Content-Length', str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/file.bin'
        code = textwrap.dedent(f'''
            from datadings_like.tools.download import download
            download({url!r}, {str(tmp_path / 'file.bin')!r}, chunk_size=4096, retries=0)
        ''')
        result = subprocess.run([sys.executable, '-c', code], stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert (tmp_path / 'file.bin').read_bytes() == content
    for char in CONTROL:
        assert char not in err, err
    assert '512k/512k 100%' in err, err


# ------------------------------------------------------------ datadings-info

def test_info_output_has_no_bar_above_it(dataset, tmp_path):
    bare = tmp_path / 'bare.msgpack'
    bare.write_bytes(dataset.read_bytes())  # no index: the data file is scanned
    for path in (dataset, bare):
        # 2>&1: one stream, the result comes first and nothing else
        result = _tool('info', path, stderr=subprocess.STDOUT)
        assert result.returncode == 0, result.stdout
        text = result.stdout.decode()
        assert text.startswith(f'{path}\n  samples:  3000\n'), text
        for char in CONTROL:
            assert char not in text
        assert _tool('info', path).stderr == b''


def _screen(data):
    """The lines a terminal shows for ``data`` (carriage returns overwrite)."""
    lines = []
    for raw in data.replace('\r\n', '\n').split('\n'):
        line = []
        col = 0
        for part in raw.split('\r'):
            for i, char in enumerate(part):
                if col + i < len(line):
                    line[col + i] = char
                else:
                    line.append(char)
            col = 0
        lines.append(''.join(line).rstrip())
    return lines


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='needs a Linux pty')
def test_info_on_a_terminal_clears_its_bars(dataset, tmp_path):
    import fcntl
    import pty
    import struct
    import termios
    bare = tmp_path / 'bare.msgpack'
    bare.write_bytes(dataset.read_bytes())
    for path in (dataset, bare):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
        proc = subprocess.Popen(
            [sys.executable, '-m', 'datadings_like.commands.info', str(path)],
            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the tool closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        assert proc.wait(timeout=60) == 0
        data = b''.join(chunks).decode()
        assert f'\rinfo {path.name} ' in data  # a bar was shown on the terminal ...
        if path == bare:
            assert f'\rscan {path.name} ' in data
        screen = _screen(data)
        assert screen[0] == str(path), screen  # ... and is gone above the result
        assert screen[1] == '  samples:  3000', screen
