"""Helpers for the shell tool tests: run a tool as a subprocess, make datasets."""
from collections import Counter
from pathlib import Path
import contextlib
import importlib
import io
import re
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from datadings_like.check import verify_dataset
from datadings_like.reader.msgpack import MsgpackReader
from datadings_like.tools.cli import run_main
from datadings_like.writer import FileWriter

_BAR = re.compile(r' \d+% \d\d:\d\d<')
SUFFIXES = ('', '.offsets', '.keys', '.key_hashes', '.filter', '.md5')


def _jpeg(width, height, color):
    from PIL import Image
    buf = io.BytesIO()
    Image.new('RGB', (width, height), color).save(buf, 'JPEG')
    return buf.getvalue()


class Helpers:
    """Namespace of helpers handed to tests by the ``cli`` fixture."""

    @staticmethod
    def run(tool, *args, timeout=60, **kwargs):
        """Run ``python -m datadings_like.commands.TOOL ARGS``."""
        return subprocess.run(
            [sys.executable, '-m', f'datadings_like.commands.{tool}', *map(str, args)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout, **kwargs,
        )

    @staticmethod
    def call(tool, *args):
        """
        Run a tool in this process (faster than a subprocess) the way its
        console script does; returns an object like ``subprocess.run``'s.
        """
        module = importlib.import_module(f'datadings_like.commands.{tool}')
        out, err = io.StringIO(), io.StringIO()
        status = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run_main(module.main, [str(a) for a in args], prog='datadings-' + tool.replace('_', '-'))
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return types.SimpleNamespace(returncode=status, stdout=out.getvalue(),
                                     stderr=err.getvalue())

    @staticmethod
    def run_patched(tool, args, code, timeout=60, **kwargs):
        """Run a tool's entry() in a subprocess after executing ``code``."""
        script = textwrap.dedent(code) + textwrap.dedent(f'''
            import sys
            from datadings_like.commands.{tool} import entry
            sys.argv = ['datadings-{tool}'] + {[str(a) for a in args]!r}
            entry()
        ''')
        return subprocess.run(
            [sys.executable, '-c', script],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout, **kwargs,
        )

    @staticmethod
    def samples(n, prefix='s', labels=5, jpeg=False):
        rng = np.random.default_rng(sum(map(ord, prefix)))
        images = [_jpeg(32, 24, (200, 10, 10)), _jpeg(16, 16, (10, 200, 10))] if jpeg else None
        out = []
        for i in range(n):
            sample = {
                'key': f'{prefix}{i:04d}',
                'image': images[i % 5 == 0] if jpeg else rng.bytes(int(rng.integers(1, 300))),
                'label': i % labels,
                'text': 'word ' * (i % 30),
                'array': rng.standard_normal((2, i % 3 + 1)).astype(np.float32),
                'meta': {'index': i, 'tags': ['a', 'b'][: i % 3], 'ratio': i / 7},
            }
            out.append(sample)
        return out

    @staticmethod
    def make(path, n=60, prefix='s', labels=5, jpeg=False):
        """Write a dataset of ``n`` samples to ``path``; returns the path."""
        path = Path(path)
        with FileWriter(path, disable=True) as writer:
            for sample in Helpers.samples(n, prefix, labels, jpeg):
                writer.write(sample)
        return path

    @staticmethod
    def raw(path):
        """List of (key, raw bytes) in file order."""
        with MsgpackReader(path) as reader:
            return [(k, bytes(v)) for k, v in reader.iter(raw=True, yield_key=True)]

    @staticmethod
    def keys(path):
        with MsgpackReader(path) as reader:
            return reader.keys()

    @staticmethod
    def multiset(path):
        return Counter(Helpers.raw(path))

    @staticmethod
    def verifies(path):
        problems = verify_dataset(path)
        assert problems == [], problems
        return True

    @staticmethod
    def user_error(result, status=(1,), words=()):
        """A user mistake: expected exit status, one line on stderr, no traceback."""
        statuses = status if isinstance(status, tuple) else (status,)
        assert result.returncode in statuses, (result.returncode, result.stderr)
        assert 'Traceback' not in result.stderr, result.stderr
        # progress bars of work done before the mistake showed are no message
        lines = [line for line in result.stderr.splitlines()
                 if line.strip() and not _BAR.search(line)]
        if result.returncode == 1:
            assert len(lines) == 1, result.stderr
        assert 'error' in lines[-1], result.stderr
        for word in words:
            assert word in lines[-1], result.stderr
        return lines[-1]

    @staticmethod
    def dataset_files(path):
        """Existing files of the dataset at ``path`` (data and sidecars)."""
        path = Path(path)
        return [path.with_name(path.name + s) for s in SUFFIXES
                if path.with_name(path.name + s).exists()]

    @staticmethod
    def temp_files(directory):
        return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith('.tmp')
                      or '.tmp.' in p.name or p.name.startswith('.'))


@pytest.fixture
def cli():
    return Helpers


@pytest.fixture
def data(tmp_path):
    """A 60-sample dataset in tmp_path."""
    return Helpers.make(tmp_path / 'data.msgpack', 60)
