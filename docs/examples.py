"""
Run the example sessions of the shell tool pages (``docs/tools/*.rst``)
and check, or rewrite, the output they show.

Every page's "Example session" is a ``console`` block of ``$ command``
lines, each followed by what it prints. The commands run one after the
other with ``bash`` in a fresh sandbox directory, on a pseudo-terminal 80
columns wide (so progress bars look as they do for a user), with what
:py:func:`make_sandbox` prepares: ``demo/`` (1000 train, 200 test samples),
``pics/``, ``old.msgpack`` with a legacy index,
``lost.msgpack`` without index, ``cut.msgpack`` (truncated),
``notes.txt`` and ``broken/`` (a damaged copy of ``demo/``). The page of
``datadings-write`` starts in an empty directory.

Timings and rates differ from run to run; :py:func:`normalize` replaces
them before outputs are compared.

Usage::

    python docs/examples.py           # check every page, list differences
    python docs/examples.py --update  # rewrite the outputs shown in the pages

``tests/test_docs.py`` runs the check.
"""
import argparse
import difflib
import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PAGES = sorted((DOCS / 'tools').glob('*.rst'))
#: pages whose session starts in an empty directory
EMPTY_START = {'write.rst'}
#: pages of tools that serve until they are stopped: no example session
NO_SESSION = {'explore.rst'}
COLUMNS = 80
TIMEOUT = 120

_BLOCK = re.compile(r'^Example session\n-+\n\n\.\. code-block:: console\n\n((?:   .*\n|\n)+)', re.M)
_USAGE = re.compile(r'^Usage\n-+\n\n\.\. code-block:: text\n\n((?:   .*\n|\n)+)', re.M)
_OPTIONS = re.compile(r'^From ``(\S+) --help``:\n\n\.\. code-block:: text\n\n((?:   .*\n|\n)+)', re.M)
_ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
_VOLATILE = [
    (re.compile(r'\d\d:\d\d(:\d\d)?(<(\d\d:\d\d(:\d\d)?|\?))?'), '<time>'),
    (re.compile(r'\d+(\.\d+)?\s?(it/s|s/it|[kMGT]?i?B/s|samples/s|images/s)'), '<rate>'),
    (re.compile(r'\d+(\.\d+)? seconds'), '<n> seconds'),
]


def tools_bin():
    """Directory of the ``datadings-*`` console scripts of this Python."""
    return os.path.dirname(shutil.which('datadings-cat') or sys.executable)


def _run(args, cwd):
    env = dict(os.environ, COLUMNS=str(COLUMNS), LC_ALL='C.UTF-8')
    env['PATH'] = tools_bin() + os.pathsep + env.get('PATH', '')
    subprocess.run(args, cwd=cwd, env=env, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT)


def make_sandbox(root):
    """
    Prepare the files the example sessions use in directory ``root``.

    Parameters:
        root: an empty directory
    """
    import io
    import msgpack
    from PIL import Image

    root = Path(root)
    _run(['datadings-write', 'demo', '--train', '1000', '--test', '200', '-q', '-y'], root)
    for i, (label, color) in enumerate([('cat', 'red'), ('dog', 'blue')] * 3):
        folder = root / 'pics' / label
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        Image.new('RGB', (32 + i, 24), color).save(buf, 'JPEG')
        (folder / f'{i}.jpg').write_bytes(buf.getvalue())
    (root / 'notes.txt').write_text('shopping list: milk, eggs\n')
    test = root / 'demo' / 'test.msgpack'
    shutil.copyfile(test, root / 'lost.msgpack')
    data = test.read_bytes()
    (root / 'cut.msgpack').write_bytes(data[:300000])
    # a dataset as datadings 2 wrote it: data file and legacy .index
    offsets = (root / 'demo' / 'test.msgpack.offsets').read_bytes()
    positions = [int.from_bytes(offsets[i:i + 8], 'big') for i in range(0, len(offsets) - 8, 8)]
    from datadings_like.reader import MsgpackReader
    with MsgpackReader(str(test)) as reader:
        keys = [reader.get(i)['key'] for i in range(len(reader))]
    shutil.copyfile(test, root / 'old.msgpack')
    (root / 'old.msgpack.index').write_bytes(msgpack.packb(dict(zip(keys, positions))))
    shutil.copytree(root / 'demo', root / 'broken')
    damaged = bytearray((root / 'broken' / 'test.msgpack').read_bytes())
    damaged[1000] ^= 0xFF
    (root / 'broken' / 'test.msgpack').write_bytes(bytes(damaged))


def parse_session(block):
    """
    Split the text of a console block into ``[(command, output), ...]``.
    """
    steps = []
    for line in block.splitlines():
        line = line[3:] if line.startswith('   ') else line.strip()
        if line.startswith('$ '):
            steps.append([line[2:], []])
        elif steps:
            steps[-1][1].append(line)
    return [(command, '\n'.join(lines).rstrip('\n')) for command, lines in steps]


def find_session(text):
    """The console block of a page's "Example session" section, or None."""
    match = _BLOCK.search(text)
    return match


def screen_text(raw):
    """
    What a terminal shows of raw pseudo-terminal output: the last frame of
    each carriage-return-overwritten line, without escape sequences.
    """
    raw = _ANSI.sub('', raw.replace('\r\n', '\n'))
    lines = [line.rsplit('\r', 1)[-1] for line in raw.split('\n')]
    return '\n'.join(line.rstrip() for line in lines).rstrip('\n')


def run_in_terminal(command, cwd):
    """
    Run one shell command on a pseudo-terminal (stdout and stderr) with no
    standard input.

    Returns:
        what the terminal shows (:py:func:`screen_text`)
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, COLUMNS, 0, 0))
    env = dict(os.environ, COLUMNS=str(COLUMNS), LINES='24', TERM='xterm', LC_ALL='C.UTF-8')
    env['PATH'] = tools_bin() + os.pathsep + env.get('PATH', '')
    env.pop('PYTHONWARNINGS', None)
    proc = subprocess.Popen(['bash', '--noprofile', '--norc', '-c', command], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], TIMEOUT)
            if not ready:
                proc.kill()
                raise TimeoutError(f'{command!r} did not finish in {TIMEOUT} s')
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        proc.wait()
    return screen_text(b''.join(chunks).decode('utf-8', 'replace'))


def _indented(text):
    return ''.join(f'   {line}\n' if line else '\n' for line in text.splitlines()) + '\n'


def _unindented(block):
    return '\n'.join(line[3:] for line in block.splitlines()).strip('\n')


def help_blocks(page):
    """
    The "Usage" and "Options" blocks of a tool page, documented and as
    ``TOOL --help`` prints them (80 columns).

    Returns:
        ``[(what, match, documented, actual), ...]`` where ``match`` is the
        regular expression match of the block's text in the page
    """
    text = page.read_text(encoding='utf-8')
    options = _OPTIONS.search(text)
    usage = _USAGE.search(text)
    if options is None or usage is None:
        return []
    tool = options.group(1)
    env = dict(os.environ, COLUMNS=str(COLUMNS))
    env['PATH'] = tools_bin() + os.pathsep + env.get('PATH', '')
    out = subprocess.run([tool, '--help'], capture_output=True, text=True, env=env,
                         stdin=subprocess.DEVNULL, timeout=TIMEOUT).stdout.rstrip('\n')
    actual_usage = out.split('\n\n', 1)[0]
    start = min(i for i in (out.find('positional arguments:'), out.find('options:')) if i >= 0)
    return [('usage', usage, _unindented(usage.group(1)), actual_usage),
            ('options', options, _unindented(options.group(2)), out[start:])]


def update_help(page):
    """Rewrite the page's "Usage" and "Options" blocks from ``--help``."""
    blocks = help_blocks(page)
    text = page.read_text(encoding='utf-8')
    group = {'usage': 1, 'options': 2}
    for what, match, _, actual in sorted(blocks, key=lambda b: -b[1].start()):
        g = group[what]
        text = text[:match.start(g)] + _indented(actual) + text[match.end(g):]
    page.write_text(text, encoding='utf-8')


def normalize(text):
    """Replace timings and rates, which differ between runs."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def run_page(page, sandbox):
    """
    Run a page's example session in a copy of ``sandbox``.

    Returns:
        ``[(command, documented output, actual output), ...]``; empty if
        the page has no example session
    """
    match = find_session(page.read_text(encoding='utf-8'))
    if match is None:
        return []
    with tempfile.TemporaryDirectory(prefix='example-') as tmp:
        cwd = Path(tmp) / 'session'
        if page.name in EMPTY_START:
            cwd.mkdir()
        else:
            shutil.copytree(sandbox, cwd, symlinks=True)
        return [(command, shown, run_in_terminal(command, cwd))
                for command, shown in parse_session(match.group(1))]


def differences(results):
    """Unified diffs of the commands whose normalized output differs."""
    out = []
    for command, shown, actual in results:
        if normalize(shown) != normalize(actual):
            out.append(f'$ {command}\n' + '\n'.join(difflib.unified_diff(
                shown.splitlines(), actual.splitlines(), 'documented', 'actual', lineterm='')))
    return out


def render_session(results):
    """The console block text for ``results``."""
    lines = []
    for command, _, actual in results:
        lines.append(f'$ {command}')
        lines.extend(actual.splitlines())
    return ''.join(f'   {line}\n' if line else '\n' for line in lines)


def update_page(page, results):
    """Rewrite the page's example session with the actual outputs."""
    text = page.read_text(encoding='utf-8')
    match = find_session(text)
    block = render_session(results) + '\n'
    page.write_text(text[:match.start(1)] + block + text[match.end(1):], encoding='utf-8')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--update', action='store_true', help='rewrite the pages')
    parser.add_argument('pages', nargs='*', help='page names (default: all)')
    args = parser.parse_args(argv)
    pages = [p for p in PAGES if not args.pages or p.stem in args.pages or p.name in args.pages]
    failed = 0
    with tempfile.TemporaryDirectory(prefix='examples-') as sandbox:
        make_sandbox(sandbox)
        for page in pages:
            results = run_page(page, sandbox)
            diffs = differences(results)
            helps = [f'{what} block:\n' + '\n'.join(difflib.unified_diff(
                shown.splitlines(), actual.splitlines(), 'documented', 'actual', lineterm=''))
                for what, _, shown, actual in help_blocks(page) if shown != actual]
            if args.update and helps:
                update_help(page)
            diffs += helps
            if args.update and diffs:
                if len(diffs) > len(helps):
                    update_page(page, results)
                print(f'{page.name}: updated')
            elif diffs:
                failed += 1
                print(f'{page.name}: differs\n' + '\n'.join(diffs))
            else:
                print(f'{page.name}: OK')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
