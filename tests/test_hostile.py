"""
Reading crafted and damaged datasets: no code runs, the interpreter never
crashes, and errors name the dataset file.

Cases that could crash the interpreter (object dtypes from raw bytes) or
random damage are first run in a subprocess, so a segfault shows up as a
failing test with its seed instead of a dead pytest.
"""
from pathlib import Path
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import warnings

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from datadings_like.errors import DatasetError
from datadings_like.msgpack import UnsafeDataError
from datadings_like.msgpack import packb
from datadings_like.reader import MsgpackReader
from datadings_like.reader import QuasiShuffler
from datadings_like.reader import Range
from datadings_like.reader import ShardedReader
from datadings_like.reader import Shuffler
from datadings_like.writer import RawWriter

READ_ERRORS = (DatasetError, UnsafeDataError)


# ------------------------------------------------------------ crafted samples

class MakeMarker:
    """Unpickling this creates a directory: proof that code from the file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def array_map(**fields):
    obj = {b'nd': True, b'type': '|u1', b'kind': b'', b'shape': [8], b'data': bytes(8)}
    for k, v in fields.items():
        obj[k.encode()] = v
    return obj


def raw(obj):
    return msgpack.packb(obj, use_bin_type=True)


def hostile_messages(marker):
    """name -> (message bytes, expected exception or None for 'returned as is')."""
    payload = pickle.dumps(MakeMarker(marker), protocol=2)
    return {
        'pickle': (raw({'key': 'bad', 'a': array_map(type=[['', '|O']], kind=b'O', shape=[1],
                                                      data=payload)}), UnsafeDataError),
        'pickle_nested': (raw({'key': 'bad', 'deep': [{'x': array_map(kind=b'O', data=payload)}]}),
                          UnsafeDataError),
        'object_dtype': (raw({'key': 'bad', 'a': array_map(type='|O', data=b'\x41' * 64,
                                                            shape=[8])}), UnsafeDataError),
        'object_dtype_kind_v': (raw({'key': 'bad', 'a': array_map(type='|O', kind=b'V',
                                                                   data=b'\x41' * 8, shape=[1])}),
                                UnsafeDataError),
        'struct_object_field': (raw({'key': 'bad', 'a': array_map(
            type=[['x', '<i4'], ['o', '|O']], kind=b'V', shape=[1], data=b'\x41' * 12)}),
            UnsafeDataError),
        'nested_struct_object': (raw({'key': 'bad', 'a': array_map(
            type=[['outer', [['inner', '|O']]]], kind=b'V', shape=[1], data=b'\x41' * 8)}),
            UnsafeDataError),
        'object_scalar': (raw({'key': 'bad', 's': {b'nd': False, b'type': '|O',
                                                   b'data': b'\x41' * 8}}), UnsafeDataError),
        'huge_shape': (raw({'key': 'bad', 'a': array_map(type='<u8', shape=[2 ** 40])}),
                       READ_ERRORS),
        'huge_shape_2d': (raw({'key': 'bad', 'a': array_map(shape=[2 ** 32, 2 ** 32])}),
                          READ_ERRORS),
        'shape_smaller_than_data': (raw({'key': 'bad', 'a': array_map(shape=[4])}), READ_ERRORS),
        'negative_shape': (raw({'key': 'bad', 'a': array_map(shape=[-8])}), READ_ERRORS),
        'bad_dtype': (raw({'key': 'bad', 'a': array_map(type='not a dtype')}), READ_ERRORS),
        'scalar_wrong_size': (raw({'key': 'bad', 's': {b'nd': False, b'type': '<f8',
                                                       b'data': b'1234'}}), READ_ERRORS),
        'bad_complex': (raw({'key': 'bad', 'z': {b'complex': True, b'data': b'\xff'}}),
                        READ_ERRORS),
        'truncated': (packb({'key': 'bad', 'a': np.arange(10)})[:-3], READ_ERRORS),
        'extra_bytes': (packb({'key': 'bad'}) + b'\xc0', READ_ERRORS),
        'two_messages': (packb({'key': 'bad'}) + packb({'key': 'bad2'}), READ_ERRORS),
        'reserved_byte': (b'\xc1', READ_ERRORS),
        'deep_nesting': (b'\x91' * 100000 + b'\xc0', READ_ERRORS),
        'huge_array_header': (b'\xdd\xff\xff\xff\xff', READ_ERRORS),
        'huge_bin_header': (b'\x81\xa1a\xc6\xff\xff\xff\xff', READ_ERRORS),
        'bad_utf8': (b'\x81\xa3key\xa2\xff\xfe', READ_ERRORS),
        'not_a_map': (raw([1, 2, 3]), None),
        'not_a_map_str': (raw('just a string'), None),
        'nil': (b'\xc0', None),
    }


CASE_NAMES = sorted(hostile_messages('unused'))
SECURITY_CASES = {'pickle', 'pickle_nested', 'object_dtype', 'object_dtype_kind_v',
                  'struct_object_field', 'nested_struct_object', 'object_scalar'}


def write_dataset(path, bad_message):
    """Three samples: good, the crafted one, good."""
    with RawWriter(path, overwrite=True, disable=True) as writer:
        writer.write('ok0', packb({'key': 'ok0', 'a': np.arange(3)}))
        writer.write('bad', bad_message)
        writer.write('ok2', packb({'key': 'ok2', 'a': np.arange(4)}))
    return path


def build_all(directory):
    directory = Path(directory)
    marker = directory / 'MARKER'
    paths = {}
    for name, (message, _) in hostile_messages(marker).items():
        paths[name] = write_dataset(directory / f'{name}.msgpack', message)
    return marker, paths


ACCESS = {
    'get': lambda r: r.get(1),
    'get_nocopy': lambda r: r.get(1, copy=False),
    'get_key': lambda r: r.get(1, yield_key=True),
    'getitem': lambda r: r[1],
    'getitem_negative': lambda r: r[-2],
    'next': lambda r: (r.seek(1), r.next()),
    'for_loop': lambda r: [s for s in r],
    'iter': lambda r: list(r.iter(start=0)),
    'iter_raw_false': lambda r: list(r.iter(start=0, raw=False)),
    'iter_keys_nocopy': lambda r: list(r.iter(yield_key=True, copy=False, chunk_size=1)),
    'iter_from_bad': lambda r: list(r.iter(start=1, stop=2)),
    'slice': lambda r: list(r.slice(0, 3)),
    'slice_only_bad': lambda r: list(r.slice(1, 2, yield_key=True)),
    'getitem_slice': lambda r: r[0:3],
    'getitem_step': lambda r: r[1::5],
    'shuffler': lambda r: list(Shuffler(r, seed=0)),
    'quasi_shuffler': lambda r: list(QuasiShuffler(r, buf_size=2, chunk_size=1, seed=3)),
    'range': lambda r: list(Range(r, 1, 3)),
    'sharded': lambda r: list(ShardedReader([r.path, r.path])),
    'sharded_get': lambda r: ShardedReader([r.path]).get(1),
    'sharded_slice': lambda r: list(ShardedReader([r.path]).slice(1, 2)),
}

def access_params():
    for name in sorted(ACCESS):
        yield pytest.param(name, id=name)


def case_access_params():
    for case in CASE_NAMES:
        if hostile_messages('x')[case][1] is None:
            continue
        for access in access_params():
            name = access.values[0]
            yield pytest.param(case, name, id=f'{case}-{name}')


# ------------------------------------------------------------ crash guard

HELPER = r'''
import json
import os
import random
import sys
import tempfile
import warnings
from pathlib import Path

import msgpack
import numpy as np

from datadings_like.errors import DatasetError
from datadings_like.index import SUFFIX_FILTER
from datadings_like.msgpack import DecodeError
from datadings_like.msgpack import UnsafeDataError
from datadings_like.msgpack import packb
from datadings_like.reader import MsgpackReader
from datadings_like.writer import FileWriter

SUFFIXES = ('', '.offsets', '.keys', '.key_hashes')
FUZZ_ALLOWED = (DatasetError, UnsafeDataError, DecodeError, FileNotFoundError, IndexError,
                KeyError)


def make_dataset(path):
    rng = np.random.default_rng(0)
    with FileWriter(path, overwrite=True, disable=True) as writer:
        for i in range(12):
            writer.write({
                'key': f'sample-{i}',
                'image': rng.integers(0, 255, (4, 5, 3), dtype=np.uint8),
                'f': rng.random(3).astype('<f4'),
                's': np.array([(1, 2.5, b'ab')],
                              dtype=[('a', '<i4'), ('b', '>f8'), ('c', 'S2')]),
                'label': i, 'scalar': np.float32(i), 'z': complex(i, 1),
                'text': 'x' * i, 'raw': bytes(range(i)),
                'nested': {'l': [1, 2, {'d': None}], 'u': np.array(['ä', 'bc'])},
            })


def damage(data, rng):
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(('flip', 'flip', 'flip', 'truncate', 'insert', 'overwrite', 'delete'))
        n = len(data)
        if op == 'flip' and n:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(n)] ^= rng.randint(1, 255)
        elif op == 'truncate':
            del data[rng.randint(0, n):]
        elif op == 'insert':
            pos = rng.randint(0, n)
            data[pos:pos] = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 16)))
        elif op == 'overwrite' and n:
            a = rng.randrange(n)
            b = min(n, a + rng.randint(1, 32))
            data[a:b] = bytes(rng.randint(0, 255) for _ in range(b - a))
        elif op == 'delete' and n:
            a = rng.randrange(n)
            del data[a:a + rng.randint(1, 16)]
    return bytes(data)


def _packed(samples):
    try:
        return [packb(s) for s in samples]
    except Exception as exc:  # something decoded that cannot be packed again
        return ['unpackable', repr(exc)]


def exercise(path):
    """
    Open and read everything; yield (step, exception) for each failing step.
    Reads that succeed must agree with each other: every way of reading
    gives all len(reader) samples, and the same ones.
    """
    try:
        reader = MsgpackReader(path)
    except Exception as exc:
        yield 'open', exc
        return
    n = len(reader)
    results = {}
    steps = [
        ('iter', lambda: list(reader.iter(start=0)) if n else []),
        ('iter_chunked', lambda: list(reader.iter(start=0, chunk_size=1, copy=False))
         if n else []),
        ('get', lambda: [reader.get(i) for i in range(n)]),
        ('slice', lambda: list(reader.slice(0, n))),
        ('slices', lambda: [s for i in range(n) for s in reader.slice(i, i + 1)]),
        ('getitem', lambda: reader[0:n]),
        ('next', lambda: [reader.seek(0), [reader.next() for _ in range(n)]][1] if n else []),
        ('iter_raw', lambda: list(reader.iter(start=0, raw=True)) if n else []),
        ('iter_keys', lambda: list(reader.iter(start=0, yield_key=True, copy=False,
                                               chunk_size=3)) if n else []),
        ('get_key', lambda: [reader.get(i, yield_key=True, copy=False) for i in range(n)]),
        ('keys', lambda: reader.keys()),
        ('find_key', lambda: [reader.find_key(i) for i in range(n)]),
        ('find_index', lambda: [reader.find_index(f'sample-{i}') for i in range(12)]),
        ('contains', lambda: [f'sample-{i}' in reader for i in range(12)] + ['nope' in reader]),
    ]
    for name, step in steps:
        try:
            results[name] = step()
        except Exception as exc:
            yield name, exc
    decoded = {k: _packed(v) for k, v in results.items()
               if k in ('iter', 'iter_chunked', 'get', 'slice', 'slices', 'getitem', 'next')}
    for name, packed in decoded.items():
        if len(packed) != n:
            yield name, AssertionError(f'{name} gave {len(packed)} of {n} samples, no error')
        elif 'get' in decoded and packed != decoded['get']:
            yield name, AssertionError(f'{name} and get disagree')
    if 'iter_raw' in results and len(results['iter_raw']) != n:
        yield 'iter_raw', AssertionError('iter(raw=True) lost samples')
    reader.close()


def legacy_index(path):
    keys = msgpack.unpackb(Path(str(path) + '.keys').read_bytes())
    offsets = np.frombuffer(Path(str(path) + '.offsets').read_bytes(), dtype='>u8').tolist()
    return msgpack.packb({k: o for k, o in zip(keys, offsets)})


def fuzz(workdir, first_seed, count):
    # a RAM disk if there is one: rewriting files on some disks costs ms each
    if os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK):
        with tempfile.TemporaryDirectory(dir='/dev/shm', prefix='hostile-fuzz-') as tmp:
            return _fuzz(Path(tmp), first_seed, count)
    return _fuzz(Path(workdir), first_seed, count)


def _fuzz(workdir, first_seed, count):
    original = workdir / 'orig' / 'data.msgpack'
    original.parent.mkdir(parents=True, exist_ok=True)
    make_dataset(original)
    files = {suffix: Path(str(original) + suffix).read_bytes()
             for suffix in SUFFIXES + (SUFFIX_FILTER, '.md5')}
    legacy_files = {'': files[''], '.index': legacy_index(original)}
    # files are overwritten in place for every copy: unlinking is slow on
    # some file systems
    (workdir / 'new').mkdir()
    (workdir / 'legacy').mkdir()
    problems = []
    outcomes = {}
    warnings.simplefilter('ignore')
    for seed in range(first_seed, first_seed + count):
        print('seed', seed, file=sys.stderr, flush=True)
        rng = random.Random(seed)
        legacy = rng.random() < 0.2
        if legacy:
            contents = dict(legacy_files)
            targets = rng.sample(('', '.index'), rng.choice((1, 1, 2)))
            path = workdir / 'legacy' / 'data.msgpack'
        else:
            contents = dict(files)
            targets = rng.sample(SUFFIXES, rng.choice((1, 1, 1, 2)))
            path = workdir / 'new' / 'data.msgpack'
        for suffix in targets:
            contents[suffix] = damage(contents[suffix], rng)
        if not legacy and '' in targets and rng.random() < 0.5:
            # keep the offsets consistent with the new data size, so that
            # the damaged samples are actually decoded
            offsets = bytearray(contents['.offsets'])
            if len(offsets) >= 16:
                offsets[-8:] = len(contents['']).to_bytes(8, 'big')
                contents['.offsets'] = bytes(offsets)
        for suffix, content in contents.items():
            with open(str(path) + suffix, 'wb') as f:
                f.write(content)
        failures = list(exercise(path))
        outcome = 'clean' if not failures else 'failed'
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for step, exc in failures:
            name = type(exc).__name__
            outcomes[name] = outcomes.get(name, 0) + 1
            ok = isinstance(exc, FUZZ_ALLOWED)
            if ok and isinstance(exc, DatasetError) and str(path) not in str(exc):
                ok = False
            if not ok:
                problems.append(dict(seed=seed, legacy=legacy, targets=targets, step=step,
                                     type=name, message=str(exc)[:300]))
    return dict(problems=problems, outcomes=outcomes)


def hostile(workdir):
    """Read every crafted dataset every way; report what happened."""
    sys.path.insert(0, sys.argv[2])
    import test_hostile as th
    marker, paths = th.build_all(workdir)
    results = {}
    for name, path in sorted(paths.items()):
        for access, fn in sorted(th.ACCESS.items()):
            print('case', name, access, file=sys.stderr, flush=True)
            try:
                fn(MsgpackReader(path))
                results[f'{name}/{access}'] = 'ok'
            except Exception as exc:
                results[f'{name}/{access}'] = type(exc).__name__
    return dict(results=results, marker=marker.exists())


if __name__ == '__main__':
    if sys.argv[1] == 'fuzz':
        out = fuzz(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        out = hostile(sys.argv[3])
    print(json.dumps(out))
'''


def run_helper(tmp_dir, *args, timeout=120):
    tmp_dir = Path(tmp_dir)
    helper = tmp_dir / 'hostile_helper.py'
    helper.write_text(HELPER, encoding='utf-8')
    result = subprocess.run(
        [sys.executable, str(helper), args[0], str(Path(__file__).parent), *map(str, args[1:])],
        capture_output=True, text=True, timeout=timeout, cwd=str(tmp_dir),
    )
    last = [line for line in result.stderr.splitlines() if line.startswith(('seed ', 'case '))]
    assert result.returncode == 0, (
        f'helper died with status {result.returncode} '
        f'(negative: killed by signal, e.g. -11 = segfault) at {last[-1:]}; '
        f'stderr tail:\n{result.stderr[-3000:]}'
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def crafted(tmp_path_factory):
    """Crafted datasets, after a subprocess has read all of them without crashing."""
    guard_dir = tmp_path_factory.mktemp('guard')
    report = run_helper(guard_dir, 'hostile', guard_dir)
    assert report['marker'] is False, 'reading a crafted dataset ran code from it'
    directory = tmp_path_factory.mktemp('crafted')
    marker, paths = build_all(directory)
    return marker, paths


def test_crafted_datasets_do_not_crash_a_subprocess(crafted):
    # the fixture ran every case in a subprocess; here only the summary
    marker, paths = crafted
    assert set(paths) == set(CASE_NAMES)
    assert not marker.exists()


# ------------------------------------------------------------ crafted: in process

@pytest.mark.parametrize('case,access', list(case_access_params()))
def test_crafted_sample_raises_error_naming_file(crafted, case, access):
    marker, paths = crafted
    path = paths[case]
    expected = hostile_messages(marker)[case][1]
    with MsgpackReader(path) as reader:
        with pytest.raises(expected) as info:
            ACCESS[access](reader)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize('access', sorted(ACCESS))
@pytest.mark.parametrize('case', sorted(SECURITY_CASES))
def test_crafted_security_case_never_runs_code(crafted, case, access):
    # whatever the message says: it is a ValueError and nothing ran
    marker, paths = crafted
    with MsgpackReader(paths[case]) as reader:
        with pytest.raises(UnsafeDataError):
            ACCESS[access](reader)
    assert not marker.exists()


@pytest.mark.parametrize('access', sorted(ACCESS))
@pytest.mark.parametrize('case', ['not_a_map', 'not_a_map_str', 'nil'])
def test_non_map_sample_is_returned_as_is(crafted, case, access):
    marker, paths = crafted
    expected = msgpack.unpackb(hostile_messages(marker)[case][0])
    with MsgpackReader(paths[case]) as reader:
        result = ACCESS[access](reader)
    flat = repr(result)
    assert repr(expected) in flat


@pytest.mark.parametrize('case', CASE_NAMES)
def test_raw_access_returns_the_crafted_bytes(crafted, case):
    marker, paths = crafted
    message = hostile_messages(marker)[case][0]
    with MsgpackReader(paths[case]) as reader:
        assert reader.get(1, raw=True) == message
        assert bytes(reader.get(1, raw=True, copy=False)) == message
        assert list(reader.iter(start=0, raw=True))[1] == message
        assert list(reader.rawiter())[1] == message
        assert list(reader.slice(1, 2, raw=True)) == [message]
        assert sorted(bytes(s) for s in Shuffler(reader, seed=1).iter(raw=True)) == sorted(
            [message, reader.get(0, raw=True), reader.get(2, raw=True)])
        # the good samples around it still read fine
        assert reader.get(0)['key'] == 'ok0'
        assert reader.get(2)['key'] == 'ok2'
        assert reader.keys() == ['ok0', 'bad', 'ok2']
        assert 'bad' in reader and reader.find_index('bad') == 1
    assert not marker.exists()


def test_iteration_continues_after_error(crafted):
    marker, paths = crafted
    with MsgpackReader(paths['pickle']) as reader:
        it = reader.iter(start=0)
        assert next(it)['key'] == 'ok0'
        with pytest.raises(UnsafeDataError):
            next(it)
        # a new iteration from after the bad sample works
        assert [s['key'] for s in reader.iter(start=2)] == ['ok2']
    assert not marker.exists()


INCOMPLETE_MESSAGES = {
    'bin32_header': b'\x81\xa1a\xc6\xff\xff\xff\xff',
    'map_missing_pair': b'\x82\xa3key\xa3bad',
    'array_missing_items': b'\x93\x01',
    'str8_header': b'\x81\xa1a\xd9\x20',
    'map_header_only': b'\x81',
    'ext_header': b'\xd4',
    'nested': b'\x81\xa1a\x81\xa1b\x92',
    'truncated_sample': packb({'key': 'k4', 'a': np.arange(10)})[:-3],
}


@pytest.mark.parametrize('name', sorted(INCOMPLETE_MESSAGES))
def test_incomplete_last_sample_is_not_dropped(tmp_path, name):
    """A damaged last sample must give an error, never a shorter dataset."""
    path = tmp_path / 'd.msgpack'
    with RawWriter(path, disable=True) as writer:
        for i in range(4):
            writer.write(f'k{i}', packb({'key': f'k{i}'}))
        writer.write('k4', INCOMPLETE_MESSAGES[name])
    reader = MsgpackReader(path)
    assert len(reader) == 5
    with pytest.raises(DatasetError) as info:
        reader.get(4)
    assert str(path) in str(info.value)
    for read in (lambda: list(reader), lambda: list(reader.iter(start=0)),
                 lambda: list(reader.slice(0, 5)), lambda: reader[:],
                 lambda: list(Range(reader, 2))):
        with pytest.raises(DatasetError) as info:
            read()
        assert str(path) in str(info.value)


def test_sample_running_into_the_next_is_not_merged(tmp_path):
    path = tmp_path / 'd.msgpack'
    with RawWriter(path, disable=True) as writer:
        writer.write('a', packb({'key': 'a'}))
        writer.write('b', b'\x82\xa3key\xa1b\xa1x')  # map of 2 pairs, last value missing
        writer.write('c', packb({'key': 'c'}))
        writer.write('d', packb({'key': 'd'}))
    reader = MsgpackReader(path)
    assert len(reader) == 4
    with pytest.raises(DatasetError):
        reader.get(1)
    assert reader.get(2) == {'key': 'c'}
    for read in (lambda: list(reader), lambda: list(reader.slice(0, 4)), lambda: reader[:]):
        with pytest.raises(DatasetError) as info:
            read()
        assert str(path) in str(info.value)


# ------------------------------------------------------------ pickle through every reader

def test_pickle_through_sharded_reader(crafted):
    marker, paths = crafted
    good = paths['not_a_map']  # any other shard
    sharded = ShardedReader([good, paths['pickle'], good])
    with pytest.raises(UnsafeDataError) as info:
        list(sharded)
    assert str(paths['pickle']) in str(info.value)
    with pytest.raises(UnsafeDataError):
        sharded.get(4)
    with pytest.raises(UnsafeDataError):
        list(sharded.slice(3, 6))
    with pytest.raises(UnsafeDataError):
        list(Shuffler(sharded, seed=0))
    with pytest.raises(UnsafeDataError):
        list(QuasiShuffler(sharded, buf_size=3, chunk_size=2, seed=0))
    with pytest.raises(UnsafeDataError):
        list(Range(sharded, 3, 6))
    # the glob form opens the shards itself
    with pytest.raises(UnsafeDataError):
        list(ShardedReader(str(paths['pickle'].parent / 'pickle*.msgpack')))
    assert not marker.exists()


def test_pickle_through_range(crafted):
    marker, paths = crafted
    reader = MsgpackReader(paths['pickle'])
    assert [s['key'] for s in Range(reader, 0, 1)] == ['ok0']
    assert [s['key'] for s in Range(reader, 2)] == ['ok2']
    for r in (Range(reader, 1, 2), Range(reader, 0), Range(reader, -2)):
        with pytest.raises(UnsafeDataError) as info:
            list(r)
        assert str(paths['pickle']) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize('augment', [
    pytest.param(lambda r: QuasiShuffler(r, buf_size=1, chunk_size=1, seed=0), id='quasi-1'),
    pytest.param(lambda r: QuasiShuffler(r, seed=5), id='quasi-default'),
    pytest.param(lambda r: Shuffler(r, seed=7), id='shuffler'),
])
def test_pickle_through_shufflers_runs_no_code(crafted, augment):
    marker, paths = crafted
    reader = MsgpackReader(paths['pickle'])
    with pytest.raises(UnsafeDataError):
        list(augment(reader))
    with pytest.raises(UnsafeDataError):
        list(augment(reader).iter(yield_key=True))
    assert not marker.exists()


@pytest.mark.parametrize('augment', [
    pytest.param(lambda r: QuasiShuffler(r, buf_size=1, chunk_size=1, seed=0), id='quasi'),
    pytest.param(lambda r: Shuffler(r, seed=7), id='shuffler'),
])
def test_pickle_through_shufflers_names_file(crafted, augment):
    marker, paths = crafted
    reader = MsgpackReader(paths['pickle'])
    with pytest.raises(UnsafeDataError) as info:
        list(augment(reader))
    assert str(paths['pickle']) in str(info.value)


def test_allow_pickle_is_an_explicit_opt_in(tmp_path):
    marker = tmp_path / 'MARKER'
    message = hostile_messages(marker)['pickle'][0]
    path = write_dataset(tmp_path / 'trusted.msgpack', message)
    with pytest.raises(UnsafeDataError):
        MsgpackReader(path).get(1)
    assert not marker.exists()
    MsgpackReader(path, allow_pickle=True).get(1)
    assert marker.exists()


def test_object_array_with_allow_pickle_round_trip(tmp_path):
    a = np.array([1, 'two', None], dtype=object)
    path = write_dataset(tmp_path / 'obj.msgpack', packb({'key': 'bad', 'a': a}))
    with pytest.raises(UnsafeDataError):
        MsgpackReader(path).get(1)
    assert MsgpackReader(path, allow_pickle=True).get(1)['a'].tolist() == [1, 'two', None]


def test_pickle_in_legacy_dataset(tmp_path):
    marker = tmp_path / 'MARKER'
    messages = [packb({'key': 'ok0'}), hostile_messages(marker)['pickle'][0],
                packb({'key': 'ok2'})]
    path = tmp_path / 'legacy.msgpack'
    path.write_bytes(b''.join(messages))
    starts = np.cumsum([0] + [len(m) for m in messages[:-1]]).tolist()
    (tmp_path / 'legacy.msgpack.index').write_bytes(
        msgpack.packb(dict(zip(['ok0', 'bad', 'ok2'], starts))))
    reader = MsgpackReader(path)
    assert len(reader) == 3
    assert reader.get(0)['key'] == 'ok0'
    for fn in (lambda: reader.get(1), lambda: list(reader), lambda: list(reader.slice(0, 3))):
        with pytest.raises(UnsafeDataError) as info:
            fn()
        assert str(path) in str(info.value)
    assert not marker.exists()


# ------------------------------------------------------------ random damage

FUZZ_SEEDS = 800


@pytest.fixture(scope='module')
def fuzz_report(tmp_path_factory):
    directory = tmp_path_factory.mktemp('fuzz')
    return run_helper(directory, 'fuzz', directory, 0, FUZZ_SEEDS)


def test_random_damage_fuzz_in_subprocess(fuzz_report):
    """No crash (checked by run_helper), only allowed exceptions, DatasetError
    messages name the dataset file."""
    problems = [p for p in fuzz_report['problems'] if p['type'] != 'AssertionError']
    assert problems == [], json.dumps(problems[:10], indent=1)
    outcomes = fuzz_report['outcomes']
    # the damage must actually reach the reader: some copies fail, some read
    assert outcomes.get('failed', 0) > FUZZ_SEEDS // 4
    assert outcomes.get('clean', 0) > 0
    assert outcomes.get('DatasetError', 0) > 0


def test_random_damage_reads_agree(fuzz_report):
    """Every successful way of reading gives all samples, and the same ones."""
    problems = [p for p in fuzz_report['problems'] if p['type'] == 'AssertionError']
    assert problems == [], json.dumps(problems[:10], indent=1)


# ------------------------------------------------------------ hypothesis

def _check_read_all(path, known_keys=None):
    """Read everything; allow success or an error naming the file."""
    try:
        reader = MsgpackReader(path)
    except READ_ERRORS as exc:
        assert str(path) in str(exc)
        return
    n = len(reader)
    steps = [
        lambda: [reader.get(i) for i in range(n)],
        lambda: list(reader.iter(start=0)) if n else [],
        lambda: list(reader.slice(0, n)),
        lambda: list(reader.iter(start=0, raw=True)) if n else [],
        lambda: list(Range(reader, 0)) if n else [],
    ]
    for step in steps:
        try:
            step()
        except READ_ERRORS as exc:
            assert str(path) in str(exc), repr(exc)
    reader.close()


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
    """
    A function that gives a new empty directory for each hypothesis example
    (module scoped: hypothesis runs many examples per test call).
    On a RAM disk if there is one; everything is removed afterwards.
    """
    if os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK):
        base = tempfile.TemporaryDirectory(dir='/dev/shm', prefix='hostile-hypothesis-')
        root = Path(base.name)
    else:
        base = None
        root = tmp_path_factory.mktemp('hypothesis')
    made = []

    def new_dir():
        while made:
            shutil.rmtree(made.pop(), ignore_errors=True)
        directory = Path(tempfile.mkdtemp(dir=root))
        made.append(directory)
        return directory
    yield new_dir
    for directory in made:
        shutil.rmtree(directory, ignore_errors=True)
    if base is not None:
        base.cleanup()


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(message=st.binary(max_size=200))
def test_hypothesis_binary_sample(scratch, message):
    path = scratch() / 'd.msgpack'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with RawWriter(path, disable=True) as writer:
            writer.write('ok', packb({'key': 'ok'}))
            writer.write('fuzz', message)
    _check_read_all(path)


_msgpackish = st.one_of(
    st.binary(max_size=120),
    st.lists(st.sampled_from([
        b'\x81', b'\x82', b'\x85', b'\x91', b'\x93', b'\xc4\x02nd', b'\xc3', b'\xc2',
        b'\xc4\x04type', b'\xc4\x04kind', b'\xc4\x01O', b'\xc4\x00', b'\xc4\x05shape',
        b'\xc4\x04data', b'\xa2|O', b'\xa3<f8', b'\xa3key', b'\xcf\xff\xff\xff\xff\xff\xff\xff\xff',
        b'\xc4\x08' + bytes(8), b'\x91\xce\xff\xff\xff\xff', b'\xc4\x07complex', b'\xa1(',
    ]), max_size=25).map(b''.join),
)


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(message=_msgpackish)
def test_hypothesis_msgpackish_sample(scratch, message):
    path = scratch() / 'd.msgpack'
    with RawWriter(path, disable=True) as writer:
        writer.write('fuzz', message)
    _check_read_all(path)


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=6),
       legacy=st.booleans())
def test_hypothesis_binary_data_file(scratch, data, cuts, legacy):
    """A whole data file of random bytes, with a consistent index."""
    directory = scratch()
    path = directory / 'd.msgpack'
    path.write_bytes(data)
    starts = sorted({0} | {c for c in cuts if 0 < c < len(data)}) if data else []
    keys = [f'k{i}' for i in range(len(starts))]
    if legacy:
        (directory / 'd.msgpack.index').write_bytes(msgpack.packb(dict(zip(keys, starts))))
    else:
        from datadings_like.index import write_filter, write_key_hashes, write_keys
        from datadings_like.index import write_offsets
        write_offsets(starts + [len(data)], path)
        write_keys(keys, path)
        write_key_hashes(keys, path)
        write_filter(keys, path)
    _check_read_all(path)
    if not legacy:
        with MsgpackReader(path) as reader:
            assert reader.keys() == keys
            for i, k in enumerate(keys):
                assert reader.find_index(k) == i and k in reader
