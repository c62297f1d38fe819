"""
Parity with datadings 3.4.7 for dataset writers: run the reference writer
on the same miniature sources and compare the samples by key.

A reference interpreter is named by an environment variable (``.ci/run``
creates each one in a throw-away venv); the tests that need it are skipped
without it:

- ``DATADINGS_REFERENCE_PYTHON``: ``datadings==3.4.7`` with today's packages;
- ``DATADINGS_REFERENCE_PYTHON_PILLOW9``: the same with ``pillow<10`` (the
  writers that need Pillow 9: ADE20k, CAT2000);
- ``DATADINGS_REFERENCE_PYTHON_OPENCV3``: the same with
  ``opencv-python-headless==3.4.18.65`` and ``numpy<2`` (Places2017).

Typical use::

    @pytest.mark.skipif(not reference_python(), reason=NO_REFERENCE)
    def test_same_as_datadings(tmp_path):
        run_reference_writer(reference_python(), 'VOC2012', ['-s', '-y', '-o', ref, indir])
        assert_same_samples(ours / 'train.msgpack', ref / 'train.msgpack',
                            images=('image', 'label_image'))
"""
import io
import os
import subprocess

import numpy as np

from datadings_like.reader import MsgpackReader

VARIABLES = {
    None: 'DATADINGS_REFERENCE_PYTHON',
    'pillow9': 'DATADINGS_REFERENCE_PYTHON_PILLOW9',
    'opencv3': 'DATADINGS_REFERENCE_PYTHON_OPENCV3',
}
NO_REFERENCE = 'set DATADINGS_REFERENCE_PYTHON (and _PILLOW9/_OPENCV3) to a python with datadings==3.4.7'


def reference_python(kind=None):
    """Path of the reference interpreter of this kind, or None."""
    return os.environ.get(VARIABLES[kind]) or None


def skip_reason(kind=None):
    """Why a parity test of this kind is skipped."""
    return f'set {VARIABLES[kind]} to a python with datadings==3.4.7 (see tests/sets/reference.py)'


def run_reference_writer(python, name, argv, timeout=600, cwd=None):
    """
    Run ``python -m datadings.sets.NAME_write ARGV`` with no standard input.

    Returns:
        the completed process (stdout, stderr as text)

    Raises:
        AssertionError: the writer failed (its stderr is in the message)
    """
    proc = subprocess.run(
        [python, '-m', f'datadings.sets.{name}_write', *map(str, argv)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, cwd=cwd)
    assert proc.returncode == 0, f'datadings 3.4.7 {name} writer failed:\n{proc.stderr[-3000:]}'
    return proc


def samples_by_key(path):
    """All samples of a dataset file as a dict ``key -> sample``."""
    with MsgpackReader(str(path)) as reader:
        samples = {sample['key']: sample for sample in reader}
        assert len(samples) == len(reader), f'{path}: duplicate keys'
    return samples


def decode_image(data):
    """Pixels of image bytes as a numpy array (mode kept)."""
    from PIL import Image
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def assert_same_value(ours, theirs, where, image=False):
    """
    Compare one field. ``image``: bytes on both sides are compared by
    decoded pixels (shape, dtype and values), not by encoding.
    """
    if image and isinstance(ours, (bytes, bytearray)) and isinstance(theirs, (bytes, bytearray)):
        a, b = decode_image(ours), decode_image(theirs)
        assert a.shape == b.shape, f'{where}: image shape {a.shape} != {b.shape}'
        assert np.array_equal(a, b), f'{where}: decoded pixels differ'
        return
    if isinstance(ours, np.ndarray) or isinstance(theirs, np.ndarray):
        a, b = np.asarray(ours), np.asarray(theirs)
        assert a.shape == b.shape, f'{where}: shape {a.shape} != {b.shape}'
        assert a.dtype == b.dtype, f'{where}: dtype {a.dtype} != {b.dtype}'
        assert np.array_equal(a, b), f'{where}: array values differ'
        return
    if isinstance(ours, dict) and isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), f'{where}: fields {sorted(ours)} != {sorted(theirs)}'
        for name in ours:
            assert_same_value(ours[name], theirs[name], f'{where}.{name}', image)
        return
    if isinstance(ours, (list, tuple)) and isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), f'{where}: length {len(ours)} != {len(theirs)}'
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_value(a, b, f'{where}[{i}]', image)
        return
    assert ours == theirs, f'{where}: {ours!r} != {theirs!r}'


def assert_same_samples(ours, theirs, images=('image',), ignore=(), expected=None):
    """
    Assert that two dataset files hold the same samples, compared by key:
    the same keys, the same fields, equal values; fields named in
    ``images`` are compared by decoded pixels; fields in ``ignore`` are
    not compared (a documented difference). ``expected``, a function
    ``(key, field, ours, theirs) -> bool``, may accept a documented
    difference of a value instead of comparing it.

    Returns:
        the number of samples compared (so a test can check it is not 0)
    """
    a, b = samples_by_key(ours), samples_by_key(theirs)
    assert sorted(a) == sorted(b), f'keys differ: only ours {sorted(set(a) - set(b))[:5]}, ' \
                                   f'only theirs {sorted(set(b) - set(a))[:5]}'
    for key in a:
        x, y = a[key], b[key]
        fields = sorted(set(x) - set(ignore))
        assert fields == sorted(set(y) - set(ignore)), f'{key}: fields {sorted(x)} != {sorted(y)}'
        for field in fields:
            if expected is not None and expected(key, field, x[field], y[field]):
                continue
            assert_same_value(x[field], y[field], f'{key}.{field}', image=field in images)
    return len(a)
