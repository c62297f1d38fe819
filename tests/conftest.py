"""Shared fixtures: small datasets made by the tests themselves."""
import os
import shutil
import signal
import tempfile

import numpy as np
import pytest

from datadings_like.writer import FileWriter

# Started in the background of a shell without job control (``cmd &``) or
# under some supervisors, the test run inherits SIGINT ignored, and so would
# every tool it starts: the Ctrl-C tests could not interrupt them. A tool
# started that way rightly keeps ignoring SIGINT; the tests need the usual
# terminal, so the disposition is reset here (children get the default).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def make_samples(n, prefix='s'):
    """Deterministic samples with bytes, ints, floats and numpy values."""
    return [
        {
            'key': f'{prefix}{i}',
            'image': bytes([i % 251]) * (i % 7 + 1),
            'label': i % 10,
            'value': i * 0.5,
            'array': np.arange(i % 4, dtype=np.int32),
        }
        for i in range(n)
    ]


def write_dataset(path, samples, **kwargs):
    """Write samples to path with a FileWriter; returns path."""
    kwargs.setdefault('disable', True)
    with FileWriter(path, **kwargs) as writer:
        for sample in samples:
            writer.write(sample)
    return path


@pytest.fixture
def dataset(tmp_path):
    """Path of a 100-sample dataset and its samples."""
    samples = make_samples(100)
    path = write_dataset(tmp_path / 'data.msgpack', samples)
    return path, samples


@pytest.fixture
def shm_root(monkeypatch):
    """A private directory in /dev/shm as the streams' shared memory
    (``DATADINGS_LIKE_SHM_DIR``, also passed on to tools the test starts), so
    that streams of other tests running at the same time stay out of it."""
    if not (os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK)):
        pytest.skip('no writable /dev/shm')
    root = tempfile.mkdtemp(prefix='test-shm-root-', dir='/dev/shm')
    monkeypatch.setenv('DATADINGS_LIKE_SHM_DIR', root)
    yield root
    shutil.rmtree(root, ignore_errors=True)
